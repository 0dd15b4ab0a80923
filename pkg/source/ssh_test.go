package source

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshServer runs git-upload-pack and git-receive-pack for user git with one
// authorized key.
type sshServer struct {
	addr    string
	hostKey ssh.PublicKey
}

func startSSHServer(t *testing.T, env []string, authorized ssh.PublicKey) *sshServer {
	t.Helper()
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	config := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == "git" && bytes.Equal(key.Marshal(), authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("not authorized")
		},
	}
	config.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveSSH(conn, config, env)
		}
	}()
	return &sshServer{addr: ln.Addr().String(), hostKey: hostSigner.PublicKey()}
}

func serveSSH(conn net.Conn, config *ssh.ServerConfig, env []string) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, config)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, reqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			for req := range reqs {
				var exec struct{ Command string }
				if req.Type != "exec" || ssh.Unmarshal(req.Payload, &exec) != nil {
					_ = req.Reply(false, nil)
					continue
				}
				_ = req.Reply(true, nil)
				go runGitService(ch, exec.Command, env)
			}
		}()
	}
}

// runGitService runs "git-upload-pack '<path>'" or "git-receive-pack
// '<path>'" on the channel.
func runGitService(ch ssh.Channel, command string, env []string) {
	defer ch.Close()
	service, path, _ := strings.Cut(command, " ")
	status := uint32(1)
	if service == "git-upload-pack" || service == "git-receive-pack" {
		cmd := exec.Command("git", strings.TrimPrefix(service, "git-"), strings.Trim(path, "'"))
		cmd.Env = env
		cmd.Stdout = ch
		cmd.Stderr = ch.Stderr()
		stdin, err := cmd.StdinPipe()
		if err == nil && cmd.Start() == nil {
			go func() { _, _ = io.Copy(stdin, ch); _ = stdin.Close() }()
			if cmd.Wait() == nil {
				status = 0
			}
		}
	}
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
}

// sshKey writes a new private key in OpenSSH format to path.
func sshKey(t *testing.T, path, passphrase string) ssh.PublicKey {
	pub, _ := sshKeyPair(t, path, passphrase)
	return pub
}

func sshKeyPair(t *testing.T, path, passphrase string) (ssh.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sshPub, priv
}

func writeKnownHosts(t *testing.T, path, addr string, key ssh.PublicKey) {
	t.Helper()
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRemoteSSH(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("SSH_KNOWN_HOSTS", "")
	remote := newRemote(t, t.TempDir(), "r.git")
	want := remote.work.git("rev-parse", "main")

	keys := t.TempDir()
	clientKey := filepath.Join(keys, "client")
	srv := startSSHServer(t, remote.work.env, sshKey(t, clientKey, ""))
	url := "ssh://git@" + srv.addr + filepath.ToSlash(remote.bare)

	known := filepath.Join(keys, "known_hosts")
	writeKnownHosts(t, known, srv.addr, srv.hostKey)
	otherHost := filepath.Join(keys, "other_known_hosts")
	writeKnownHosts(t, otherHost, "example.com:22", srv.hostKey)
	mismatch := filepath.Join(keys, "mismatch_known_hosts")
	writeKnownHosts(t, mismatch, srv.addr, sshKey(t, filepath.Join(keys, "unrelated"), ""))
	wrongKey := filepath.Join(keys, "wrong")
	sshKey(t, wrongKey, "")
	encrypted := filepath.Join(keys, "encrypted")
	encryptedPub := sshKey(t, encrypted, "open sesame")

	open := func(a Auth) (*Snapshot, error) {
		return Open(context.Background(), Spec{Repo: url, Auth: a, CacheDir: t.TempDir()})
	}

	t.Run("known host and key", func(t *testing.T) {
		s, err := open(Auth{SSHKeyFile: clientKey, KnownHostsFile: known})
		if err != nil {
			t.Fatal(err)
		}
		if s.Revision != want || s.Repo != url {
			t.Errorf("Open = %s of %s, want %s of %s", s.Revision, s.Repo, want, url)
		}
	})

	for _, tt := range []struct {
		name string
		auth Auth
		want []string
	}{
		{"unknown host", Auth{SSHKeyFile: clientKey, KnownHostsFile: otherHost}, []string{url, "not in known_hosts", "--insecure-ignore-host-key"}},
		{"changed host key", Auth{SSHKeyFile: clientKey, KnownHostsFile: mismatch}, []string{url, "differs from the one in known_hosts"}},
		{"no known_hosts at all", Auth{SSHKeyFile: clientKey}, []string{"known_hosts", "--insecure-ignore-host-key"}},
		{"key not authorized", Auth{SSHKeyFile: wrongKey, KnownHostsFile: known}, []string{url, "unable to authenticate", wrongKey}},
		{"encrypted key without passphrase", Auth{SSHKeyFile: encrypted, KnownHostsFile: known}, []string{encrypted, "encrypted", "passphrase"}},
		{"no key at all", Auth{KnownHostsFile: known}, []string{"no SSH key", url}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := open(tt.auth)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			t.Log(err)
		})
	}

	t.Run("git+ssh scheme", func(t *testing.T) {
		s, err := Open(context.Background(), Spec{
			Repo:     "git+ssh://git@" + srv.addr + filepath.ToSlash(remote.bare),
			Auth:     Auth{SSHKeyFile: clientKey, KnownHostsFile: known},
			CacheDir: t.TempDir(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if s.Revision != want {
			t.Errorf("revision %s, want %s", s.Revision, want)
		}
	})

	t.Run("insecure ignore host key", func(t *testing.T) {
		if _, err := open(Auth{SSHKeyFile: clientKey, InsecureIgnoreHostKey: true}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("encrypted key with passphrase", func(t *testing.T) {
		// Authorize the encrypted key on a second server.
		srv2 := startSSHServer(t, remote.work.env, encryptedPub)
		writeKnownHosts(t, filepath.Join(keys, "known2"), srv2.addr, srv2.hostKey)
		_, err := Open(context.Background(), Spec{
			Repo:     "ssh://git@" + srv2.addr + filepath.ToSlash(remote.bare),
			Auth:     Auth{SSHKeyFile: encrypted, SSHKeyPassphrase: "open sesame", KnownHostsFile: filepath.Join(keys, "known2")},
			CacheDir: t.TempDir(),
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("agent", func(t *testing.T) {
		agentPub, agentKey := sshKeyPair(t, filepath.Join(keys, "agent"), "")
		srv3 := startSSHServer(t, remote.work.env, agentPub)
		writeKnownHosts(t, filepath.Join(keys, "known3"), srv3.addr, srv3.hostKey)
		keyring := agent.NewKeyring()
		if err := keyring.Add(agent.AddedKey{PrivateKey: agentKey}); err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(t.TempDir(), "agent.sock")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { _ = agent.ServeAgent(keyring, conn) }()
			}
		}()
		t.Setenv("SSH_AUTH_SOCK", sock)
		_, err = Open(context.Background(), Spec{
			Repo:     "ssh://git@" + srv3.addr + filepath.ToSlash(remote.bare),
			Auth:     Auth{KnownHostsFile: filepath.Join(keys, "known3")},
			CacheDir: t.TempDir(),
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("default key and known_hosts in ~/.ssh", func(t *testing.T) {
		dotSSH := filepath.Join(home, ".ssh")
		if err := os.MkdirAll(dotSSH, 0o700); err != nil {
			t.Fatal(err)
		}
		key, err := os.ReadFile(clientKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dotSSH, "id_ed25519"), key, 0o600); err != nil {
			t.Fatal(err)
		}
		writeKnownHosts(t, filepath.Join(dotSSH, "known_hosts"), srv.addr, srv.hostKey)
		s, err := open(Auth{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Revision != want {
			t.Errorf("revision %s, want %s", s.Revision, want)
		}
	})
}
