package source

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// authMethod is the go-git auth for one remote operation.
type authMethod struct {
	method   transport.AuthMethod // nil: none
	describe string               // what was offered, for errors; never a secret
	closeFn  func() error
}

func (a *authMethod) close() {
	if a.closeFn != nil {
		_ = a.closeFn()
	}
}

// newAuth builds the auth for u from a. Nothing here is printed but the user
// name and key file names.
func newAuth(u *remoteURL, a Auth) (*authMethod, error) {
	switch u.scheme {
	case "http", "https":
		user, pass := a.Username, a.Password
		if user == "" && pass == "" {
			user, pass = u.user, u.password
		}
		if user == "" && pass == "" {
			return &authMethod{describe: "no credentials"}, nil
		}
		describe := "a token as the user name" // not printed: it is the secret
		if pass != "" {
			if user == "" {
				user = "git"
			}
			describe = fmt.Sprintf("basic auth as %q", user)
		}
		return &authMethod{
			method:   &githttp.BasicAuth{Username: user, Password: pass},
			describe: describe,
		}, nil
	case "ssh":
		return newSSHAuth(u, a)
	default: // file, git
		return &authMethod{}, nil
	}
}

// sshAuth implements go-git's ssh.AuthMethod with public keys from the agent
// and key files, offered in one handshake, and a host key check.
type sshAuth struct {
	user              string
	signers           func() ([]ssh.Signer, error)
	hostKeyCallback   ssh.HostKeyCallback
	hostKeyAlgorithms []string
}

func (a *sshAuth) Name() string   { return "ssh-public-keys" }
func (a *sshAuth) String() string { return fmt.Sprintf("user: %s, name: %s", a.user, a.Name()) }

func (a *sshAuth) ClientConfig() (*ssh.ClientConfig, error) {
	return &ssh.ClientConfig{
		User:              a.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeysCallback(a.signers)},
		HostKeyCallback:   a.hostKeyCallback,
		HostKeyAlgorithms: a.hostKeyAlgorithms,
		// go-git's SSH dial does not heed the context.
		Timeout: sshDialTimeout,
	}, nil
}

// sshDialTimeout bounds the TCP connection to an SSH server.
const sshDialTimeout = 30 * time.Second

func newSSHAuth(u *remoteURL, a Auth) (*authMethod, error) {
	user := u.user
	if user == "" {
		user = "git"
	}
	callback, algorithms, err := hostKeyCheck(u, a)
	if err != nil {
		return nil, err
	}
	m := &authMethod{}
	auth := &sshAuth{user: user, hostKeyCallback: callback, hostKeyAlgorithms: algorithms}
	m.method = auth

	if a.SSHKeyFile != "" {
		signer, err := loadKey(a.SSHKeyFile, a.SSHKeyPassphrase)
		if err != nil {
			return nil, err
		}
		auth.signers = func() ([]ssh.Signer, error) { return []ssh.Signer{signer}, nil }
		m.describe = fmt.Sprintf("SSH key %s as user %q", a.SSHKeyFile, user)
		return m, nil
	}

	var tried []string
	var ag agent.ExtendedAgent
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if conn, err := net.Dial("unix", sock); err == nil {
			ag = agent.NewClient(conn)
			m.closeFn = conn.Close
			tried = append(tried, "the SSH agent")
		} else {
			tried = append(tried, fmt.Sprintf("the SSH agent (unreachable: %v)", err))
		}
	}
	var keys []ssh.Signer
	home, _ := os.UserHomeDir()
	for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		if home == "" {
			break
		}
		path := filepath.Join(home, ".ssh", name)
		signer, err := loadKey(path, a.SSHKeyPassphrase)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s (skipped: %v)", path, err))
			continue
		}
		keys = append(keys, signer)
		tried = append(tried, path)
	}
	if ag == nil && len(keys) == 0 {
		return nil, fmt.Errorf("no SSH key to reach %s: no SSH agent (SSH_AUTH_SOCK) and no usable ~/.ssh/id_ed25519, id_ecdsa or id_rsa%s; pass an SSH key file", u.redacted, triedList(tried))
	}
	auth.signers = func() ([]ssh.Signer, error) {
		var all []ssh.Signer
		if ag != nil {
			if s, err := ag.Signers(); err == nil {
				all = append(all, s...)
			}
		}
		return append(all, keys...), nil
	}
	m.describe = fmt.Sprintf("user %q with %s", user, strings.Join(tried, ", "))
	return m, nil
}

func triedList(tried []string) string {
	if len(tried) == 0 {
		return ""
	}
	return " (tried " + strings.Join(tried, ", ") + ")"
}

// loadKey reads a private key, decrypting it with passphrase if it is
// encrypted.
func loadKey(path, passphrase string) (ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the SSH key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == "" {
			return nil, fmt.Errorf("the SSH key %s is encrypted: pass its passphrase, or load it into the SSH agent", path)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
	}
	if err != nil {
		return nil, fmt.Errorf("reading the SSH key %s: %w", path, err)
	}
	return signer, nil
}

// hostKeyCheck returns the host key callback for u, and the host key
// algorithms known for it so that the server shows the key known_hosts has.
func hostKeyCheck(u *remoteURL, a Auth) (ssh.HostKeyCallback, []string, error) {
	if a.InsecureIgnoreHostKey {
		return ssh.InsecureIgnoreHostKey(), nil, nil
	}
	var files []string
	if a.KnownHostsFile != "" {
		if _, err := os.Stat(a.KnownHostsFile); err != nil {
			return nil, nil, fmt.Errorf("reading the known_hosts file: %w", err)
		}
		files = []string{a.KnownHostsFile}
	} else {
		files = filepath.SplitList(os.Getenv("SSH_KNOWN_HOSTS"))
		if home, err := os.UserHomeDir(); err == nil {
			files = append(files, filepath.Join(home, ".ssh", "known_hosts"))
		}
		files = append(files, "/etc/ssh/ssh_known_hosts")
	}
	db, err := gitssh.NewKnownHostsDb(files...)
	if err != nil {
		return nil, nil, fmt.Errorf("checking the SSH host key of %s: %w (looked at %s); add the host key to known_hosts (%s >> ~/.ssh/known_hosts, after checking it) or pass --insecure-ignore-host-key",
			u.host, err, strings.Join(files, ", "), keyscan(u))
	}
	return db.HostKeyCallback(), db.HostKeyAlgorithms(sshAddress(u)), nil
}

// keyscan is the command that prints the host keys of u.
func keyscan(u *remoteURL) string {
	if u.port > 0 && u.port != gitssh.DefaultPort {
		return fmt.Sprintf("ssh-keyscan -p %d %s", u.port, u.host)
	}
	return "ssh-keyscan " + u.host
}

// knownHostsName is u's host as known_hosts names it.
func knownHostsName(u *remoteURL) string {
	if u.port > 0 && u.port != gitssh.DefaultPort {
		return fmt.Sprintf("'[%s]:%d'", u.host, u.port)
	}
	return u.host
}

// sshAddress is the host:port go-git dials for u, after ~/.ssh/config's
// Hostname and Port, as go-git's ssh transport computes it.
func sshAddress(u *remoteURL) string {
	host, port := u.host, u.port
	if gitssh.DefaultSSHConfig != nil {
		if h := gitssh.DefaultSSHConfig.Get(u.host, "Hostname"); h != "" {
			host = h
			if p, err := strconv.Atoi(gitssh.DefaultSSHConfig.Get(u.host, "Port")); err == nil {
				port = p
			}
		}
	}
	if port <= 0 {
		port = gitssh.DefaultPort
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// transportErr explains a failure to talk to the remote and says what to do.
// go-git only ever sees the redacted URL, and credentials only in auth, so
// err holds no secret.
func transportErr(u *remoteURL, auth *authMethod, err error) error {
	var keyErr *knownhosts.KeyError
	var unknownCA x509.UnknownAuthorityError
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	msg := err.Error()
	cause := oneLine(msg)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &remoteErr{err: err, msg: fmt.Sprintf("reaching %s: %s", u.redacted, cause)}
	case errors.As(err, &keyErr) && len(keyErr.Want) > 0, strings.Contains(msg, "knownhosts: key mismatch"):
		return &remoteErr{err: err, msg: fmt.Sprintf("reaching %s: %s: the SSH host key of %s differs from the one in known_hosts; this can be an attack; if the key changed legitimately, replace its line in known_hosts (ssh-keygen -R %s)",
			u.redacted, cause, u.host, knownHostsName(u))}
	case errors.As(err, &keyErr), strings.Contains(msg, "knownhosts: key is unknown"):
		return &remoteErr{err: err, msg: fmt.Sprintf("reaching %s: %s: the SSH host key of %s is not in known_hosts; add it (%s >> ~/.ssh/known_hosts, after checking it) or pass --insecure-ignore-host-key",
			u.redacted, cause, u.host, keyscan(u))}
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return &remoteErr{err: err, msg: fmt.Sprintf("reaching %s: %s (sent %s): check the URL and credentials: a user name and a password or token", u.redacted, cause, auth.describe)}
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return &remoteErr{err: err, msg: fmt.Sprintf("reaching %s: %s (sent %s): check that these credentials may read the repository", u.redacted, cause, auth.describe)}
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return &remoteErr{err: err, msg: fmt.Sprintf("reaching %s: %s: check the URL and credentials (some hosts answer \"not found\" to requests without them)", u.redacted, cause)}
	case strings.Contains(msg, "ssh: unable to authenticate"):
		return &remoteErr{err: err, msg: fmt.Sprintf("reaching %s: %s (offered %s): check that one of these keys may read the repository, or pass another key", u.redacted, cause, auth.describe)}
	case errors.As(err, &unknownCA), errors.As(err, &certErr), errors.As(err, &hostErr):
		return &remoteErr{err: err, msg: fmt.Sprintf("reaching %s: %s: the server's certificate is not trusted; pass the CA bundle that signed it, or --insecure-skip-tls-verify", u.redacted, cause)}
	default:
		return &remoteErr{err: err, msg: fmt.Sprintf("reaching %s: %s; check the URL, the network and the credentials", u.redacted, cause)}
	}
}

// remoteErr is an error of the remote, with its cause on one line and
// shortened: servers put whole pages in their answers.
type remoteErr struct {
	msg string
	err error
}

func (e *remoteErr) Error() string { return e.msg }
func (e *remoteErr) Unwrap() error { return e.err }

// oneLine collapses whitespace in msg and cuts it to a few hundred bytes.
func oneLine(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	const max = 300
	if len(msg) > max {
		msg = msg[:max] + "..."
	}
	return msg
}

// isTransportErr tells errors of the remote or the network from errors of the
// cached clone.
func isTransportErr(err error) bool {
	var netErr net.Error
	var urlErr *url.Error
	var keyErr *knownhosts.KeyError
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired),
		errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrRepositoryNotFound),
		errors.Is(err, transport.ErrEmptyRemoteRepository),
		errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr),
		errors.As(err, &urlErr),
		errors.As(err, &keyErr):
		return true
	}
	return strings.Contains(err.Error(), "ssh: ")
}
