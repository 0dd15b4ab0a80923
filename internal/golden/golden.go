// Package golden compares test output with files under testdata/, and
// rewrites them when the test runs with -update.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Dir is a folder of test inputs with their golden outputs in Dir/golden.
type Dir string

// Read returns an input file.
func (d Dir) Read(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(string(d), name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Assert compares got with golden/<name>.yaml, or writes it there with
// -update.
func (d Dir) Assert(t testing.TB, name string, got []byte) {
	t.Helper()
	file := filepath.Join(string(d), "golden", name+".yaml")
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(string(want)), B: difflib.SplitLines(string(got)),
			FromFile: file, ToFile: "got", Context: 2,
		})
		t.Errorf("output differs from %s:\n%s%q", file, diff, got)
	}
}
