// Command krewmanifest renders the krew manifest template (krew/gitops.yaml)
// for the archives in a dist folder: each addURIAndSha call becomes the
// archive's URL and the sha256 of the archive built locally, as
// krew-release-bot does for a published release.
//
//	go run ./hack/krewmanifest --template krew/gitops.yaml --dist dist --tag v1.2.3 --out dist/krew/gitops.yaml
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"text/template"
)

func main() {
	tmpl := flag.String("template", "krew/gitops.yaml", "the manifest template")
	dist := flag.String("dist", "dist", "folder holding the release archives")
	tag := flag.String("tag", "", "the release tag, such as v1.2.3")
	out := flag.String("out", "dist/krew/gitops.yaml", "where to write the manifest")
	flag.Parse()
	if err := run(*tmpl, *dist, *tag, *out); err != nil {
		fmt.Fprintln(os.Stderr, "krewmanifest:", err)
		os.Exit(1)
	}
}

type data struct{ TagName string }

func run(tmplPath, dist, tag, out string) error {
	if tag == "" {
		return fmt.Errorf("--tag is required")
	}
	src, err := os.ReadFile(tmplPath)
	if err != nil {
		return err
	}
	funcs := template.FuncMap{
		"addURIAndSha": func(urlTemplate, tag string) (string, error) {
			u, err := render(urlTemplate, data{TagName: tag})
			if err != nil {
				return "", err
			}
			archive := filepath.Join(dist, path.Base(u))
			sum, err := sha256File(archive)
			if err != nil {
				return "", fmt.Errorf("archive for %s: %w (run make dist)", u, err)
			}
			return fmt.Sprintf("uri: %s\n    sha256: %s", u, sum), nil
		},
	}
	t, err := template.New(filepath.Base(tmplPath)).Funcs(funcs).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return fmt.Errorf("%s: %w", tmplPath, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data{TagName: tag}); err != nil {
		return fmt.Errorf("%s: %w", tmplPath, err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

func render(text string, d data) (string, error) {
	t, err := template.New("url").Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	err = t.Execute(&b, d)
	return b.String(), err
}

func sha256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
