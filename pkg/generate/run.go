package generate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/kyaml/fn/runtime/runtimeutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamlguard"
)

// waitDelay is how long a program's output is waited for after it exited
// or was killed, in case processes it started hold it open.
const waitDelay = 2 * time.Second

// CheckGenerators checks, before anything runs, that dir is a directory of
// the tree and that every generator's program can be found.
func (w *Workspace) CheckGenerators(cfg *Config, dir string) error {
	cwd, err := w.cwd(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range cfg.Generators {
		if _, err := w.resolve(g.argv()[0], cwd); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cfg.What(g), err))
		}
	}
	return errors.Join(errs...)
}

// CheckUpdaters checks, before anything runs, that dir is a directory of
// the tree and that the programs of the updaters can be found.
func (w *Workspace) CheckUpdaters(cfg *Config, dir string) error {
	cwd, err := w.cwd(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, u := range cfg.Updaters {
		for _, argv := range [][]string{u.SetImage, u.SetPolicy} {
			if len(argv) == 0 {
				continue
			}
			if _, err := w.resolve(argv[0], cwd); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", cfg.whatUpdater(u), err))
			}
		}
	}
	return errors.Join(errs...)
}

// Generate runs a command generator with its working directory at dir (a
// slash path from the tree's root) and returns its standard output.
func (w *Workspace) Generate(ctx context.Context, cfg *Config, g Generator, dir string) ([]byte, error) {
	if g.Function != nil {
		return nil, fmt.Errorf("%s is a KRM function, not a command", cfg.What(g))
	}
	var out bytes.Buffer
	err := w.run(ctx, process{
		what:    cfg.What(g),
		argv:    g.Command,
		dir:     dir,
		env:     w.env(cfg, dir, "KUBECTL_GITOPS_GENERATOR="+g.Name),
		timeout: g.Timeout,
		stdout:  &out,
	})
	if err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Function runs a KRM function generator on items, with kyaml's function
// runtime: the items and the functionConfig go to its standard input as a
// ResourceList, and the items of the ResourceList it prints come back.
// Its working directory is dir.
func (w *Workspace) Function(ctx context.Context, cfg *Config, g Generator, dir string, items []*yaml.RNode) ([]*yaml.RNode, error) {
	if g.Function == nil {
		return nil, fmt.Errorf("%s is a command, not a KRM function", cfg.What(g))
	}
	var runErr error
	filter := &runtimeutil.FunctionFilter{
		GlobalScope: true, // every item, wherever it came from
		Run: func(in io.Reader, out io.Writer) error {
			var printed bytes.Buffer
			runErr = w.run(ctx, process{
				what:    cfg.What(g),
				argv:    g.Function.Exec,
				dir:     dir,
				env:     w.env(cfg, dir, "KUBECTL_GITOPS_GENERATOR="+g.Name),
				timeout: g.Timeout,
				stdin:   in,
				stdout:  &printed,
			})
			if runErr != nil {
				return runErr
			}
			// kyaml parses the output: bound it first, as every YAML read.
			if err := yamlguard.Check(cfg.What(g)+" output", printed.Bytes()); err != nil {
				runErr = err
				return err
			}
			_, err := out.Write(printed.Bytes())
			return err
		},
	}
	if g.Function.Config != nil {
		filter.FunctionConfig = g.Function.Config.Copy()
	}
	out, err := filter.Filter(items)
	if runErr != nil {
		return nil, runErr
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading the ResourceList it printed: %w", cfg.What(g), err)
	}
	return out, nil
}

// process is one run of a program.
type process struct {
	what    string // names it in errors
	argv    []string
	dir     string // the working directory, a slash path from the root
	env     []string
	timeout time.Duration
	stdin   io.Reader // nil: the null device
	stdout  io.Writer
}

// run runs p in its own process group, killed whole when the timeout
// passes or ctx is done, and once the program exits, so that nothing it
// started outlives it.
func (w *Workspace) run(ctx context.Context, p process) error {
	cwd, err := w.cwd(p.dir)
	if err != nil {
		return fmt.Errorf("%s: %w", p.what, err)
	}
	prog, err := w.resolve(p.argv[0], cwd)
	if err != nil {
		return fmt.Errorf("%s: %w", p.what, err)
	}
	tctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, prog, p.argv[1:]...)
	cmd.Args[0] = p.argv[0]
	cmd.Dir = cwd
	cmd.Env = p.env
	cmd.Stdin = p.stdin
	stdout := &limitWriter{w: p.stdout, n: MaxOutput}
	if p.stdout == nil {
		stdout.w = io.Discard
	}
	stderr := &tailBuffer{max: stderrTail}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = waitDelay
	processGroup(cmd)

	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", p.what, err)
	}
	err = cmd.Wait()
	_ = killGroup(cmd) // what it left running
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case tctx.Err() != nil:
		return fmt.Errorf("%s: timed out after %s; its processes were killed%s", p.what, p.timeout, stderr.quote())
	case stdout.over:
		return fmt.Errorf("%s: printed more than %d MiB on standard output", p.what, MaxOutput>>20)
	case errors.Is(err, exec.ErrWaitDelay):
		return fmt.Errorf("%s: exited, but processes it started kept its output open; they were killed%s", p.what, stderr.quote())
	case err != nil:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("%s failed: %s%s%s", p.what, exit.ProcessState, stderr.quote(), w.note())
		}
		return fmt.Errorf("%s failed: %w%s%s", p.what, err, stderr.quote(), w.note())
	}
	return nil
}

// cwd returns the directory of the copy that dir names.
func (w *Workspace) cwd(dir string) (string, error) {
	if !fs.ValidPath(dir) {
		return "", fmt.Errorf("invalid path %q", dir)
	}
	cwd := filepath.Join(w.root, filepath.FromSlash(dir))
	info, err := os.Stat(cwd)
	if err != nil || !info.IsDir() {
		return "", fmt.Errorf("%s is not a directory of the repository", dir)
	}
	return cwd, nil
}

// resolve finds the program prog names: a path relative to cwd when it has
// a slash (it must stay inside the tree), an absolute path, or a name
// looked up in PATH.
func (w *Workspace) resolve(prog, cwd string) (string, error) {
	switch {
	case filepath.IsAbs(prog):
		return prog, executable(prog)
	case strings.ContainsRune(prog, '/') || strings.ContainsRune(prog, filepath.Separator):
		p := filepath.Join(cwd, filepath.FromSlash(prog))
		if rel, err := filepath.Rel(w.root, p); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("program %s is outside the repository: give an absolute path or a name found in PATH", prog)
		}
		if err := executable(p); err != nil {
			return "", fmt.Errorf("program %s: %w", prog, err)
		}
		return p, nil
	}
	for _, d := range filepath.SplitList(w.path) {
		if !filepath.IsAbs(d) {
			continue // never the repository's own directories
		}
		for _, ext := range exts() {
			p := filepath.Join(d, prog+ext)
			if executable(p) == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("program %q is not in PATH (%s): install it, or give its path", prog, w.path)
}

func exts() []string {
	if runtime.GOOS != "windows" {
		return []string{""}
	}
	out := []string{""}
	pathext := os.Getenv("PATHEXT")
	if pathext == "" {
		pathext = ".COM;.EXE;.BAT;.CMD"
	}
	for _, e := range strings.Split(strings.ToLower(pathext), ";") {
		if e != "" {
			out = append(out, e)
		}
	}
	return out
}

// executable checks that p is a regular file that may be run.
func executable(p string) error {
	info, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", p)
	}
	if runtime.GOOS != "windows" && info.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not executable (git mode 644): make it executable and commit it (git update-index --chmod=+x)", p)
	}
	return nil
}

// limitWriter passes at most n bytes to w, and then fails.
type limitWriter struct {
	w    io.Writer
	n    int64
	over bool
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		l.over = true
		return 0, errors.New("output too large")
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max     int
	buf     []byte
	dropped bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.dropped = true
		t.buf = append(t.buf[:0:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// quote returns what was written, to end an error message with.
func (t *tailBuffer) quote() string {
	s := strings.TrimRight(string(t.buf), "\r\n\t ")
	if s == "" {
		return "; it printed nothing on standard error"
	}
	head := "; its standard error:"
	if t.dropped {
		if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
			s = s[i+1:]
		}
		head = fmt.Sprintf("; the end of its standard error (last %d KiB):", t.max>>10)
	}
	return head + "\n    " + strings.ReplaceAll(s, "\n", "\n    ")
}
