package treepath

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink}
}

// tree has every case: files, directories, chains of links, loops, and
// links out of the tree.
var tree = fstest.MapFS{
	"base/deploy.yaml":   {Data: []byte("kind: Deployment\n")},
	"base/sub/x.yaml":    {Data: []byte("x\n")},
	"app/config.yaml":    {Data: []byte("c\n")},
	"app/base":           link("../base"),       // a directory, up one level
	"app/chain1":         link("chain2"),        // a chain of three links
	"app/chain2":         link("base/sub"),      //
	"app/chain3":         link("chain1/x.yaml"), //
	"app/loop1":          link("loop2"),         // a loop
	"app/loop2":          link("./loop1"),       //
	"app/out":            link("../../etc"),     // out by its text
	"app/out-and-back":   link("../../x/app"),   // out and back in: refused
	"app/abs":            link("/etc/passwd"),   // absolute
	"app/backslash":      link(`..\base`),       // a Windows separator
	"app/empty":          link(""),              //
	"app/root":           link(".."),            // the root: stays inside
	"app/via-root":       link("root/app/base"), // through the root and back down
	"app/dots":           link("./../app/./base/../base/deploy.yaml"),
	"app/through-file":   link("config.yaml/.."), // a file is no directory
	"app/file-slash":     link("config.yaml/"),   //
	"app/later":          link("out-dir/gen.yaml"),
	"app/nowhere":        link("missing/../../.."),
	"app/dangling":       link("nope"),
	"app/long":           link(strings.Repeat("./", MaxTarget/2) + "x"),
	"app/climb-via-link": link("base/../../.."), // base/.. is the root: then out
}

func TestResolve(t *testing.T) {
	follow := Options{FollowLast: true}
	tests := []struct {
		name string
		opts Options
		// want is the resolved path and its kind, or the error.
		want    string
		kind    Kind
		wantErr error
	}{
		{"app/config.yaml", follow, "app/config.yaml", File, nil},
		{".", follow, ".", Dir, nil},
		{"app/base", follow, "base", Dir, nil},
		{"app/base/sub/x.yaml", follow, "base/sub/x.yaml", File, nil},
		{"app/base", Options{}, "app/base", Link, nil}, // not following the last element
		{"app/base/deploy.yaml", Options{}, "base/deploy.yaml", File, nil},
		{"app/chain3", follow, "base/sub/x.yaml", File, nil},
		{"app/chain1", follow, "base/sub", Dir, nil},
		{"app/root", follow, ".", Dir, nil},
		{"app/via-root", follow, "base", Dir, nil},
		{"app/dots", follow, "base/deploy.yaml", File, nil},
		{"app/root/app/root/app/chain3", follow, "base/sub/x.yaml", File, nil},
		{"app/loop1", follow, "", 0, ErrLoop},
		{"app/loop1", Options{}, "app/loop1", Link, nil}, // readlink of a loop is fine
		{"app/loop1/x", Options{}, "", 0, ErrLoop},
		{"app/out", follow, "", 0, ErrOutside},
		{"app/out-and-back", follow, "", 0, ErrOutside},
		{"app/climb-via-link", follow, "", 0, ErrOutside},
		{"app/abs", follow, "", 0, ErrAbsolute},
		{"app/backslash", follow, "", 0, ErrInvalidTarget},
		{"app/empty", follow, "", 0, ErrInvalidTarget},
		{"app/long", follow, "", 0, ErrInvalidTarget},
		{"app/through-file", follow, "", 0, ErrNotDir},
		{"app/file-slash", follow, "", 0, ErrNotDir},
		{"app/config.yaml/x", follow, "", 0, ErrNotDir},
		{"app/dangling", follow, "", 0, fs.ErrNotExist},
		{"app/later", follow, "", 0, fs.ErrNotExist},
		{"nope/x", follow, "", 0, fs.ErrNotExist},
		// A link to a file not there yet resolves when missing entries are
		// allowed, unless it climbs after the missing part.
		{"app/later", Options{FollowLast: true, AllowMissing: true}, "app/out-dir/gen.yaml", Missing, nil},
		{"app/dangling", Options{FollowLast: true, AllowMissing: true}, "app/nope", Missing, nil},
		{"app/nowhere", Options{FollowLast: true, AllowMissing: true}, "", 0, ErrMissingDir},
		{"../x", follow, "", 0, fs.ErrInvalid},
		{"/etc", follow, "", 0, fs.ErrInvalid},
	}
	for _, tt := range tests {
		res, err := Resolve(FS{tree}, ".", tt.name, tt.opts)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Resolve(%s, %+v) = %+v, %v; want %v", tt.name, tt.opts, res, err, tt.wantErr)
			}
			if tt.wantErr != fs.ErrInvalid && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Resolve(%s): %v does not match fs.ErrNotExist", tt.name, err)
			}
			continue
		}
		if err != nil || res.Path != tt.want || res.Entry.Kind != tt.kind {
			t.Errorf("Resolve(%s, %+v) = %s (kind %d), %v; want %s (kind %d)", tt.name, tt.opts, res.Path, res.Entry.Kind, err, tt.want, tt.kind)
		}
		if tt.kind != Missing && res.Entry.Ref != res.Path && res.Path != "." {
			t.Errorf("Resolve(%s): entry %q, path %q", tt.name, res.Entry.Ref, res.Path)
		}
	}
}

// The errors read as the reasons workspaces give for leaving a link out.
func TestErrorsSayWhy(t *testing.T) {
	for name, want := range map[string]string{
		"app/out":          "a symbolic link leading outside the repository",
		"app/abs":          "a symbolic link to an absolute path",
		"app/loop1":        "a loop of symbolic links",
		"app/long":         "a symbolic link with an invalid target",
		"app/through-file": "app/config.yaml is not a directory",
	} {
		if _, err := Resolve(FS{tree}, ".", name, Options{FollowLast: true}); err == nil || err.Error() != want {
			t.Errorf("Resolve(%s): %v; want %q", name, err, want)
		}
	}
}

// countingTree counts the targets read.
type countingTree struct {
	FS
	read int
}

func (c *countingTree) Target(l string) (string, error) {
	c.read++
	return c.FS.Target(l)
}

// A link longer than MaxTarget is refused before its target is read, and
// a chain of more than MaxLinks links is a loop.
func TestBounds(t *testing.T) {
	c := &countingTree{FS: FS{tree}}
	if _, err := Resolve[string](c, ".", "app/long", Options{FollowLast: true}); !errors.Is(err, ErrInvalidTarget) || c.read != 0 {
		t.Errorf("long link: %v, %d targets read", err, c.read)
	}
	chain := fstest.MapFS{"f": {Data: []byte("end")}, linkName(0): link("f")}
	for i := 1; i <= MaxLinks; i++ {
		chain[linkName(i)] = link(linkName(i - 1))
	}
	if res, err := Resolve(FS{chain}, ".", linkName(MaxLinks-1), Options{FollowLast: true}); err != nil || res.Path != "f" {
		t.Errorf("a chain of %d links: %+v, %v", MaxLinks, res, err)
	}
	if _, err := Resolve(FS{chain}, ".", linkName(MaxLinks), Options{FollowLast: true}); !errors.Is(err, ErrLoop) {
		t.Errorf("a chain of %d links: %v", MaxLinks+1, err)
	}
}

func linkName(i int) string { return "l" + strings.Repeat("x", i) }
