package source

import (
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
)

// Redact returns repo with any credentials removed, so that it is safe to
// print, log and record.
//
// For URLs with a scheme (https://, http://, file://, git://) the whole user
// information goes, since a user name alone can be a token
// ("https://TOKEN@host/repo"). For ssh:// URLs and the scp-like form
// ("git@host:org/repo.git") the user name stays, as it is part of the address,
// and only a password goes. Local paths come back unchanged.
//
// The user information is found as a person typing a password would mean
// it, not as net/url reads it: it ends at the last "@" before the first "/"
// after the scheme, so that a password may hold ":", "@", "?" and "#"
// unescaped ("https://alice:2024#Winter@host/repo", which net/url reads as
// host "alice", port 2024 and a fragment). A URL that holds an "@" after
// that "/" cannot be told apart from a password with an unescaped "/": it
// has everything between the scheme and its last "@" masked.
func Redact(repo string) string {
	r, ok := redact(repo)
	if !ok {
		return maskUserinfo(repo)
	}
	return r
}

// redact strips credentials from repo. ok is false when repo looks like a URL
// whose credentials cannot be found with certainty, for example a password
// with an unescaped "/"; the caller must then not use repo as is.
func redact(repo string) (redacted string, ok bool) {
	a, ok := splitURL(repo)
	if !ok {
		return "", false
	}
	if !a.hasUser {
		return repo, true
	}
	keep := ""
	if user, _, _ := strings.Cut(a.userinfo, ":"); a.keepUser && user != "" {
		if u, err := url.PathUnescape(user); err == nil && a.prefix != "" {
			user = url.User(u).String() // escaped again, for go-git
		}
		keep = user + "@"
	}
	return a.prefix + keep + a.rest, true
}

// urlParts is a repository address cut around its user information.
type urlParts struct {
	prefix   string // "scheme://", or "" for the scp-like form
	userinfo string // as written, escapes and all
	hasUser  bool   // there was an "@" ending user information
	rest     string // host, port, path, query and fragment
	keepUser bool   // ssh: the user name is part of the address
}

// splitURL cuts repo into its parts. A local path has no user information.
// ok is false when the user information cannot be found with certainty.
func splitURL(repo string) (urlParts, bool) {
	scheme, rest, hasScheme := splitScheme(repo)
	if !hasScheme {
		if !isSCPLike(repo) {
			return urlParts{rest: repo}, true // a local path
		}
		return splitSCPLike(repo), true
	}
	p := urlParts{prefix: repo[:len(repo)-len(rest)], rest: rest, keepUser: isSSHScheme(scheme)}
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		slash = len(rest)
	}
	authority := rest[:slash]
	// "https://user:pa/ss@host/repo": is "user:pa" a host and port, or a
	// user and half a password? Refuse to guess. (file:///p@th has no
	// authority: its "@" is in the path.)
	if authority != "" && strings.Contains(rest[slash:], "@") {
		return urlParts{}, false
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return p, true
	}
	p.userinfo, p.hasUser, p.rest = authority[:at], true, rest[at+1:]
	return p, true
}

// splitSCPLike cuts git's scp-like address "[user[:password]@]host:path".
// Git splits it at the first ":", so a password ("user:password@host:path")
// puts the "@" after it: the user information ends at the last "@" after
// that ":" that is followed by "host:", as go-git reads it; an "@" in the
// path ("host:org/repo@v1") is not followed by one.
func splitSCPLike(repo string) urlParts {
	colon := strings.IndexByte(repo, ':')
	for i := len(repo) - 1; i > colon; i-- {
		if repo[i] == '@' && strings.Contains(strings.SplitN(repo[i+1:], "/", 2)[0], ":") {
			return urlParts{userinfo: repo[:i], hasUser: true, rest: repo[i+1:], keepUser: true}
		}
	}
	if at := strings.IndexByte(repo, '@'); at >= 0 && at < colon {
		// "user@host:path": a user name, no password.
		return urlParts{userinfo: repo[:at], hasUser: true, rest: repo[at+1:], keepUser: true}
	}
	return urlParts{rest: repo, keepUser: true}
}

// maskUserinfo masks everything between the scheme and the last "@".
func maskUserinfo(repo string) string {
	_, rest, ok := splitScheme(repo)
	if !ok {
		return repo
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return repo
	}
	return repo[:len(repo)-len(rest)] + "REDACTED" + rest[at:]
}

// splitScheme splits "scheme://rest". ok is false when repo has no scheme.
func splitScheme(repo string) (scheme, rest string, ok bool) {
	i := strings.Index(repo, "://")
	if i <= 0 {
		return "", "", false
	}
	for _, c := range repo[:i] {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return "", "", false
		}
	}
	return strings.ToLower(repo[:i]), repo[i+3:], true
}

func isSSHScheme(scheme string) bool {
	return scheme == "ssh" || scheme == "git+ssh" || scheme == "ssh+git"
}

// isSCPLike reports whether repo is git's scp-like address "[user@]host:path":
// a ":" with no "/" before it. As in git, "C:\repo" is a path on Windows.
func isSCPLike(repo string) bool {
	colon := strings.IndexByte(repo, ':')
	if colon <= 0 || strings.ContainsAny(repo[:colon], `/\`) {
		return false
	}
	if runtime.GOOS == "windows" && colon == 1 {
		return false
	}
	return true
}

// IsRemote reports whether repo is a URL or an scp-like address (cloned
// into the cache) rather than a local path. file:// URLs are remote, as in git.
func IsRemote(repo string) bool { return isRemote(repo) }

func isRemote(repo string) bool {
	_, _, ok := splitScheme(repo)
	return ok || isSCPLike(repo)
}

// remoteURL is a parsed remote address.
type remoteURL struct {
	redacted string // what the cache and errors see
	gitURL   string // what go-git sees: redacted, with git+ssh:// as ssh://
	scheme   string // https, http, ssh, file, git
	user     string // from the URL
	password string // from the URL; never printed
	host     string // for ssh: known_hosts lookups
	port     int
}

func parseRemote(repo string) (*remoteURL, error) {
	parts, ok := splitURL(repo)
	if !ok {
		return nil, fmt.Errorf("cannot parse the repository URL %s: percent-encode special characters in the user name and password (\"/\" as %%2F, \"@\" as %%40, \"#\" as %%23), or pass them as credentials instead", maskUserinfo(repo))
	}
	redacted, _ := redact(repo)
	r := &remoteURL{redacted: redacted, gitURL: redacted}
	if scheme, _, ok := splitScheme(repo); ok {
		if parts.hasUser {
			user, password, _ := strings.Cut(parts.userinfo, ":")
			var uerr, perr error
			r.user, uerr = url.PathUnescape(user)
			r.password, perr = url.PathUnescape(password)
			if uerr != nil || perr != nil {
				return nil, fmt.Errorf("cannot read the user name and password of the repository URL %s: a %%-escape in them is invalid: write \"%%\" as %%25", redacted)
			}
		}
		u, err := url.Parse(redacted)
		if err != nil {
			return nil, fmt.Errorf("cannot parse the repository URL %s: %w", redacted, unwrapURLError(err))
		}
		r.scheme = scheme
		if isSSHScheme(scheme) {
			r.scheme = "ssh"
			r.gitURL = "ssh://" + redacted[len(scheme)+3:]
		}
		r.host = u.Hostname()
		if p := u.Port(); p != "" {
			r.port, _ = strconv.Atoi(p)
		}
		switch r.scheme {
		case "https", "http", "ssh", "file", "git":
		default:
			return nil, fmt.Errorf("unsupported repository URL scheme %q in %s: use https://, http://, ssh://, file://, git@host:path or a local path", scheme, redacted)
		}
		return r, nil
	}
	// scp-like: no escapes, as in git
	r.scheme = "ssh"
	if parts.hasUser {
		r.user, _, _ = strings.Cut(parts.userinfo, ":")
	}
	hostPart, _, _ := strings.Cut(parts.rest, ":")
	r.host = strings.Trim(hostPart, "[]")
	return r, nil
}

// unwrapURLError drops the URL that a *url.Error repeats.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
