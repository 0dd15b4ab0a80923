// Command bench times kubectl-gitops sync side by side with kubectl apply,
// against one real API server in one run, on fresh ConfigMaps:
//
//	(a) kubectl apply --server-side, with its defaults
//	(b) kubectl apply --server-side --validate=false
//	(c) the API server's floor: parallel server-side applies from client-go, no client rate limit
//	(d) kubectl gitops sync
//	(e) kubectl gitops sync again, nothing changed
//
// It prints the times, the ratios and the targets: (d) <= (b), (d) <= 2x (c), (e) <= 0.5x (d).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-gitops/kubectl-gitops/test/cluster"
)

func main() {
	plugin := flag.String("plugin", "bin/kubectl-gitops", "the kubectl-gitops binary")
	objects := flag.Int("objects", 1000, "ConfigMaps per run")
	workers := flag.Int("workers", 16, "parallel requests of the client-go floor")
	flag.Parse()
	if err := run(*plugin, *objects, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(plugin string, n, workers int) error {
	plugin, err := filepath.Abs(plugin)
	if err != nil {
		return err
	}
	kubectl, err := findKubectl()
	if err != nil {
		return err
	}
	ctx := context.Background()
	fmt.Fprintln(os.Stderr, "starting the control plane")
	c, err := cluster.Start(ctx, cluster.Options{})
	if err != nil {
		return err
	}
	defer func() { _ = c.Stop() }()

	dir, err := os.MkdirTemp("", "gitops-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	repo := filepath.Join(dir, "repo")
	if err := writeRepo(repo, n); err != nil {
		return err
	}
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig)
	env := append(os.Environ(), "KUBECONFIG="+c.Kubeconfig, "HOME="+dir)

	type result struct {
		name string
		d    time.Duration
	}
	var results []result
	step := func(name, ns string, f func() error) error {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && ns != "bench-d" {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s ...\n", name)
		start := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, result{name, time.Since(start)})
		return nil
	}
	command := func(env []string, name string, args ...string) func() error {
		return func() error {
			cmd := exec.Command(name, args...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %w\n%s", args, err, tail(out))
			}
			return nil
		}
	}
	manifests := filepath.Join(repo, "manifests")
	if err := step("(a) kubectl apply --server-side", "bench-a", command(env, kubectl, "apply", "--server-side", "-n", "bench-a", "-f", manifests)); err != nil {
		return err
	}
	if err := step("(b) kubectl apply --server-side --validate=false", "bench-b", command(env, kubectl, "apply", "--server-side", "--validate=false", "-n", "bench-b", "-f", manifests)); err != nil {
		return err
	}
	if err := step(fmt.Sprintf("(c) client-go floor, %d workers", workers), "bench-c", func() error { return floor(ctx, c.RESTConfig, "bench-c", n, workers) }); err != nil {
		return err
	}
	sync := command(env, plugin, "sync", "--name", "bench", "--repo", repo, "--path", "manifests", "-n", "bench-d")
	if err := step("(d) kubectl gitops sync", "bench-d", sync); err != nil {
		return err
	}
	if err := step("(e) kubectl gitops sync, nothing changed", "bench-d", sync); err != nil {
		return err
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "RUN (%d ConfigMaps)\tSECONDS\n", n)
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%.2f\n", r.name, r.d.Seconds())
	}
	tw.Flush()
	a, b, cc, d, e := results[0].d, results[1].d, results[2].d, results[3].d, results[4].d
	fmt.Println()
	check := func(name string, ratio, target float64) {
		verdict := "met"
		if ratio > target {
			verdict = "MISSED"
		}
		fmt.Printf("%-14s %5.2f  (target <= %.2f: %s)\n", name, ratio, target, verdict)
	}
	fmt.Printf("%-14s %5.2f\n", "(d)/(a)", d.Seconds()/a.Seconds())
	check("(d)/(b)", d.Seconds()/b.Seconds(), 1)
	check("(d)/(c)", d.Seconds()/cc.Seconds(), 2)
	check("(e)/(d)", e.Seconds()/d.Seconds(), 0.5)
	return nil
}

// floor applies n ConfigMaps with bare client-go server-side applies, with
// no client-side rate limit, from a pool of workers.
func floor(ctx context.Context, cfg *rest.Config, ns string, n, workers int) error {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	jobs := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				body := fmt.Appendf(nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-%04d"},"data":{"key":"value-%d"}}`, i, i)
				force := true
				if _, err := kube.CoreV1().ConfigMaps(ns).Patch(ctx, fmt.Sprintf("cm-%04d", i), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "bench", Force: &force}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	return <-errs
}

// writeRepo makes a git repository with n ConfigMaps, one per file.
func writeRepo(repo string, n int) error {
	dir := filepath.Join(repo, "manifests")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := range n {
		data := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%04d\ndata:\n  key: value-%d\n", i, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("cm-%04d.yaml", i)), []byte(data), 0o644); err != nil {
			return err
		}
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "."},
		{"-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "ConfigMaps"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %v: %w\n%s", args, err, out)
		}
	}
	return nil
}

func findKubectl() (string, error) {
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p, nil
	}
	p := filepath.Join(os.Getenv(cluster.EnvTestbin), "bin", "kubectl")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no kubectl on PATH nor in the testbin directory (%s): run make testbin", p)
	}
	return p, nil
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}
