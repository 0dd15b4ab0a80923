// Command gitops-envsubst is a kubectl-gitops generator: it substitutes
// ${VAR} in the templates (*.yaml.tmpl) under its working directory with the
// values of a vars file, and prints the manifests. As an updater
// (set-image), it moves an image by rewriting the variable the image is
// written with in the vars file.
//
//	gitops-envsubst [--vars vars.env] [--templates .]
//	gitops-envsubst set-image [--vars vars.env] [--templates .]
//
// See README.md beside this file, and plugins/README.md for the protocol.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, ".", os.Stdout, os.Stderr))
}

const usage = `usage:
  gitops-envsubst [--vars FILE] [--templates DIR]
      print the templates (*.yaml.tmpl under DIR) with ${VAR} replaced by
      the values in FILE (NAME=value lines)
  gitops-envsubst set-image [--vars FILE] [--templates DIR]
      updater: set the variable that the image of $FLUX_CONTAINER in
      $FLUX_WORKLOAD is written with, so that it reads the new image
      ($KUBECTL_GITOPS_IMAGE_REF, else $FLUX_IMG:$FLUX_TAG)
`

// run is the program, with its arguments, environment, working directory
// and output given.
func run(args []string, getenv func(string) string, dir string, stdout, stderr io.Writer) int {
	mode := "generate"
	if len(args) > 0 && (args[0] == "set-image" || args[0] == "generate") {
		mode, args = args[0], args[1:]
	}
	fl := flag.NewFlagSet("gitops-envsubst", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, usage) }
	varsFile := fl.String("vars", "vars.env", "the vars file, NAME=value lines")
	templates := fl.String("templates", ".", "the directory holding the templates (*.yaml.tmpl)")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "gitops-envsubst: unexpected argument %q\n%s", fl.Arg(0), usage)
		return 2
	}
	if err := do(mode, *varsFile, *templates, getenv, dir, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "gitops-envsubst: %v\n", err)
		return 1
	}
	return 0
}

func do(mode, varsFile, templates string, getenv func(string) string, dir string, stdout, stderr io.Writer) error {
	fsys := os.DirFS(dir)
	varsPath := filepath.Join(dir, filepath.FromSlash(varsFile))
	data, err := os.ReadFile(varsPath)
	if err != nil {
		return err
	}
	vars, err := ParseVars(varsFile, data)
	if err != nil {
		return err
	}
	templates = filepath.ToSlash(filepath.Clean(templates))
	switch mode {
	case "generate":
		out, err := Render(fsys, templates, vars)
		if err != nil {
			return err
		}
		_, err = stdout.Write(out)
		return err
	case "set-image":
		env := func(names ...string) string {
			for _, n := range names {
				if v := getenv(n); v != "" {
					return v
				}
			}
			return ""
		}
		w, err := ParseWorkload(env("KUBECTL_GITOPS_WORKLOAD", "FLUX_WORKLOAD"))
		if err != nil {
			return err
		}
		container := env("KUBECTL_GITOPS_CONTAINER", "FLUX_CONTAINER")
		image := env("KUBECTL_GITOPS_IMAGE_REF")
		if image == "" {
			img, tag := env("FLUX_IMG"), env("FLUX_TAG")
			if img == "" || tag == "" {
				return errors.New("set-image needs $KUBECTL_GITOPS_IMAGE_REF, or $FLUX_IMG and $FLUX_TAG")
			}
			image = img + ":" + tag
		}
		if container == "" {
			return errors.New("set-image needs $FLUX_CONTAINER")
		}
		out, done, err := SetImage(fsys, templates, vars, w, container, image)
		if err != nil {
			return err
		}
		if out == nil {
			fmt.Fprintf(stderr, "gitops-envsubst: no template under %s holds %s container %s: nothing to do\n", templates, w, container)
			return nil
		}
		info, err := os.Stat(varsPath)
		if err != nil {
			return err
		}
		if err := os.WriteFile(varsPath, out, info.Mode().Perm()); err != nil {
			return err
		}
		for _, d := range done {
			fmt.Fprintf(stderr, "gitops-envsubst: set %s\n", d)
		}
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}
