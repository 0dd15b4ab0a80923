package source

import (
	"context"
	"fmt"
	"io/fs"
	"testing"
)

// BenchmarkReadTree reads 1000 small files of one commit through a fresh
// snapshot each time: open, walk, read every file. "loose" has the objects
// as git commit leaves them, "packed" as a clone or git gc does.
func BenchmarkReadTree(b *testing.B) {
	for _, packed := range []bool{false, true} {
		name := "loose"
		if packed {
			name = "packed"
		}
		b.Run(name, func(b *testing.B) {
			r := benchRepo(b, packed)
			b.ResetTimer()
			for b.Loop() {
				s, err := Open(context.Background(), Spec{Repo: r})
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				err = fs.WalkDir(s.FS, ".", func(p string, d fs.DirEntry, err error) error {
					if err != nil || d.IsDir() {
						return err
					}
					if _, err := fs.ReadFile(s.FS, p); err != nil {
						return err
					}
					n++
					return nil
				})
				if err != nil || n != 1000 {
					b.Fatalf("read %d files: %v", n, err)
				}
			}
		})
	}
}

// benchRepo commits 1000 small YAML files in 20 directories.
func benchRepo(b *testing.B, packed bool) string {
	b.Helper()
	r := newRepo(b)
	files := map[string]string{}
	for i := range 1000 {
		files[fmt.Sprintf("apps/app%02d/res%03d.yaml", i%20, i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  n: \"%d\"\n", i, i)
	}
	r.commit("1000 files", files)
	if packed {
		r.git("gc", "-q")
	}
	return r.dir
}
