package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func mustVars(t *testing.T, data string) *Vars {
	t.Helper()
	v, err := ParseVars("vars.env", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseVars(t *testing.T) {
	v := mustVars(t, "# images\nWEB_IMAGE=registry.example.com/web:1.0.0\n\n  REPLICAS = 2\nEMPTY=\nURL=http://x/?a=b#frag\r\n")
	for name, want := range map[string]string{"WEB_IMAGE": "registry.example.com/web:1.0.0", "REPLICAS": "2", "EMPTY": "", "URL": "http://x/?a=b#frag"} {
		if got, ok := v.vals[name]; !ok || got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	_, err := ParseVars("vars.env", []byte("A=1\nnot a var\nA=2\n9X=1\n"))
	for _, want := range []string{"vars.env:2: want NAME=value", "vars.env:3: A is already set at line 1", "vars.env:4: want NAME=value"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestSetKeepsEveryOtherByte(t *testing.T) {
	src := "# the web image\nWEB_TAG = 1.0.0 \r\nOTHER=x\nLAST=end"
	v := mustVars(t, src)
	for name, want := range map[string]string{
		"WEB_TAG": "# the web image\nWEB_TAG = 1.2.0 \r\nOTHER=x\nLAST=end",
		"LAST":    "# the web image\nWEB_TAG = 1.0.0 \r\nOTHER=x\nLAST=1.2.0",
	} {
		got, err := v.Set(name, "1.2.0")
		if err != nil || string(got) != want {
			t.Errorf("Set(%s): %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := v.Set("NOPE", "x"); err == nil {
		t.Error("set a variable the file does not have")
	}
	if _, err := v.Set("OTHER", "a\nb"); err == nil {
		t.Error("set a value with a line break")
	}
}

func TestSubstitute(t *testing.T) {
	v := mustVars(t, "NAME=web\nTAG=1.0\n")
	got, err := v.Substitute("t.yaml.tmpl", []byte("name: ${NAME}\nimage: x/${NAME}:${TAG}\nshell: echo $HOME $${NAME}\n"))
	if err != nil || string(got) != "name: web\nimage: x/web:1.0\nshell: echo $HOME ${NAME}\n" {
		t.Fatalf("%q, %v", got, err)
	}
	_, err = v.Substitute("t.yaml.tmpl", []byte("ok: ${NAME}\nbad: ${MISSING}\nworse: ${not valid}\nopen: ${NAME\n"))
	for _, want := range []string{"t.yaml.tmpl:2: ${MISSING} is not set in vars.env", "t.yaml.tmpl:3: ${not valid} is not a variable name", "t.yaml.tmpl:4: ${ is not closed"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestRender(t *testing.T) {
	fsys := fstest.MapFS{
		"b.yaml.tmpl":         {Data: []byte("kind: B\nname: ${NAME}")},
		"a/x.yml.tmpl":        {Data: []byte("kind: A\n")},
		"notes.txt":           {Data: []byte("${UNSET}")},
		".hidden/h.yaml.tmpl": {Data: []byte("${UNSET}")},
	}
	out, err := Render(fsys, ".", mustVars(t, "NAME=web\n"))
	want := "---\n# Source: a/x.yml.tmpl\nkind: A\n---\n# Source: b.yaml.tmpl\nkind: B\nname: web\n"
	if err != nil || string(out) != want {
		t.Fatalf("%q, %v\nwant %q", out, err, want)
	}
	if _, err := Render(fstest.MapFS{"x.yaml": {}}, ".", mustVars(t, "")); err == nil || !strings.Contains(err.Error(), "no templates") {
		t.Errorf("no templates: %v", err)
	}
}

func TestSolve(t *testing.T) {
	v := mustVars(t, "IMAGE=reg/web:1.0\nREPO=reg/web\nTAG=1.0\nPINNED=1.0@sha256:aaa\n")
	tests := []struct {
		tmpl, want, name, val, err string
	}{
		{tmpl: "${IMAGE}", want: "reg/web:2.0", name: "IMAGE", val: "reg/web:2.0"},
		{tmpl: "${REPO}:${TAG}", want: "reg/web:2.0", name: "TAG", val: "2.0"},
		{tmpl: "reg/web:${TAG}", want: "reg/web:2.0", name: "TAG", val: "2.0"},
		{tmpl: "${REPO}:${TAG}", want: "other/web:1.0", name: "REPO", val: "other/web"},
		{tmpl: "reg/web:${PINNED}", want: "reg/web:2.0@sha256:bbb", name: "PINNED", val: "2.0@sha256:bbb"},
		{tmpl: "reg/web:1.0", want: "reg/web:2.0", err: "written in the template, not in a variable"},
		{tmpl: "reg/web:${TAG}", want: "other/web:2.0", err: "no single variable"},
		{tmpl: "${TAG}-${TAG}", want: "2.0-2.0", err: "no single variable"},
	}
	for _, tt := range tests {
		name, val, err := v.solve(tt.tmpl, tt.want)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("solve(%q, %q): %v, want error %q", tt.tmpl, tt.want, err, tt.err)
			}
			continue
		}
		if err != nil || name != tt.name || val != tt.val {
			t.Errorf("solve(%q, %q) = %s=%s, %v; want %s=%s", tt.tmpl, tt.want, name, val, err, tt.name, tt.val)
		}
	}
}

const deploymentTemplate = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${APP}
  namespace: shop
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: "${REPO}:${MIGRATE_TAG}"
      containers:
        - name: web
          image: "${REPO}:${WEB_TAG}"   # moved by set-image
        - name: sidecar
          image: registry.example.com/proxy:1.0
`

// repoDir writes files into a temporary directory.
func repoDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runIn(dir string, env map[string]string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, func(k string) string { return env[k] }, dir, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestGenerateMode(t *testing.T) {
	dir := repoDir(t, map[string]string{
		"templates/web.yaml.tmpl": deploymentTemplate,
		"values/prod.env":         "APP=web\nREPO=registry.example.com/web\nWEB_TAG=1.0.0\nMIGRATE_TAG=1.0.0\n",
	})
	code, out, errOut := runIn(dir, nil, "--vars", "values/prod.env", "--templates", "templates")
	if code != 0 || !strings.Contains(out, `image: "registry.example.com/web:1.0.0"   # moved by set-image`) || !strings.Contains(out, "name: web\n") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := runIn(dir, nil); code != 1 || !strings.Contains(errOut, "vars.env") {
		t.Errorf("no vars file: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runIn(dir, nil, "extra"); code != 2 || !strings.Contains(errOut, "usage") {
		t.Errorf("bad arguments: exit %d, %s", code, errOut)
	}
}

func TestSetImageMode(t *testing.T) {
	vars := "# production\nAPP=web\nREPO=registry.example.com/web\nWEB_TAG=1.0.0   \nMIGRATE_TAG=1.0.0\n"
	dir := repoDir(t, map[string]string{"web.yaml.tmpl": deploymentTemplate, "vars.env": vars})
	env := map[string]string{
		"FLUX_WORKLOAD": "shop:deployment/web", "FLUX_CONTAINER": "web",
		"FLUX_IMG": "registry.example.com/web", "FLUX_TAG": "1.2.0",
	}
	code, _, errOut := runIn(dir, env, "set-image")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "vars.env"))
	if want := strings.Replace(vars, "WEB_TAG=1.0.0   ", "WEB_TAG=1.2.0   ", 1); string(got) != want {
		t.Fatalf("vars.env:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(errOut, "set vars.env: WEB_TAG=1.2.0 (shop:deployment/web container web, template web.yaml.tmpl)") {
		t.Errorf("stderr: %s", errOut)
	}

	// The whole reference, digest included, from KUBECTL_GITOPS_IMAGE_REF.
	env["KUBECTL_GITOPS_IMAGE_REF"] = "registry.example.com/web:2.0.0@sha256:abc"
	env["FLUX_CONTAINER"] = "migrate"
	if code, _, errOut := runIn(dir, env, "set-image"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got, _ = os.ReadFile(filepath.Join(dir, "vars.env"))
	if !strings.Contains(string(got), "MIGRATE_TAG=2.0.0@sha256:abc\n") {
		t.Fatalf("vars.env:\n%s", got)
	}

	// Another workload: not this updater's business.
	env["FLUX_WORKLOAD"] = "shop:deployment/api"
	before, _ := os.ReadFile(filepath.Join(dir, "vars.env"))
	code, _, errOut = runIn(dir, env, "set-image")
	after, _ := os.ReadFile(filepath.Join(dir, "vars.env"))
	if code != 0 || !strings.Contains(errOut, "nothing to do") || !bytes.Equal(before, after) {
		t.Errorf("another workload: exit %d, %s", code, errOut)
	}

	// An image written in the template cannot be moved here.
	env["FLUX_WORKLOAD"], env["FLUX_CONTAINER"] = "shop:deployment/web", "sidecar"
	if code, _, errOut := runIn(dir, env, "set-image"); code != 1 || !strings.Contains(errOut, "written in the template, not in a variable") {
		t.Errorf("literal image: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runIn(dir, map[string]string{}, "set-image"); code != 1 || !strings.Contains(errOut, "<namespace>:<kind>/<name>") {
		t.Errorf("no workload: exit %d, %s", code, errOut)
	}
}
