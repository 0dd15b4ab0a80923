package tools

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// executableMagic are the first bytes of compiled programs: ELF, Mach-O
// (32, 64 and universal) and Windows PE.
var executableMagic = [][]byte{
	[]byte("\x7fELF"),
	{0xfe, 0xed, 0xfa, 0xce}, {0xce, 0xfa, 0xed, 0xfe},
	{0xfe, 0xed, 0xfa, 0xcf}, {0xcf, 0xfa, 0xed, 0xfe},
	{0xca, 0xfe, 0xba, 0xbe},
	[]byte("MZ"),
}

// TestNoCommittedBinaries fails on any compiled program tracked by git:
// build outputs belong in bin/ and dist/, which are ignored.
func TestNoCommittedBinaries(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed to list the tracked files:", err)
	}
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = top
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		if magic := compiled(t, filepath.Join(top, name)); magic {
			t.Errorf("%s is a compiled program committed to git: remove it (git rm --cached %s); build outputs go to bin/ or dist/", name, name)
		}
	}
}

// compiled says whether the file starts like a compiled program.
func compiled(t *testing.T, path string) bool {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return false // deleted in the work tree
		}
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	for _, m := range executableMagic {
		if n >= len(m) && bytes.Equal(head[:len(m)], m) {
			return true
		}
	}
	return false
}
