package setters

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// markerChoices are what the policies of the marker test files chose.
var markerChoices = map[PolicyRef]ImageRef{
	{"flux-system", "app"}:        {Name: "ghcr.io/org/app", Tag: "4.1.0"},
	{"flux-system", "proxy"}:      {Name: "ghcr.io/org/proxy", Tag: "1.3.0"},
	{"flux-system", "app-digest"}: {Name: "ghcr.io/org/app", Tag: "4.1.0", Digest: "sha256:" + strings.Repeat("b", 64)},
	{"flux-system", "numeric"}:    {Name: "ghcr.io/org/worker", Tag: "4.1"},
	// flux-system:no-choice has chosen nothing yet.
}

func lookupChoice(p PolicyRef) (ImageRef, bool) {
	r, ok := markerChoices[p]
	return r, ok
}

func markerList(ms []Marker) []byte {
	var b bytes.Buffer
	for _, m := range ms {
		fmt.Fprintf(&b, "- line %d, %s: %s part %s = %q\n", m.Line, m.Target, m.Policy, m.Part, m.Value)
	}
	return b.Bytes()
}

// TestMarkersGolden finds the markers of every marker form, in block and
// flow style with comments around, and updates them: the list of markers
// and the updated file are golden files. The update must change only the
// marked values' bytes: every other line is the same, and on a changed line
// everything before and after the value is.
func TestMarkersGolden(t *testing.T) {
	for _, name := range []string{"markers-block", "markers-flow", "markers-crlf"} {
		t.Run(name, func(t *testing.T) {
			src := readInput(t, name+".yaml")
			markers, err := FindMarkers(name+".yaml", src)
			if err != nil {
				t.Fatalf("FindMarkers: %v", err)
			}
			assertGolden(t, name+"-found", markerList(markers))

			out, changes, err := UpdateMarkers(name+".yaml", src, lookupChoice)
			if err != nil {
				t.Fatalf("UpdateMarkers: %v", err)
			}
			assertGolden(t, name+"-updated", out)
			if len(changes) == 0 {
				t.Fatal("no change")
			}
			assertOnlyValuesChanged(t, src, out, changes)

			// The markers are all still there, now holding the new values,
			// and a second update changes nothing.
			again, err := FindMarkers(name+".yaml", out)
			if err != nil || len(again) != len(markers) {
				t.Fatalf("after the update: %d markers (%v), want %d", len(again), err, len(markers))
			}
			next := map[string]string{}
			for _, c := range changes {
				next[c.Target.String()] = c.NewValue
			}
			for i, m := range again {
				want := markers[i]
				if v, ok := next[want.Target.String()]; ok {
					want.Value = v
				}
				if m.String() != want.String() || m.Value != want.Value {
					t.Errorf("after the update: marker %v = %q, want %v = %q", m, m.Value, want, want.Value)
				}
			}
			out2, changes2, err := UpdateMarkers(name+".yaml", out, lookupChoice)
			if err != nil || len(changes2) != 0 || !bytes.Equal(out2, out) {
				t.Errorf("second update: %d changes, %v", len(changes2), err)
			}
		})
	}
}

// assertOnlyValuesChanged checks that out is src with only the old values
// of the changes replaced, each on its own line.
func assertOnlyValuesChanged(t *testing.T, src, out []byte, changes []MarkerChange) {
	t.Helper()
	a, b := bytes.SplitAfter(src, []byte("\n")), bytes.SplitAfter(out, []byte("\n"))
	if len(a) != len(b) {
		t.Fatalf("%d lines became %d", len(a), len(b))
	}
	changed := map[int]MarkerChange{}
	for _, c := range changes {
		changed[c.Line-1] = c
	}
	for i := range a {
		c, ok := changed[i]
		if !ok {
			if !bytes.Equal(a[i], b[i]) {
				t.Errorf("line %d changed without a marker: %q -> %q", i+1, a[i], b[i])
			}
			continue
		}
		p := 0
		for p < len(a[i]) && p < len(b[i]) && a[i][p] == b[i][p] {
			p++
		}
		q := 0
		for q < len(a[i])-p && q < len(b[i])-p && a[i][len(a[i])-1-q] == b[i][len(b[i])-1-q] {
			q++
		}
		oldText, newText := string(a[i][p:len(a[i])-q]), string(b[i][p:len(b[i])-q])
		// The differing bytes lie inside the value: its text, with quotes
		// when it needs them.
		if !strings.Contains(c.OldValue, strings.Trim(oldText, `"'`)) || !strings.Contains(c.NewValue, strings.Trim(newText, `"'`)) {
			t.Errorf("line %d: %q became %q, more than the value %q -> %q", i+1, oldText, newText, c.OldValue, c.NewValue)
		}
		if !bytes.Contains(b[i], []byte(MarkerKey)) {
			t.Errorf("line %d lost its marker: %q", i+1, b[i])
		}
	}
}

func TestHasMarkersIsACheapPreCheck(t *testing.T) {
	// Not even YAML: without the quoted key the file is not parsed.
	for _, src := range []string{"{: [", "$imagepolicy: x\n: [", "image: x # {$imagepolicy: a:b}\n"} {
		ms, err := FindMarkers("f.yaml", []byte(src))
		if ms != nil || err != nil {
			t.Errorf("FindMarkers(%q) = %v, %v, want nothing", src, ms, err)
		}
	}
	if _, err := FindMarkers("f.yaml", []byte("{: [ # \"$imagepolicy\"\n")); err == nil || !strings.HasPrefix(err.Error(), "f.yaml: ") {
		t.Errorf("a file with the key that does not parse: %v, want an error naming the file", err)
	}
}

func TestFindMarkersErrors(t *testing.T) {
	good := "good: v # {\"$imagepolicy\": \"ns:good\"}\nprose: x # $imagepolicy markers are JSON, this is not one\n"
	tests := []struct {
		name, src, want string
	}{
		{"not JSON", `a: b # {"$imagepolicy": ns:app}`, `f.yaml:4: the comment # {"$imagepolicy": ns:app} mentions $imagepolicy but is not a JSON object`},
		{"other keys", `a: b # {"$imagepolicy": "ns:app", "x": 1}`, "is not a setter marker"},
		{"not a string", `a: b # {"$imagepolicy": 3}`, "is not a string"},
		{"one part", `a: b # {"$imagepolicy": "app"}`, `"app" is not <namespace>:<policy>`},
		{"four parts", `a: b # {"$imagepolicy": "ns:app:tag:x"}`, "is not <namespace>:<policy>"},
		{"unknown part", `a: b # {"$imagepolicy": "ns:app:version"}`, `unknown part "version"`},
		{"empty namespace", `a: b # {"$imagepolicy": ":app"}`, "empty namespace or policy name"},
		{"after a key", "a: # {\"$imagepolicy\": \"ns:app\"}\n  b: c", `after the key "a", whose value is a mapping`},
		{"after a flow mapping ending on another line", "a: {image: x,\n  b: y\n  } # {\"$imagepolicy\": \"ns:app\"}", "after a flow mapping whose last value is not a scalar on the marker's line"},
		{"after a flow sequence ending in a mapping", `a: [x, {}] # {"$imagepolicy": "ns:app"}`, "after a flow sequence whose last value is not a scalar"},
		{"alias", "x: &i v\na: *i # {\"$imagepolicy\": \"ns:app\"}", "after an alias (*i)"},
		{"lone scalar", `v # {"$imagepolicy": "ns:app"}`, "lone scalar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := []byte(good + "---\n" + tt.src + "\n")
			ms, err := FindMarkers("f.yaml", src)
			var me *MarkerError
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.As(err, &me) {
				t.Fatalf("FindMarkers error %v, want a MarkerError containing %q", err, tt.want)
			}
			if len(ms) != 1 || ms[0].Policy.Name != "good" {
				t.Errorf("markers %v, want the good one still found", ms)
			}
			// Updating refuses the file and returns it unchanged.
			out, changes, err := UpdateMarkers("f.yaml", src, func(PolicyRef) (ImageRef, bool) { return ImageRef{Name: "n", Tag: "t"}, true })
			if err == nil || !bytes.Equal(out, src) || changes != nil {
				t.Errorf("UpdateMarkers = %q, %v, %v, want the input and an error", out, changes, err)
			}
		})
	}
}

func TestUpdateMarkersRefusesWholeFile(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{
			"digest without a digest",
			"a: x # {\"$imagepolicy\": \"ns:app\"}\nb: sha256:1 # {\"$imagepolicy\": \"ns:app:digest\"}\n",
			"f.yaml:2: marker for ns:app: a :digest marker needs the policy to report a digest",
		},
		{
			"block scalar",
			"a: x # {\"$imagepolicy\": \"ns:app\"}\nb: | # {\"$imagepolicy\": \"ns:app:tag\"}\n  v\n",
			"f.yaml:2: marker for ns:app: document 0: b: the value is a block scalar",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changes, err := UpdateMarkers("f.yaml", []byte(tt.src), func(PolicyRef) (ImageRef, bool) { return ImageRef{Name: "n", Tag: "t"}, true })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if string(out) != tt.src || changes != nil {
				t.Errorf("the file changed: %q", out)
			}
		})
	}
}

func TestImageRefValue(t *testing.T) {
	r := ImageRef{Name: "ghcr.io/org/app", Tag: "1.2", Digest: "sha256:abc"}
	for part, want := range map[Part]string{PartFull: "ghcr.io/org/app:1.2@sha256:abc", PartName: "ghcr.io/org/app", PartTag: "1.2", PartDigest: "sha256:abc"} {
		if got, err := r.Value(part); err != nil || got != want {
			t.Errorf("Value(%s) = %q, %v, want %q", part, got, err, want)
		}
	}
	r.Digest = ""
	if got, _ := r.Value(PartFull); got != "ghcr.io/org/app:1.2" {
		t.Errorf("full without a digest = %q", got)
	}
	if _, err := r.Value(PartDigest); err == nil {
		t.Error("digest part without a digest: no error")
	}
}
