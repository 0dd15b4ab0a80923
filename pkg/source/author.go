package source

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	format "github.com/go-git/go-git/v5/plumbing/format/config"
)

// Author is who a commit is by; Update makes it both the author and the
// committer.
type Author struct{ Name, Email string }

// String returns the author as git prints it: "Name <email>".
func (a Author) String() string { return a.Name + " <" + a.Email + ">" }

// ParseAuthor parses "Name <email>", the form of git's --author.
func ParseAuthor(s string) (Author, error) {
	s = strings.TrimSpace(s)
	open := strings.LastIndexByte(s, '<')
	if open < 0 || !strings.HasSuffix(s, ">") {
		return Author{}, fmt.Errorf("commit author %q: want \"Name <email>\"", s)
	}
	a := Author{Name: strings.TrimSpace(s[:open]), Email: strings.TrimSpace(s[open+1 : len(s)-1])}
	return a, a.validate()
}

func (a Author) validate() error {
	switch {
	case strings.TrimSpace(a.Name) == "" || strings.TrimSpace(a.Email) == "":
		return fmt.Errorf("commit author %q: want a name and an email: set git config user.name/user.email or pass --author", a.String())
	case strings.ContainsAny(a.Name+a.Email, "<>\n\r\x00"):
		return fmt.Errorf("commit author %q: a name or an email cannot hold \"<\", \">\" or line breaks", a.String())
	}
	return nil
}

// DefaultAuthor returns the author git would commit as in repo, a local
// repository; for "" or a URL, no repository's configuration is read.
//
// As in git, GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL come first; then
// user.name and user.email from the repository's configuration, else the
// global one (~/.gitconfig over $XDG_CONFIG_HOME/git/config, or
// $GIT_CONFIG_GLOBAL), else the system one (/etc/gitconfig or
// $GIT_CONFIG_SYSTEM; none when GIT_CONFIG_NOSYSTEM is set). [include] and
// [includeIf] with gitdir:, gitdir/i:, onbranch: and
// hasconfig:remote.*.url: conditions are followed; an included file counts
// as if it were at the end of the one including it, where it usually is.
func DefaultAuthor(repo string) (Author, error) {
	c := &configReader{}
	var local string
	if repo != "" && !isRemote(repo) {
		r, err := openLocal(Spec{Repo: repo})
		if err != nil {
			return Author{}, err
		}
		c.gitDir = r.dir
		if head, err := r.repo.Storer.Reference(plumbing.HEAD); err == nil && head.Type() == plumbing.SymbolicReference && head.Target().IsBranch() {
			c.branch = head.Target().Short()
		}
		local = filepath.Join(r.commonDir(), "config")
	}

	var files []string // lowest precedence first
	if !envBool("GIT_CONFIG_NOSYSTEM") {
		files = append(files, envOr("GIT_CONFIG_SYSTEM", "/etc/gitconfig"))
	}
	if global := os.Getenv("GIT_CONFIG_GLOBAL"); global != "" {
		files = append(files, global)
	} else {
		xdg := os.Getenv("XDG_CONFIG_HOME")
		if home, err := os.UserHomeDir(); err == nil {
			if xdg == "" {
				xdg = filepath.Join(home, ".config")
			}
			files = append(files, filepath.Join(xdg, "git", "config"), filepath.Join(home, ".gitconfig"))
		} else if xdg != "" {
			files = append(files, filepath.Join(xdg, "git", "config"))
		}
	}
	if local != "" {
		files = append(files, local)
	}
	c.files = files
	for _, f := range files {
		if err := c.readFile(f, 0, false); err != nil {
			return Author{}, err
		}
	}

	a := Author{Name: strings.TrimSpace(c.name), Email: strings.TrimSpace(c.email)}
	if v := strings.TrimSpace(os.Getenv("GIT_AUTHOR_NAME")); v != "" {
		a.Name = v
	}
	if v := strings.TrimSpace(os.Getenv("GIT_AUTHOR_EMAIL")); v != "" {
		a.Email = v
	}
	var missing []string
	if a.Name == "" {
		missing = append(missing, "user.name")
	}
	if a.Email == "" {
		missing = append(missing, "user.email")
	}
	if len(missing) > 0 {
		read := "found no git configuration file"
		if len(c.read) > 0 {
			read = "read " + strings.Join(c.read, ", ")
		}
		return Author{}, fmt.Errorf("no commit author: %s not set (%s): set git config user.name/user.email or pass --author", strings.Join(missing, " and "), read)
	}
	return a, a.validate()
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// envBool reads a boolean environment variable as git does.
func envBool(key string) bool {
	switch strings.ToLower(os.Getenv(key)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// configReader reads user.name and user.email from git configuration
// files, later files and includes overriding earlier ones.
type configReader struct {
	gitDir      string   // of the repository, for gitdir: conditions
	branch      string   // checked out, for onbranch: conditions
	files       []string // every configuration file, for hasconfig: conditions
	name, email string
	read        []string

	// remoteURLs are the remote.<name>.url values of every file and its
	// includes, read at the first hasconfig:remote.*.url: condition, as
	// git does; scanned says they were.
	remoteURLs []string
	scanned    bool
	// scanning marks the reader that collects remoteURLs: as in git, every
	// hasconfig: condition is true for it, and a file that an includeIf
	// brings in may not declare a remote URL.
	scanning bool
}

// maxIncludeDepth is git's limit on nested includes.
const maxIncludeDepth = 10

// readFile reads path and its includes. noURLs says path was brought in by
// an includeIf while scanning for remote URLs.
func (c *configReader) readFile(path string, depth int, noURLs bool) error {
	if depth > maxIncludeDepth {
		return fmt.Errorf("reading the git configuration %s: more than %d nested includes (a loop?)", path, maxIncludeDepth)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // as in git, also for includes
	}
	if err != nil {
		return fmt.Errorf("reading the git configuration: %w", err)
	}
	cfg := format.New()
	if err := format.NewDecoder(bytes.NewReader(data)).Decode(cfg); err != nil {
		return fmt.Errorf("reading the git configuration %s: %w", path, err)
	}
	c.read = append(c.read, path)
	if c.scanning {
		for _, remote := range cfg.Section("remote").Subsections {
			urls := remote.OptionAll("url")
			if noURLs && len(urls) > 0 {
				return fmt.Errorf("reading the git configuration %s: remote %q has a url, but a file that an includeIf brings in may not declare remote URLs when a hasconfig:remote.*.url: condition is used (git refuses it too): move the remote into the repository's own configuration", path, remote.Name)
			}
			c.remoteURLs = append(c.remoteURLs, urls...)
		}
	} else {
		user := cfg.Section("user")
		if user.HasOption("name") {
			c.name = user.Option("name")
		}
		if user.HasOption("email") {
			c.email = user.Option("email")
		}
	}
	for _, inc := range cfg.Section("include").OptionAll("path") {
		if err := c.readFile(c.includePath(inc, path), depth+1, noURLs); err != nil {
			return err
		}
	}
	for _, ss := range cfg.Section("includeIf").Subsections {
		ok, err := c.matches(ss.Name, path)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		for _, inc := range ss.OptionAll("path") {
			if err := c.readFile(c.includePath(inc, path), depth+1, noURLs || c.scanning); err != nil {
				return err
			}
		}
	}
	return nil
}

// includePath resolves an include's path: "~/" is the home directory, and
// a relative path is relative to the including file.
func (c *configReader) includePath(p, from string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[2:])
		}
	}
	if !filepath.IsAbs(p) {
		return filepath.Join(filepath.Dir(from), p)
	}
	return p
}

// matches evaluates the condition of an [includeIf "<cond>"] in the file
// from; conditions git does not know either are false.
func (c *configReader) matches(cond, from string) (bool, error) {
	switch {
	case strings.HasPrefix(cond, "gitdir:"):
		return c.gitDirMatches(strings.TrimPrefix(cond, "gitdir:"), from, false), nil
	case strings.HasPrefix(cond, "gitdir/i:"):
		return c.gitDirMatches(strings.TrimPrefix(cond, "gitdir/i:"), from, true), nil
	case strings.HasPrefix(cond, "onbranch:"):
		pattern := strings.TrimPrefix(cond, "onbranch:")
		if strings.HasSuffix(pattern, "/") {
			pattern += "**"
		}
		return c.branch != "" && globMatch(pattern, c.branch, false), nil
	case strings.HasPrefix(cond, "hasconfig:remote.*.url:"):
		return c.hasRemoteURL(strings.TrimPrefix(cond, "hasconfig:remote.*.url:"))
	}
	return false, nil
}

// hasRemoteURL says whether any remote.<name>.url of any configuration
// file matches pattern. As git does, it reads every file once for their
// remote URLs, ahead of the one being read (the remote is usually in the
// repository's configuration, read last), with every hasconfig: condition
// true and refusing remote URLs in files that an includeIf brings in, so
// that an include cannot decide its own condition.
func (c *configReader) hasRemoteURL(pattern string) (bool, error) {
	if c.scanning {
		return true, nil
	}
	if !c.scanned {
		scan := &configReader{gitDir: c.gitDir, branch: c.branch, scanning: true}
		for _, f := range c.files {
			if err := scan.readFile(f, 0, false); err != nil {
				return false, err
			}
		}
		c.remoteURLs, c.scanned = scan.remoteURLs, true
	}
	for _, u := range c.remoteURLs {
		if globMatch(pattern, u, false) {
			return true, nil
		}
	}
	return false, nil
}

// gitDirMatches matches the git directory against a gitdir: pattern, with
// git's rules: "~/" is the home directory, "./" the including file's
// directory, a relative pattern matches at any depth and a trailing "/"
// matches everything under it.
func (c *configReader) gitDirMatches(pattern, from string, fold bool) bool {
	if c.gitDir == "" {
		return false
	}
	switch {
	case strings.HasPrefix(pattern, "~/"):
		home, err := os.UserHomeDir()
		if err != nil {
			return false
		}
		pattern = filepath.ToSlash(home) + pattern[1:]
	case strings.HasPrefix(pattern, "./"):
		pattern = filepath.ToSlash(filepath.Dir(from)) + pattern[1:]
	}
	if !strings.HasPrefix(pattern, "/") && filepath.VolumeName(pattern) == "" {
		pattern = "**/" + pattern
	}
	if strings.HasSuffix(pattern, "/") {
		pattern += "**"
	}
	dirs := []string{c.gitDir}
	if real, err := filepath.EvalSymlinks(c.gitDir); err == nil && real != c.gitDir {
		dirs = append(dirs, real)
	}
	for _, d := range dirs {
		if globMatch(pattern, filepath.ToSlash(d), fold) {
			return true
		}
	}
	return false
}

// globMatch matches s against a wildcard pattern as git's wildmatch does
// with WM_PATHNAME: "*" and "?" stay within a path element, "**/" matches
// any number of elements, a final "/**" everything below, and "[...]" is a
// character class.
func globMatch(pattern, s string, fold bool) bool {
	var b strings.Builder
	if fold {
		b.WriteString("(?i)")
	}
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		atElem := i == 0 || pattern[i-1] == '/'
		switch c := pattern[i]; {
		case strings.HasPrefix(pattern[i:], "**/") && atElem:
			b.WriteString("(?:.*/)?")
			i += 2
		case pattern[i:] == "**" && atElem:
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			end := strings.IndexByte(pattern[i+1:], ']')
			if end < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := pattern[i+1 : i+1+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += end + 1
		case c == '\\' && i+1 < len(pattern):
			i++
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		default:
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(s)
}
