package cmdutil

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
)

// MaxVerbosity is the highest log verbosity the plugin runs at. From 8 on,
// client-go logs the bodies of requests and responses (and at 9 curl
// commands and response headers): Secrets with their values, the objects
// applied from git, and the values in their last-applied-configuration
// annotations. kubectl does log them; kubectl gitops caps -v at 7, where
// client-go logs each request's method, URL, status, timing and headers
// (with the Authorization header masked).
const MaxVerbosity = 7

// AddVerbosityFlag adds kubectl's -v/--v to the command and its children:
// the verbosity of client-go's logs on stderr. A level above MaxVerbosity
// logs at MaxVerbosity, saying so on errOut.
func AddVerbosityFlag(cmd *cobra.Command, errOut io.Writer) {
	cmd.PersistentFlags().VarP(&verbosity{errOut: errOut}, "v", "v",
		fmt.Sprintf("Log level for client-go's logs of API requests on stderr, as kubectl's -v; at most %d: higher levels would log request and response bodies, which hold Secret values.", MaxVerbosity))
}

// verbosity is the -v flag; setting it sets klog's verbosity.
type verbosity struct {
	level  int
	errOut io.Writer
}

func (v *verbosity) String() string { return strconv.Itoa(v.level) }

func (v *verbosity) Type() string { return "Level" }

func (v *verbosity) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("want a number, such as 6 (kubectl's -v levels; at most %d is used)", MaxVerbosity)
	}
	v.level = min(n, MaxVerbosity)
	if n > MaxVerbosity && v.errOut != nil {
		fmt.Fprintf(v.errOut, "warning: logging at -v=%d, not %d: from -v=8 on, client-go logs request and response bodies, which hold Secret values\n", MaxVerbosity, n)
	}
	var l klog.Level
	return l.Set(strconv.Itoa(v.level))
}
