package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
)

func TestBasicAuthWithDockerConfig(t *testing.T) {
	const user, pass = "ci-bot", "s3cr3t-pa55"
	host := startRegistry(t, basicAuth(user, pass))
	newPusher(t, host, &authn.Basic{Username: user, Password: pass}).pushImage("private/app", "1.0", t0)
	ctx := context.Background()
	repo := host + "/private/app"

	// No credentials: the error names the registry and says what to do.
	dockerConfig(t, nil)
	c := newClient(t, Config{Keychain: authn.DefaultKeychain})
	_, err := c.Tags(ctx, repo)
	var re *Error
	if !errors.As(err, &re) || re.Kind != Denied {
		t.Fatalf("Tags without credentials: %v, want a Denied *Error", err)
	}
	want := "registry " + host + " refused access to " + repo + ": log in with docker login or give the workload an imagePullSecret"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to contain %q", err, want)
	}

	// Wrong password: refused, and the password is not printed.
	dockerConfig(t, map[string][2]string{host: {user, "wrong-pa55word"}})
	c = newClient(t, Config{Keychain: authn.DefaultKeychain})
	_, err = c.Tags(ctx, repo)
	if !errors.As(err, &re) || re.Kind != Denied {
		t.Fatalf("Tags with a wrong password: %v, want a Denied *Error", err)
	}
	for _, secret := range []string{"wrong-pa55word", base64.StdEncoding.EncodeToString([]byte(user + ":wrong-pa55word"))} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q shows the credentials", err)
		}
	}

	// The right credentials in DOCKER_CONFIG.
	dockerConfig(t, map[string][2]string{host: {user, pass}})
	c = newClient(t, Config{Keychain: authn.DefaultKeychain})
	tags, err := c.Tags(ctx, repo)
	if err != nil || !slices.Equal(tags, []string{"1.0"}) {
		t.Fatalf("Tags with docker config credentials = %q, %v", tags, err)
	}
	created, _, err := c.Created(ctx, repo, "1.0")
	if err != nil || !created.Equal(t0) {
		t.Errorf("Created with credentials = %v, %v", created, err)
	}
}

func TestBasicAuthWithPullSecret(t *testing.T) {
	const user, pass = "puller", "pull-pa55"
	host := startRegistry(t, basicAuth(user, pass))
	newPusher(t, host, &authn.Basic{Username: user, Password: pass}).pushImage("app", "1", t0)
	dockerConfig(t, nil)
	secret := corev1.Secret{
		Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(
			`{"auths":{"` + host + `":{"username":"` + user + `","password":"` + pass + `"}}}`)},
	}
	c := newClient(t, Config{Keychain: authn.DefaultKeychain, PullSecrets: []corev1.Secret{secret}})
	tags, err := c.Tags(context.Background(), host+"/app")
	if err != nil || !slices.Equal(tags, []string{"1"}) {
		t.Fatalf("Tags with a pull secret = %q, %v", tags, err)
	}
}

func TestKeychainFromPullSecrets(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	secrets := []corev1.Secret{
		{
			Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{
				"https://index.docker.io/v1/": {"auth": "` + b64("hub:hubpw") + `"},
				"registry.example.com:5000": {"username": "plain", "password": "plainpw"},
				"registry.example.com:5000/team/special": {"username": "special", "password": "specialpw"},
				"*.corp.example": {"username": "wild", "password": "wildpw"},
				"ghcr.io": {"identitytoken": "tok"},
				"broken.example": {"auth": "not base64!"},
				"empty.example": {}
			}}`)},
		},
		{
			Type: corev1.SecretTypeDockercfg,
			Data: map[string][]byte{corev1.DockerConfigKey: []byte(`{"quay.io": {"auth": "` + b64("quay:quaypw") + `"}}`)},
		},
		{
			// stringData, as in a manifest written by hand.
			Type:       corev1.SecretTypeDockerConfigJson,
			StringData: map[string]string{corev1.DockerConfigJsonKey: `{"auths":{"gcr.io":{"username":"_json_key","password":"{}"}}}`},
		},
		{
			// Not JSON: skipped.
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{`)},
		},
		{
			// A second secret for a host already known: the first wins.
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"quay.io":{"username":"late","password":"x"}}}`)},
		},
	}
	kc := KeychainFromPullSecrets(secrets)
	tests := []struct {
		image string
		user  string // "" means anonymous
		pass  string
		token string
	}{
		{image: "nginx", user: "hub", pass: "hubpw"},
		{image: "docker.io/org/app", user: "hub", pass: "hubpw"},
		{image: "registry.example.com:5000/app", user: "plain", pass: "plainpw"},
		{image: "registry.example.com:5000/team/special", user: "special", pass: "specialpw"},
		{image: "registry.example.com:5000/team/special/sub", user: "special", pass: "specialpw"},
		{image: "registry.example.com:5000/team/specialist", user: "plain", pass: "plainpw"},
		{image: "registry.example.com/app"}, // other port
		{image: "a.corp.example/app", user: "wild", pass: "wildpw"},
		{image: "a.b.corp.example/app"}, // * is one label
		{image: "ghcr.io/org/app", token: "tok"},
		{image: "quay.io/org/app", user: "quay", pass: "quaypw"},
		{image: "gcr.io/p/app", user: "_json_key", pass: "{}"},
		{image: "broken.example/app"},
		{image: "empty.example/app"},
		{image: "elsewhere.example/app"},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			repo, err := name.NewRepository(tt.image)
			if err != nil {
				t.Fatal(err)
			}
			a, err := kc.Resolve(repo)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Username != tt.user || cfg.Password != tt.pass || cfg.IdentityToken != tt.token {
				t.Errorf("credentials for %s = %q/%q/%q, want %q/%q/%q", tt.image,
					cfg.Username, cfg.Password, cfg.IdentityToken, tt.user, tt.pass, tt.token)
			}
		})
	}
}
