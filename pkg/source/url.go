package source

import (
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
// and only a password goes. Local paths come back unchanged. A URL that cannot
// be parsed but holds an "@" has everything between the scheme and the last
// "@" masked.
func Redact(repo string) string {
	r, ok := redact(repo)
	if !ok {
		return maskUserinfo(repo)
	}
	return r
}

// redact strips credentials from repo. ok is false when repo looks like a URL
// whose credentials cannot be found with certainty, for example a password
// with an unescaped "/" or "#"; the caller must then not use repo as is.
func redact(repo string) (redacted string, ok bool) {
	scheme, rest, hasScheme := splitScheme(repo)
	if !hasScheme {
		if !isSCPLike(repo) {
			return repo, true // a local path
		}
		// scp-like: [user@]host:path. Git splits it at the first ":", so a
		// password ("user:password@host:path") puts the "@" after it.
		colon := strings.IndexByte(repo, ':')
		if at := strings.IndexByte(repo, '@'); at > colon && !strings.Contains(repo[:at], "/") {
			return repo[:colon] + "@" + repo[at+1:], true
		}
		return repo, true
	}

	u, err := url.Parse(repo)
	if err != nil {
		return "", false
	}
	// A password with an unescaped "/" ("https://u:12/34@host/r") parses
	// as host "u", port 12 and a path with an "@": refuse to guess.
	if u.User == nil && u.Port() != "" && strings.Contains(u.Path, "@") {
		return "", false
	}
	if u.User == nil {
		return repo, true
	}
	// Keep the string as given (no re-encoding): cut the user information
	// out of the authority, which url.Parse ends at the first "/", "?" or
	// "#", and whose user part ends at its last "@".
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return "", false // cannot happen when url.Parse found a user
	}
	keep := ""
	if isSSHScheme(scheme) && u.User.Username() != "" {
		user, _, _ := strings.Cut(rest[:at], ":")
		keep = user + "@"
	}
	return repo[:len(repo)-len(rest)] + keep + rest[at+1:], true
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
	redacted, ok := redact(repo)
	if !ok {
		return nil, fmt.Errorf("cannot parse the repository URL %s: percent-encode special characters in the user name and password (\"/\" as %%2F, \"@\" as %%40, \"#\" as %%23), or pass them as credentials instead", maskUserinfo(repo))
	}
	r := &remoteURL{redacted: redacted, gitURL: redacted}
	if scheme, _, ok := splitScheme(repo); ok {
		u, err := url.Parse(repo) // redact parsed it already
		if err != nil {
			return nil, fmt.Errorf("cannot parse the repository URL %s", redacted)
		}
		r.scheme = scheme
		if isSSHScheme(scheme) {
			r.scheme = "ssh"
			r.gitURL = "ssh://" + redacted[len(scheme)+3:]
		}
		if u.User != nil {
			r.user = u.User.Username()
			r.password, _ = u.User.Password()
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
	// scp-like
	r.scheme = "ssh"
	hostPart, _, _ := strings.Cut(redacted, ":")
	if at := strings.LastIndex(hostPart, "@"); at >= 0 {
		r.user = hostPart[:at]
		hostPart = hostPart[at+1:]
	}
	r.host = strings.Trim(hostPart, "[]")
	return r, nil
}
