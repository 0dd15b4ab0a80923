package workload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kubectl-gitops/kubectl-gitops/internal/golden"
	"github.com/kubectl-gitops/kubectl-gitops/internal/yamlbomb"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/setters"
)

const testdata = golden.Dir("../../testdata/workload")

func readInput(t *testing.T, name string) []byte { return testdata.Read(t, name) }

func assertGolden(t *testing.T, name string, got []byte) { testdata.Assert(t, name, got) }

// treeFS is the testdata inputs as a tree, under "repo/".
func treeFS(t *testing.T) fstest.MapFS {
	t.Helper()
	entries, err := os.ReadDir(string(testdata))
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for _, e := range entries {
		if e.IsDir() || (!strings.HasSuffix(e.Name(), ".yaml") && !strings.HasSuffix(e.Name(), ".json")) {
			continue
		}
		fsys["repo/"+e.Name()] = &fstest.MapFile{Data: readInput(t, e.Name())}
	}
	return fsys
}

// validJSON fails the test when out, the edit of the JSON file input, is
// not JSON any more.
func validJSON(t *testing.T, input string, out []byte) {
	t.Helper()
	if strings.HasSuffix(input, ".json") && !json.Valid(out) {
		t.Errorf("the edit of %s is not valid JSON:\n%s", input, out)
	}
}

// describe writes a workload on one line, with its containers.
func describe(w Workload) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", w.Origin(), w.ID)
	if w.Doc != 0 {
		fmt.Fprintf(&b, " doc=%d", w.Doc)
	}
	if w.Path != nil {
		fmt.Fprintf(&b, " at=%s", strings.Join(w.Path, "."))
	}
	for _, c := range w.Containers {
		init := ""
		if c.Init {
			init = " (init)"
		}
		fmt.Fprintf(&b, " | %s=%s%s", c.Name, c.Image, init)
	}
	return b.String()
}

func findOne(t *testing.T, file string, src []byte, id string) Workload {
	t.Helper()
	ws, err := parseFile(file, src, "default")
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseID(id, "default")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if w.ID == want {
			return w
		}
	}
	t.Fatalf("no workload %s in %s", id, file)
	return Workload{}
}

// parseTree parses every file of fsys, in lexical order, and returns the
// workloads and the errors.
func parseTree(t *testing.T, fsys fstest.MapFS) ([]Workload, []error) {
	t.Helper()
	names := make([]string, 0, len(fsys))
	for name := range fsys {
		names = append(names, name)
	}
	slices.Sort(names)
	var ws []Workload
	var errs []error
	for _, name := range names {
		got, err := Parse(name, fsys[name].Data, "default")
		ws = append(ws, got...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return ws, errs
}

func TestParseTestdata(t *testing.T) {
	ws, errs := parseTree(t, treeFS(t))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, w := range ws {
		got = append(got, describe(w))
	}
	want := []string{
		"repo/cronjob.yaml:1 ops:cronjob/backup | backup=backup:3.2",
		"repo/deployment.json:1 shop:deployment/shop-api | api=registry.example.com/shop/api:2.0.1 | cache=redis:7.2 | migrate=registry.example.com/shop/migrate:2.0.1 (init)",
		"repo/deployments.yaml:2 shop:deployment/web | web=registry.example.com/shop/web:1.4.0 | envoy=envoyproxy/envoy:v1.30.1 | migrate=registry.example.com/shop/migrate:1.4.0 (init)",
		"repo/deployments.yaml:28 default:statefulset/db doc=2 | postgres=postgres:16.2",
		"repo/flow.yaml:1 shop:deployment/api | api=api:3.1 | log=fluent/fluent-bit:3.0",
		"repo/flow.yaml:9 default:replicaset/rs doc=1 | app=app:1",
		"repo/flux-v1.yaml:1 shop:deployment/api | api=registry.example.com/shop/api:2.0.3 | cache=redis:7.2",
		"repo/flux-v1.yaml:18 monitoring:daemonset/agent doc=1 | agent=agent:1.9",
		"repo/job-indent4.yaml:1 shop:job/migrate | migrate=migrate:2",
		"repo/list.yaml:4 one:deployment/a at=items.0 | a=a:1",
		"repo/list.yaml:15 default:cronjob/nightly at=items.1 | report=reporter:0.9 | wait=busybox:1.36 (init)",
		"repo/pod-crlf.yaml:1 default:pod/debug | shell=busybox:1.36",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Each container's target holds its image.
	for _, w := range ws {
		src := readInput(t, strings.TrimPrefix(w.File, "repo/"))
		for _, c := range w.Containers {
			v, ok, err := setters.Lookup(src, c.Target)
			if err != nil || !ok || v != c.Image {
				t.Errorf("%s %s: target %s holds %q, %v, %v; want %q", w.ID, c.Name, c.Target, v, ok, err, c.Image)
			}
		}
	}
}

// TestParseFiles: what Parse finds in files of every kind, and the files
// it cannot address byte for byte. (Which files are manifests, hidden
// files, symbolic links and kustomizations are pkg/render's.)
func TestParseFiles(t *testing.T) {
	deploy := func(name string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: " + name + ":1\n")}
	}
	fsys := fstest.MapFS{
		"apps/b.yaml":                    deploy("b"),
		"apps/a.yml":                     deploy("a"),
		"apps/c.json":                    {Data: []byte(`{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "json"}, "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "json:1"}]}}}}`)},
		"apps/json/yaml-in.json":         deploy("yaml-in-json"),
		"apps/json/configmaps.json":      {Data: []byte("{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\"}}\n{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"b\"}}\n")},
		"apps/json/stream.json":          {Data: []byte("{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\"}}\n\n  {\"apiVersion\": \"apps/v1\", \"kind\": \"Deployment\", \"metadata\": {\"name\": \"streamed\"}}\n")},
		"apps/json/escaped.json":         {Data: []byte(`{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "escaped", "annotations": {"url": "https:\/\/example.com"}}}`)},
		"apps/json/escaped-cm.json":      {Data: []byte(`{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"url": "https:\/\/example.com"}}`)},
		"apps/json/broken.json":          {Data: []byte(`{"apiVersion": "apps/v1", "kind": "Deployment",`)},
		"apps/sub/z.yaml":                deploy("z"),
		"apps/other/broken.yaml":         {Data: []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [x\n")},
		"apps/other/crd.yaml":            {Data: []byte("apiVersion: example.com/v1\nkind: Deployment\nmetadata:\n  name: custom\n")},
		"apps/other/noname.yaml":         {Data: []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {}\n")},
		"apps/other/scalar.yaml":         {Data: []byte("just a string\n---\n- a list\n")},
		"apps/other/patch-noimage.yaml":  {Data: []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: patched\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        resources: {}\n")},
		"apps/other/extensions-v1b1.yml": {Data: []byte("apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata:\n  name: old\n")},
	}
	var ws []Workload
	var errs []string
	names := make([]string, 0, len(fsys))
	for name := range fsys {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		got, err := Parse(name, fsys[name].Data, "dflt")
		ws = append(ws, got...)
		if err == nil {
			continue
		}
		var we *Error
		if !errors.As(err, &we) {
			t.Errorf("error %v is not an *Error", err)
		}
		errs = append(errs, err.Error())
	}
	var got []string
	for _, w := range ws {
		got = append(got, describe(w))
	}
	want := []string{
		"apps/a.yml:1 dflt:deployment/a | app=a:1",
		"apps/b.yaml:1 dflt:deployment/b | app=b:1",
		"apps/c.json:1 dflt:deployment/json | app=json:1",
		"apps/json/yaml-in.json:1 dflt:deployment/yaml-in-json | app=yaml-in-json:1",
		"apps/other/extensions-v1b1.yml:1 dflt:deployment/old",
		"apps/other/patch-noimage.yaml:1 dflt:deployment/patched",
		"apps/sub/z.yaml:1 dflt:deployment/z | app=z:1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantErrs := []string{
		"apps/json/broken.json:2: did not find expected node content",
		"apps/json/escaped.json:1: workload dflt:deployment/escaped: its JSON cannot be read as YAML, as the byte-exact editor of images and policies needs: write it without \"\\/\" escapes",
		"apps/json/stream.json:3: workload dflt:deployment/streamed: the file holds 2 JSON values one after another, which the byte-exact editor of images and policies cannot address: put each object in a file of its own, or the objects in a List",
		"apps/other/broken.yaml:4: did not find expected ',' or ']'",
	}
	if !slices.Equal(errs, wantErrs) {
		t.Errorf("errors\n%s\nwant\n%s", strings.Join(errs, "\n"), strings.Join(wantErrs, "\n"))
	}
}

// FromObject reads a decoded object as Parse reads it from a file, without
// positions; other kinds and groups are no workloads.
func TestFromObject(t *testing.T) {
	obj := map[string]any{
		"apiVersion": "apps/v1", "kind": "CronJob", "metadata": map[string]any{"name": "x"},
	}
	if _, ok, err := FromObject(obj, "d"); ok || err != nil {
		t.Errorf("a CronJob of apps/v1: %v, %v", ok, err)
	}
	obj = map[string]any{
		"apiVersion": "batch/v1", "kind": "CronJob",
		"metadata": map[string]any{"name": "nightly", "annotations": map[string]any{"fluxcd.io/automated": "true"}},
		"spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers":     []any{map[string]any{"name": "report", "image": "reporter:0.9"}},
			"initContainers": []any{map[string]any{"name": "wait", "image": "busybox:1.36"}},
		}}}}},
	}
	w, ok, err := FromObject(obj, "d")
	if !ok || err != nil {
		t.Fatalf("%v, %v", ok, err)
	}
	if got := describe(w); got != ":0 d:cronjob/nightly | report=reporter:0.9 | wait=busybox:1.36 (init)" || !w.Policy().Automated {
		t.Errorf("got %s, automated %v", got, w.Policy().Automated)
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "shop:deployment/web", want: "shop:deployment/web"},
		{in: "shop:Deployment/web", want: "shop:deployment/web"},
		{in: "deployment/web", want: "default:deployment/web"},
		{in: "deploy/web", want: "default:deployment/web"},
		{in: "x:deployments/web", want: "x:deployment/web"},
		{in: "x:sts/db", want: "x:statefulset/db"},
		{in: "x:DS/agent", want: "x:daemonset/agent"},
		{in: "x:rs/a", want: "x:replicaset/a"},
		{in: "x:job/a", want: "x:job/a"},
		{in: "x:CronJob/a", want: "x:cronjob/a"},
		{in: "x:cj/a", want: "x:cronjob/a"},
		{in: "x:po/a", want: "x:pod/a"},
		{in: "web", wantErr: `invalid workload "web": want <namespace>:<kind>/<name>`},
		{in: "shop:web", wantErr: "invalid workload"},
		{in: ":deployment/web", wantErr: "invalid workload"},
		{in: "shop:deployment/", wantErr: "invalid workload"},
		{in: "shop:deployment/a/b", wantErr: "invalid workload"},
		{in: "shop:service/web", wantErr: `unknown kind "service", want one of deployment, statefulset, daemonset, replicaset, job, cronjob, pod`},
	}
	for _, tc := range tests {
		id, err := ParseID(tc.in, "default")
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseID(%q) error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || id.String() != tc.want {
			t.Errorf("ParseID(%q) = %s, %v; want %s", tc.in, id, err, tc.want)
		}
	}
	if _, err := ParseID("deployment/web", ""); err == nil || !strings.Contains(err.Error(), "no namespace") {
		t.Errorf("no namespace: error %v", err)
	}
}

func TestClosest(t *testing.T) {
	var ids []ID
	for _, s := range []string{
		"shop:deployment/web", "shop:deployment/api", "prod:deployment/web",
		"shop:statefulset/web", "shop:deployment/webhook", "shop:deployment/worker",
		"ops:cronjob/backup",
	} {
		id, _ := ParseID(s, "")
		ids = append(ids, id)
	}
	tests := []struct {
		want string
		got  []string
	}{
		{"shop:deployment/wbe", []string{"shop:deployment/web", "prod:deployment/web", "shop:statefulset/web"}},
		{"staging:deployment/web", []string{"shop:deployment/web", "prod:deployment/web", "shop:statefulset/web"}},
		{"shop:deployment/backups", []string{"ops:cronjob/backup"}},
		{"shop:deployment/database", nil},
	}
	for _, tc := range tests {
		want, _ := ParseID(tc.want, "")
		var got []string
		for _, id := range Closest(ids, want) {
			got = append(got, id.String())
		}
		if !slices.Equal(got, tc.got) {
			t.Errorf("Closest(%s) = %v, want %v", tc.want, got, tc.got)
		}
	}
}

func TestReadPolicy(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]string
		want Policy
	}{
		{"none", nil, Policy{}},
		{"unrelated", map[string]string{"team": "shop", "fluxcd.io/sync-checksum": "x"}, Policy{}},
		{"own", map[string]string{
			"kubectl-gitops.dev/automated": "true", "kubectl-gitops.dev/tag.web": "semver:~1.4",
		}, Policy{Automated: true, Tags: map[string]string{"web": "semver:~1.4"}, Prefix: "kubectl-gitops.dev/"}},
		{"flux v1", map[string]string{
			"fluxcd.io/locked": "true", "fluxcd.io/locked_user": "jane", "fluxcd.io/locked_msg": "freeze",
			"filter.fluxcd.io/api": "glob:2.*", "fluxcd.io/tag.web": "regexp:^v",
		}, Policy{Locked: true, LockedUser: "jane", LockedMsg: "freeze", Tags: map[string]string{"api": "glob:2.*", "web": "regexp:^v"}, Prefix: "fluxcd.io/"}},
		{"legacy", map[string]string{"flux.weave.works/automated": "true", "flux.weave.works/tag.a": "*"},
			Policy{Automated: true, Tags: map[string]string{"a": "*"}, Prefix: "flux.weave.works/"}},
		{"filter only", map[string]string{"filter.fluxcd.io/a": "semver:1"}, Policy{Tags: map[string]string{"a": "semver:1"}, Prefix: "fluxcd.io/"}},
		{"only exact true", map[string]string{"fluxcd.io/automated": "True", "fluxcd.io/locked": "yes"}, Policy{Prefix: "fluxcd.io/"}},
		{"ignore counts for the prefix", map[string]string{"flux.weave.works/ignore": "false"}, Policy{Prefix: "flux.weave.works/"}},
		{"own prefix wins", map[string]string{
			"kubectl-gitops.dev/automated": "false", "fluxcd.io/automated": "true",
			"fluxcd.io/tag.a": "semver:1", "filter.fluxcd.io/a": "semver:2", "kubectl-gitops.dev/tag.a": "semver:3",
		}, Policy{Tags: map[string]string{"a": "semver:3"}, Prefix: "kubectl-gitops.dev/"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ReadPolicy(tc.in)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func ptr(b bool) *bool { return &b }

var (
	lock = PolicyChange{Locked: ptr(true), LockedUser: "Jane Doe <jane@example.com>", LockedMsg: "release freeze: Q3"}
)

// policyCases are SetPolicy edits whose output is a golden file.
var policyCases = []struct {
	name, input, id string
	change          PolicyChange
}{
	{"own-lock", "deployments.yaml", "shop:deployment/web", lock},
	{"own-deautomate", "deployments.yaml", "shop:deployment/web", PolicyChange{Automated: ptr(false)}},
	{"own-tags", "deployments.yaml", "shop:deployment/web", PolicyChange{Tags: map[string]string{"web": "*", "envoy": "semver:~1.30", "migrate": "glob:1.4.*"}}},
	{"no-annotations-lock", "deployments.yaml", "default:statefulset/db", PolicyChange{Locked: ptr(true)}},
	{"no-annotations-automate-and-tag", "deployments.yaml", "default:statefulset/db", PolicyChange{Automated: ptr(true), Tags: map[string]string{"postgres": "semver:16.x"}}},
	{"fluxcd-lock", "flux-v1.yaml", "shop:deployment/api", lock},
	{"json-lock-and-tag", "deployment.json", "shop:deployment/shop-api", PolicyChange{Locked: ptr(true), LockedUser: "Ann <ann@example.com>", Tags: map[string]string{"api": "semver:~2.0"}}},
	{"fluxcd-filter-tag", "flux-v1.yaml", "shop:deployment/api", PolicyChange{Tags: map[string]string{"api": "semver:~2.1", "cache": "semver:7.x"}}},
	{"fluxcd-untag", "flux-v1.yaml", "shop:deployment/api", PolicyChange{Tags: map[string]string{"api": "*"}}},
	{"weave-unlock", "flux-v1.yaml", "monitoring:daemonset/agent", PolicyChange{Locked: ptr(false)}},
	{"weave-relock-and-automate", "flux-v1.yaml", "monitoring:daemonset/agent", PolicyChange{Locked: ptr(true), LockedUser: "bob", Automated: ptr(true)}},
	{"flow-lock", "flow.yaml", "shop:deployment/api", lock},
	{"flow-deautomate", "flow.yaml", "shop:deployment/api", PolicyChange{Automated: ptr(false)}},
	{"flow-rs-automate", "flow.yaml", "default:replicaset/rs", PolicyChange{Automated: ptr(true)}},
	{"list-lock", "list.yaml", "one:deployment/a", lock},
	{"list-cron-unlock", "list.yaml", "default:cronjob/nightly", PolicyChange{Locked: ptr(false)}},
	{"list-cron-init-tag", "list.yaml", "default:cronjob/nightly", PolicyChange{Tags: map[string]string{"wait": "semver:^1"}}},
	{"cronjob-automate", "cronjob.yaml", "ops:cronjob/backup", PolicyChange{Automated: ptr(true)}},
	{"pod-crlf-lock", "pod-crlf.yaml", "default:pod/debug", lock},
	{"job-indent4-lock", "job-indent4.yaml", "shop:job/migrate", lock},
}

func TestSetPolicyGolden(t *testing.T) {
	for _, tc := range policyCases {
		t.Run(tc.name, func(t *testing.T) {
			src := readInput(t, tc.input)
			w := findOne(t, tc.input, src, tc.id)
			out, err := SetPolicy(src, w, tc.change)
			if err != nil {
				t.Fatal(err)
			}
			assertGolden(t, tc.name, out)
			validJSON(t, tc.input, out)

			// The result reads as the change says.
			w2 := findOne(t, tc.input, out, tc.id)
			got, before := w2.Policy(), w.Policy()
			if c := tc.change.Automated; c != nil && got.Automated != *c {
				t.Errorf("automated = %v", got.Automated)
			}
			if c := tc.change.Locked; c != nil {
				if got.Locked != *c || got.LockedUser != tc.change.LockedUser || got.LockedMsg != tc.change.LockedMsg {
					t.Errorf("lock = %v %q %q", got.Locked, got.LockedUser, got.LockedMsg)
				}
			}
			for c, p := range tc.change.Tags {
				if p == "*" {
					p = ""
				}
				if got.Tags[c] != p {
					t.Errorf("tag %s = %q, want %q", c, got.Tags[c], p)
				}
			}
			if before.Prefix != "" && got.Prefix != "" && got.Prefix != before.Prefix {
				t.Errorf("prefix changed from %q to %q", before.Prefix, got.Prefix)
			}
		})
	}
}

// TestPolicyRoundTrip checks that a change and its opposite give back the
// file byte for byte.
func TestPolicyRoundTrip(t *testing.T) {
	unlock := PolicyChange{Locked: ptr(false)}
	tests := []struct {
		input, id string
		do, undo  PolicyChange
	}{
		{"deployments.yaml", "shop:deployment/web", lock, unlock},
		{"deployments.yaml", "default:statefulset/db", lock, unlock},
		{"deployments.yaml", "default:statefulset/db", PolicyChange{Automated: ptr(true)}, PolicyChange{Automated: ptr(false)}},
		{"deployments.yaml", "default:statefulset/db", PolicyChange{Tags: map[string]string{"postgres": "semver:16"}}, PolicyChange{Tags: map[string]string{"postgres": "*"}}},
		{"flux-v1.yaml", "shop:deployment/api", lock, unlock},
		{"flux-v1.yaml", "shop:deployment/api", PolicyChange{Tags: map[string]string{"cache": "semver:7"}}, PolicyChange{Tags: map[string]string{"cache": ""}}},
		{"flow.yaml", "shop:deployment/api", lock, unlock},
		{"flow.yaml", "default:replicaset/rs", lock, unlock},
		{"list.yaml", "one:deployment/a", lock, unlock},
		{"cronjob.yaml", "ops:cronjob/backup", lock, unlock},
		{"pod-crlf.yaml", "default:pod/debug", lock, unlock},
		{"job-indent4.yaml", "shop:job/migrate", lock, unlock},
		{"deployment.json", "shop:deployment/shop-api", lock, unlock},
		{"deployment.json", "shop:deployment/shop-api", PolicyChange{Tags: map[string]string{"cache": "semver:7"}}, PolicyChange{Tags: map[string]string{"cache": "*"}}},
	}
	for _, tc := range tests {
		t.Run(tc.input+" "+tc.id, func(t *testing.T) {
			src := readInput(t, tc.input)
			w := findOne(t, tc.input, src, tc.id)
			mid, err := SetPolicy(src, w, tc.do)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(mid, src) {
				t.Fatal("the change changed nothing")
			}
			out, err := SetPolicy(mid, w, tc.undo)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, src) {
				t.Errorf("not back to the input:\n%s", out)
			}
			// A second application changes nothing.
			again, err := SetPolicy(mid, w, tc.do)
			if err != nil || !bytes.Equal(again, mid) {
				t.Errorf("applying the change twice: %v\n%s", err, again)
			}
		})
	}
}

func TestSetImage(t *testing.T) {
	tests := []struct {
		name, input, id, container, image string
	}{
		{"image-plain-with-comment", "deployments.yaml", "shop:deployment/web", "web", "registry.example.com/shop/web:1.5.0"},
		{"image-double-quoted", "deployments.yaml", "shop:deployment/web", "envoy", "envoyproxy/envoy:v1.31.0"},
		{"image-init", "deployments.yaml", "shop:deployment/web", "migrate", "registry.example.com/shop/migrate:1.5.0"},
		{"image-flow", "flow.yaml", "shop:deployment/api", "log", "fluent/fluent-bit:3.1"},
		{"image-list-cron", "list.yaml", "default:cronjob/nightly", "report", "reporter:1.0"},
		{"image-cronjob-single-quoted", "cronjob.yaml", "ops:cronjob/backup", "backup", "backup:3.3"},
		{"image-crlf", "pod-crlf.yaml", "default:pod/debug", "shell", "busybox:1.37"},
		{"image-json", "deployment.json", "shop:deployment/shop-api", "api", "registry.example.com/shop/api:2.1.0"},
		{"image-json-init", "deployment.json", "shop:deployment/shop-api", "migrate", "registry.example.com/shop/migrate:2.1.0@sha256:0123"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := readInput(t, tc.input)
			w := findOne(t, tc.input, src, tc.id)
			out, err := SetImage(src, w, tc.container, tc.image)
			if err != nil {
				t.Fatal(err)
			}
			assertGolden(t, tc.name, out)
			validJSON(t, tc.input, out)
			c, _ := findOne(t, tc.input, out, tc.id).Container(tc.container)
			if c.Image != tc.image {
				t.Errorf("image is %q", c.Image)
			}
		})
	}
}

func TestEditErrors(t *testing.T) {
	src := readInput(t, "deployments.yaml")
	web := findOne(t, "deployments.yaml", src, "shop:deployment/web")

	if _, err := SetImage(src, web, "nope", "x"); err == nil || !strings.Contains(err.Error(), `has no container "nope": it has web, envoy, migrate`) {
		t.Errorf("unknown container: %v", err)
	}
	if _, err := SetPolicy(src, web, PolicyChange{Tags: map[string]string{"nope": "semver:1"}}); err == nil || !strings.Contains(err.Error(), `no container "nope"`) {
		t.Errorf("tag for an unknown container: %v", err)
	}
	if _, err := SetPolicy(src, web, PolicyChange{LockedMsg: "x"}); err == nil || !strings.Contains(err.Error(), "needs a lock") {
		t.Errorf("message without lock: %v", err)
	}
	gone := web
	gone.ID.Name = "gone"
	if out, err := SetImage(src, gone, "web", "x"); err == nil || !strings.Contains(err.Error(), "workload shop:deployment/gone is not in deployments.yaml") || !bytes.Equal(out, src) {
		t.Errorf("workload not in the file: %v", err)
	}

	// The file changed since the workload was found: it moved to
	// another document. It is found by its ID.
	moved := append([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first\n---\n"), src...)
	out, err := SetImage(moved, web, "web", "web:2")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("image: web:2 # {")) {
		t.Errorf("moved workload not edited:\n%s", out)
	}
	twice := append(append(append([]byte{}, moved...), []byte("---\n")...), src...)
	if _, err := SetImage(twice, web, "web", "web:2"); err == nil || !strings.Contains(err.Error(), "2 times") {
		t.Errorf("workload twice in the file: %v", err)
	}

	// An image that setters refuses to edit.
	anchored := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: &i a:1\n      - name: b\n        image: *i\n")
	w := findOne(t, "a.yaml", anchored, "default:deployment/a")
	if out, err := SetImage(anchored, w, "a", "a:2"); !errors.Is(err, setters.ErrUnsupported) || !bytes.Equal(out, anchored) {
		t.Errorf("anchored image: %v", err)
	}
}

// TestParseRefusesCostlyYAML: a repository file of a few hundred bytes
// whose aliases expand to gigabytes is refused by name before it is parsed.
func TestParseRefusesCostlyYAML(t *testing.T) {
	bomb := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: demo}\n" + yamlbomb.Laughs("")
	_, err := Parse("deploy/bomb.yaml", []byte(bomb), "default")
	if err == nil || !strings.Contains(err.Error(), "deploy/bomb.yaml") || !strings.Contains(err.Error(), "alias") {
		t.Fatalf("Parse of an alias bomb: %v, want an error naming deploy/bomb.yaml and its aliases", err)
	}
}
