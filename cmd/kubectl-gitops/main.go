// Command kubectl-gitops is the kubectl gitops plugin.
package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // cloud auth providers of kubeconfigs

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/completion"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := cmd.NewCmdRoot(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	if filepath.Base(os.Args[0]) == completion.ScriptName {
		// Called by kubectl, under the name of the completion script.
		root.SetArgs(append([]string{cobra.ShellCompRequestCmd}, os.Args[1:]...))
	}
	code := cmd.Execute(ctx, root, os.Stderr)
	stop()
	os.Exit(code)
}
