package setters

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	yamlv2 "go.yaml.in/yaml/v2"

	"github.com/kubectl-gitops/kubectl-gitops/internal/golden"
)

const testdata = golden.Dir("../../testdata/setters")

func readInput(t *testing.T, name string) []byte { return testdata.Read(t, name) }

func assertGolden(t *testing.T, name string, got []byte) { testdata.Assert(t, name, got) }

// Targets used by the tests.

func podSpec(doc int, prefix ...string) []string {
	return append(append([]string{}, prefix...), "spec", "template", "spec")
}

func image(doc int, list, container string, prefix ...string) Target {
	return Target{Doc: doc, Path: append(podSpec(doc, prefix...), list, "[name="+container+"]", "image")}
}

func ann(doc int, key string, prefix ...string) Target {
	return Target{Doc: doc, Path: append(append([]string{}, prefix...), "metadata", "annotations", key)}
}

func set(t Target, v string) Edit { return Edit{Target: t, Value: v} }
func del(t Target) Edit           { return Edit{Target: t, Delete: true} }

const (
	locked     = "kubectl-gitops.dev/locked"
	lockedMsg  = "kubectl-gitops.dev/locked_msg"
	lockedUser = "kubectl-gitops.dev/locked_user"
)

var cronImage = Target{Doc: 3, Path: []string{"spec", "jobTemplate", "spec", "template", "spec", "containers", "0", "image"}}

// goldenCases are edits whose output is a golden file, named after the
// case. Each output is also checked to change nothing but what the case
// names, by undoing the case where it can be undone (see TestRoundTrip).
var goldenCases = []struct {
	name  string
	input string
	edits []Edit
}{
	{"deployment-image", "deployment.yaml", []Edit{set(image(0, "containers", "web"), "registry.example.com/shop/web:1.5.0")}},
	{"deployment-init-image", "deployment.yaml", []Edit{set(image(0, "initContainers", "migrate"), "registry.example.com/shop/migrate:1.5.0")}},
	{"deployment-image-needs-quotes", "deployment.yaml", []Edit{set(image(0, "containers", "sidecar"), "#weird: tag")}},
	{"deployment-lock", "deployment.yaml", []Edit{
		set(ann(0, locked), "true"),
		set(ann(0, lockedUser), "Jane Doe <jane@example.com>"),
		set(ann(0, lockedMsg), "release freeze: \"Q3\""),
	}},
	{"deployment-replace-annotation", "deployment.yaml", []Edit{set(ann(0, "kubectl-gitops.dev/automated"), "false")}},
	{"deployment-delete-annotation", "deployment.yaml", []Edit{del(ann(0, "team"))}},
	{"deployment-delete-all-annotations", "deployment.yaml", []Edit{del(ann(0, "team")), del(ann(0, "kubectl-gitops.dev/automated"))}},
	{"indent4-image", "indent4.yaml", []Edit{set(image(0, "containers", "exporter"), "quay.io/prometheuscommunity/postgres-exporter:v0.16.0")}},
	{"indent4-lock", "indent4.yaml", []Edit{set(ann(0, locked), "true")}},
	{"indent4-pod-annotation", "indent4.yaml", []Edit{set(Target{Path: []string{"spec", "template", "metadata", "annotations", "x"}}, "y")}},
	{"flow-image", "flow.yaml", []Edit{
		set(image(0, "containers", "wéb"), "registry.example.com/shop/api:3.2"),
		set(image(0, "containers", "log"), "fluent/fluent-bit:3.1"),
	}},
	{"flow-image-needs-quotes", "flow.yaml", []Edit{set(image(0, "containers", "log"), "fluent/fluent-bit:3.1,beta")}},
	{"flow-lock", "flow.yaml", []Edit{set(ann(0, "fluxcd.io/locked"), "true"), set(ann(0, "fluxcd.io/locked_msg"), "it's frozen")}},
	{"flow-delete-first", "flow.yaml", []Edit{del(ann(0, "fluxcd.io/automated"))}},
	{"flow-delete-last", "flow.yaml", []Edit{del(ann(0, "note"))}},
	{"flow-delete-all", "flow.yaml", []Edit{del(ann(0, "note")), del(ann(0, "fluxcd.io/automated"))}},
	{"flow-create-in-flow-metadata", "flow.yaml", []Edit{set(Target{Path: []string{"metadata", "labels", "app"}}, "api")}},
	{"flow-multiline-add", "flow-multiline.yaml", []Edit{set(ann(0, "flux.weave.works/locked"), "true")}},
	{"flow-multiline-delete", "flow-multiline.yaml", []Edit{del(ann(0, "flux.weave.works/tag.agent"))}},
	{"flow-multiline-image", "flow-multiline.yaml", []Edit{set(Target{Path: append(podSpec(0), "containers", "0", "image")}, "agent:1.1")}},
	{"flow-empty-add", "flow-empty.yaml", []Edit{set(ann(0, locked), "true")}},
	{"flow-empty-label", "flow-empty.yaml", []Edit{set(Target{Path: []string{"metadata", "labels", "tier"}}, "backend")}},
	{"crlf-image", "crlf.yaml", []Edit{set(image(0, "containers", "app"), "app:1.1")}},
	{"crlf-lock", "crlf.yaml", []Edit{set(ann(0, locked), "true"), set(ann(0, lockedMsg), "no")}},
	{"crlf-create-annotations", "crlf-noannotations.yaml", []Edit{set(ann(0, locked), "true")}},
	{"multidoc-image", "multidoc.yaml", []Edit{set(image(1, "containers", "web"), "nginx:1.26")}},
	{"multidoc-cron-image", "multidoc.yaml", []Edit{set(cronImage, "reporter:1.0")}},
	{"multidoc-lock", "multidoc.yaml", []Edit{set(ann(1, locked), "true"), set(ann(3, locked), "true")}},
	{"list-image", "list.yaml", []Edit{set(image(0, "containers", "b", "items", "1"), "b:2")}},
	{"list-lock-first", "list.yaml", []Edit{set(ann(0, "fluxcd.io/locked", "items", "0"), "true")}},
	{"list-unlock-second", "list.yaml", []Edit{del(ann(0, "fluxcd.io/locked", "items", "1")), del(ann(0, "fluxcd.io/locked_msg", "items", "1"))}},
	{"anchors-other-image", "anchors.yaml", []Edit{set(image(0, "containers", "other"), "other:2.0")}},
	{"anchors-lock", "anchors.yaml", []Edit{set(ann(0, locked), "true")}},
	{"blockscalars-image", "blockscalars.yaml", []Edit{set(image(0, "containers", "migrate"), "migrate:3")}},
	{"blockscalars-lock", "blockscalars.yaml", []Edit{set(ann(0, locked), "true"), set(ann(1, locked), "true")}},
	{"json-image", "quoted.yaml", []Edit{set(image(0, "containers", "app"), "app:1.1")}},
	{"json-lock", "quoted.yaml", []Edit{set(ann(0, "fluxcd.io/locked"), "true")}},
	{"json-delete", "quoted.yaml", []Edit{del(ann(0, "fluxcd.io/automated"))}},
	{"json-create-labels", "quoted.yaml", []Edit{set(Target{Path: []string{"metadata", "labels", "app"}}, "json")}},
	{"single-image", "single-quoted.yaml", []Edit{set(image(0, "containers", "app"), "app:1.2.1")}},
	{"single-image-with-quote", "single-quoted.yaml", []Edit{set(image(0, "containers", "app"), "it's:1")}},
	{"single-add", "single-quoted.yaml", []Edit{set(ann(0, "fluxcd.io/locked"), "true")}},
	{"single-replace-escaped", "single-quoted.yaml", []Edit{set(ann(0, "fluxcd.io/locked_msg"), "it's still frozen")}},
	{"noeol-image", "pod-noeol.yaml", []Edit{set(Target{Path: []string{"spec", "containers", "0", "image"}}, "app:2")}},
	{"noeol-annotation", "pod-noeol.yaml", []Edit{set(ann(0, locked), "true")}},
	{"noeol-append-last", "pod-noeol.yaml", []Edit{set(Target{Path: []string{"spec", "containers", "0", "imagePullPolicy"}}, "Always")}},
	{"null-annotations", "null-annotations.yaml", []Edit{set(ann(0, locked), "true"), set(ann(1, locked), "true")}},
	{"plain-annotations", "plain-annotations.yaml", []Edit{
		set(ann(0, lockedUser), "jane"),
		set(ann(0, locked), "true"),
		set(ann(0, "description"), "the shop: front end"),
	}},
	{"nometadata", "nometadata.yaml", []Edit{set(ann(0, locked), "true")}},
	{"deployment-podspec-add", "deployment.yaml", []Edit{set(Target{Path: append(podSpec(0), "serviceAccountName")}, "web")}},
	{"deployment-delete-first-key-of-item", "deployment.yaml", []Edit{del(Target{Path: append(podSpec(0), "containers", "[name=sidecar]", "name")})}},
	{"multiline-plain", "multiline.yaml", []Edit{set(ann(0, "fluxcd.io/locked_msg"), "frozen")}},
	{"multiline-double", "multiline.yaml", []Edit{set(ann(0, "description"), "short")}},
	{"multiline-delete", "multiline.yaml", []Edit{del(ann(0, "fluxcd.io/locked_msg")), del(ann(0, "description"))}},
	{"empty-image", "multiline.yaml", []Edit{set(image(0, "containers", "app"), "app:1")}},
	{"first-key-on-dash-line", "multiline.yaml", []Edit{set(image(0, "containers", "sidecar"), "sidecar:2")}},
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			src := readInput(t, tc.input)
			got, err := Apply(src, tc.edits...)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(got, src) {
				t.Fatal("nothing changed")
			}
			assertGolden(t, tc.name, got)
		})
	}
}

// TestRoundTrip sets keys that do not exist and deletes them again: the
// file must come back byte for byte.
func TestRoundTrip(t *testing.T) {
	lock := []Target{ann(0, locked), ann(0, lockedUser), ann(0, lockedMsg)}
	tests := []struct {
		input   string
		targets []Target
	}{
		{"deployment.yaml", lock},
		{"indent4.yaml", lock},
		{"indent4.yaml", []Target{{Path: []string{"spec", "template", "metadata", "annotations", "x"}}}},
		{"flow.yaml", lock},
		{"flow.yaml", []Target{{Path: []string{"metadata", "labels", "app"}}}},
		{"flow-multiline.yaml", lock},
		{"flow-empty.yaml", lock},
		{"flow-empty.yaml", []Target{{Path: []string{"metadata", "labels", "tier"}}}},
		{"crlf.yaml", lock},
		{"crlf-noannotations.yaml", lock},
		{"multidoc.yaml", []Target{ann(1, locked), ann(3, locked), ann(3, lockedMsg), ann(0, "x")}},
		{"list.yaml", []Target{ann(0, locked, "items", "0"), ann(0, locked, "items", "1")}},
		{"anchors.yaml", lock},
		{"blockscalars.yaml", []Target{ann(0, locked), ann(1, locked), ann(1, lockedMsg)}},
		{"quoted.yaml", lock},
		{"quoted.yaml", []Target{{Path: []string{"metadata", "labels", "app"}}}},
		{"single-quoted.yaml", lock},
		{"pod-noeol.yaml", lock},
		{"pod-noeol.yaml", []Target{{Path: []string{"spec", "containers", "0", "imagePullPolicy"}}}},
		{"plain-annotations.yaml", lock},
		{"nometadata.yaml", lock},
	}
	for _, tc := range tests {
		t.Run(tc.input+" "+tc.targets[0].String(), func(t *testing.T) {
			src := readInput(t, tc.input)
			out := src
			var err error
			for i, target := range tc.targets {
				if out, err = Set(out, target, "v"+strings.Repeat("x", i)); err != nil {
					t.Fatal(err)
				}
			}
			// Delete in another order than the sets.
			for i := range tc.targets {
				target := tc.targets[(i+1)%len(tc.targets)]
				if out, err = Delete(out, target); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(out, src) {
				t.Errorf("set then delete did not give back the input:\n%s", out)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		edit    Edit
		wantErr string
		// unsupported says the error must wrap ErrUnsupported.
		unsupported bool
	}{
		{"block scalar target", "blockscalars.yaml", set(ann(0, "description"), "x"), "block scalar", true},
		{"anchored image used by an alias", "anchors.yaml", set(image(0, "containers", "app"), "app:2"), "&img", true},
		{"alias value", "anchors.yaml", set(Target{Path: append(podSpec(0), "containers", "0", "env", "0", "value")}, "x"), "alias (*img)", true},
		{"through an alias", "anchors.yaml", set(Target{Path: []string{"spec", "selector", "matchLabels", "app"}}, "x"), "alias", true},
		{"no such container", "deployment.yaml", set(image(0, "containers", "nope"), "x"), "sequence items are not created", false},
		{"index out of range", "deployment.yaml", set(Target{Path: append(podSpec(0), "containers", "7", "image")}, "x"), "sequence items are not created", false},
		{"no such document", "deployment.yaml", set(Target{Doc: 3, Path: []string{"a"}}, "x"), "no document 3", false},
		{"empty document", "multidoc.yaml", set(Target{Doc: 2, Path: []string{"a"}}, "x"), "the document is null", false},
		{"mapping as scalar", "deployment.yaml", set(Target{Path: []string{"metadata"}}, "x"), "not a scalar", false},
		{"scalar as mapping", "deployment.yaml", set(Target{Path: []string{"kind", "x"}}, "x"), "kind is a scalar", false},
		{"key as sequence", "deployment.yaml", set(Target{Path: append(podSpec(0), "containers", "web", "image")}, "x"), "not a sequence index", false},
		{"selector matching nothing", "deployment.yaml", set(Target{Path: append(podSpec(0), "containers", "[ports=x]", "image")}, "x"), "no item matches [ports=x] (sequence items are not created)", false},
		{"ambiguous selector", "duplicates.yaml", set(image(0, "containers", "app"), "x"), "items 0 and 1 both match [name=app]", false},
		{"duplicate key", "duplicates.yaml", set(ann(0, "fluxcd.io/automated"), "x"), `"fluxcd.io/automated" is there twice, on lines 6 and 7`, false},
		{"duplicate key delete", "duplicates.yaml", del(ann(0, "fluxcd.io/automated")), "there twice", false},
		{"invalid UTF-8", "deployment.yaml", set(ann(0, "x"), "\xff"), "UTF-8", false},
		{"sequence item delete", "deployment.yaml", del(Target{Path: append(podSpec(0), "containers", "0")}), "only mapping entries", false},
		{"empty path", "deployment.yaml", set(Target{}, "x"), "empty path", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := readInput(t, tc.input)
			out, err := Apply(src, tc.edit)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if tc.unsupported != errors.Is(err, ErrUnsupported) {
				t.Errorf("errors.Is(%v, ErrUnsupported) = %v", err, !tc.unsupported)
			}
			if !bytes.Equal(out, src) {
				t.Error("the input was not returned unchanged")
			}
		})
	}
}

func TestParse(t *testing.T) {
	docs, err := Parse(readInput(t, "multidoc.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, d := range docs {
		kinds = append(kinds, d.GetKind())
	}
	if strings.Join(kinds, ",") != "Service,Deployment,,CronJob" {
		t.Errorf("kinds %v", kinds)
	}

	for _, tc := range []struct {
		src  string
		line int
		msg  string
	}{
		{"a: 1\n---\nb: [x\n", 3, "did not find expected ',' or ']'"},
		{"a: b\n c: d\n", 2, "mapping values are not allowed in this context"},
		{"a: 1\nmetadata:\n  name: x\n bad: y\n", 4, "did not find expected key"},
		{"a: 1\nb: \"x\n", 2, "found unexpected end of stream"},
		{"\xfe\xffa", 0, "UTF-16"},
		{"a: 1\nb: \xff\n", 2, "invalid UTF-8"},
	} {
		_, err := Parse([]byte(tc.src))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != tc.line || !strings.Contains(pe.Msg, tc.msg) {
			t.Errorf("Parse(%q) = %v, want line %d: %s", tc.src, err, tc.line, tc.msg)
		}
	}
}

func TestLookup(t *testing.T) {
	src := readInput(t, "anchors.yaml")
	for _, tc := range []struct {
		target Target
		want   string
		found  bool
	}{
		{image(0, "containers", "app"), "app:1.0", true},
		{Target{Path: append(podSpec(0), "containers", "0", "env", "[name=IMAGE]", "value")}, "app:1.0", true},
		{ann(0, "x"), "", false},
		{image(0, "containers", "nope"), "", false},
	} {
		v, found, err := Lookup(src, tc.target)
		if err != nil || v != tc.want || found != tc.found {
			t.Errorf("Lookup(%s) = %q, %v, %v; want %q, %v", tc.target, v, found, err, tc.want, tc.found)
		}
	}
	if _, _, err := Lookup(src, Target{Path: []string{"metadata"}}); err == nil {
		t.Error("Lookup of a mapping gave no error")
	}
}

// TestSetImageStyles sets awkward values into images written in every
// style and layout, and checks that each edit is made (not refused) and
// that kubectl's YAML 1.1 decoding reads the new value back.
func TestSetImageStyles(t *testing.T) {
	layouts := []struct {
		name, src string
		path      []string
	}{
		{"block", "spec:\n  containers:\n  - name: a\n    image: %s\n  - name: b\n    image: x\n", nil},
		{"indented with comment", "spec:\n    containers:\n        - name: a\n          image: %s # c\n", nil},
		{"first key on the dash line", "spec:\n  containers:\n  - image: %s\n    name: a\n", nil},
		{"flow item", "spec:\n  containers:\n  - {name: a, image: %s}\n", nil},
		{"flow sequence", "spec: {containers: [{name: a, image: %s}, {name: b, image: x}]}\n", nil},
		{"json", "{\"spec\": {\"containers\": [{\"name\": \"a\", \"image\": %s}]}}", nil},
		{"crlf", "spec:\r\n  containers:\r\n  - name: a\r\n    image: %s\r\n", nil},
		{"no final line break", "spec:\n  containers:\n  - name: a\n    image: %s", nil},
	}
	olds := []string{"app:1", "'app:1'", `"app:1"`, "!!str app:1", "&unused app:1", `"app\u003a1"`, "'it''s'"}
	news := []string{
		"app:2", "registry.example.com:5000/team/app@sha256:0123abcd", "a: b", "#x", "a #b", "a:", "*x", "&x", "!x",
		"|x", ">x", "%x", "@x", "`x", "- x", "? x", "[x]", "{x}", "a,b", "it's", `say "hi"`, "true", "yes", "on",
		"~", "null", "123", "0x1F", "1e3", "2001-12-14", "<<", "", " lead", "trail ", "tab\there", "new\nline",
		"ünïcode", "\u2028", "back\\slash",
	}
	for _, l := range layouts {
		for _, old := range olds {
			src := []byte(strings.Replace(l.src, "%s", old, 1))
			if _, err := Parse(src); err != nil {
				continue // not every style is valid in every layout
			}
			target := Target{Path: []string{"spec", "containers", "[name=a]", "image"}}
			for _, v := range news {
				out, err := Set(src, target, v)
				if err != nil {
					t.Errorf("%s, %s -> %q: %v", l.name, old, v, err)
					continue
				}
				var doc map[string]any
				if err := yamlv2.Unmarshal(out, &doc); err != nil {
					t.Errorf("%s, %s -> %q: kubectl cannot read the result: %v\n%s", l.name, old, v, err, out)
					continue
				}
				spec, _ := doc["spec"].(map[any]any)
				cs, _ := spec["containers"].([]any)
				c, _ := cs[0].(map[any]any)
				if c["image"] != v {
					t.Errorf("%s, %s -> %q: kubectl reads %#v\n%s", l.name, old, v, c["image"], out)
				}
			}
		}
	}
}
