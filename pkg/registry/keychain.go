package registry

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
)

// KeychainFromPullSecrets returns a keychain holding the credentials of
// Kubernetes image pull secrets: ".dockerconfigjson" (type
// kubernetes.io/dockerconfigjson) and ".dockercfg" (kubernetes.io/dockercfg)
// entries, in Data or StringData.
//
// Entries match as the kubelet matches them: a key "host[:port][/path]"
// applies to images on that host whose repository starts with the path; the
// host may hold * for one DNS label ("*.example.com"); "https://" and the
// Docker Hub spellings ("docker.io", "https://index.docker.io/v1/") are
// understood. The most specific key wins; between equal keys, the first
// secret. Unreadable secrets and entries are skipped, as by the kubelet.
func KeychainFromPullSecrets(secrets []corev1.Secret) authn.Keychain {
	var kc pullSecretKeychain
	for _, s := range secrets {
		for _, key := range []string{corev1.DockerConfigJsonKey, corev1.DockerConfigKey} {
			data, ok := s.Data[key]
			if !ok {
				str, ok := s.StringData[key]
				if !ok {
					continue
				}
				data = []byte(str)
			}
			var auths map[string]dockerAuth
			if key == corev1.DockerConfigJsonKey {
				var cfg struct {
					Auths map[string]dockerAuth `json:"auths"`
				}
				if json.Unmarshal(data, &cfg) != nil {
					continue
				}
				auths = cfg.Auths
			} else if json.Unmarshal(data, &auths) != nil {
				continue
			}
			// Map order is random: sort for a stable choice.
			for _, k := range slices.Sorted(maps.Keys(auths)) {
				e, ok := parseAuthKey(k)
				if !ok {
					continue
				}
				cfg, ok := auths[k].config()
				if !ok {
					continue
				}
				e.auth = cfg
				kc = append(kc, e)
			}
		}
	}
	// Most specific first: longer paths, then hosts without wildcards.
	slices.SortStableFunc(kc, func(a, b pullSecretEntry) int {
		if c := cmp.Compare(len(b.path), len(a.path)); c != 0 {
			return c
		}
		return cmp.Compare(strings.Count(a.host, "*"), strings.Count(b.host, "*"))
	})
	return kc
}

type dockerAuth struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

func (d dockerAuth) config() (authn.AuthConfig, bool) {
	cfg := authn.AuthConfig{
		Username:      d.Username,
		Password:      d.Password,
		IdentityToken: d.IdentityToken,
		RegistryToken: d.RegistryToken,
	}
	if d.Auth != "" && cfg.Username == "" && cfg.Password == "" {
		b, err := base64.StdEncoding.DecodeString(d.Auth)
		if err != nil {
			return cfg, false
		}
		user, pass, ok := strings.Cut(string(b), ":")
		if !ok {
			return cfg, false
		}
		cfg.Username, cfg.Password = user, pass
	}
	if cfg == (authn.AuthConfig{}) {
		return cfg, false
	}
	return cfg, true
}

type pullSecretEntry struct {
	host string // host[:port], may hold * labels
	path string // repository prefix, "" for the whole host
	auth authn.AuthConfig
}

type pullSecretKeychain []pullSecretEntry

// parseAuthKey reads a docker config key such as "https://index.docker.io/v1/",
// "ghcr.io", "registry.example.com:5000/team".
func parseAuthKey(k string) (pullSecretEntry, bool) {
	k = strings.TrimSpace(k)
	if i := strings.Index(k, "://"); i >= 0 {
		k = k[i+3:]
	}
	k = strings.TrimSuffix(k, "/")
	host, path, _ := strings.Cut(k, "/")
	host = strings.ToLower(host)
	if host == "" {
		return pullSecretEntry{}, false
	}
	switch host {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		host = name.DefaultRegistry
		if path == "v1" || path == "v2" {
			path = ""
		}
	}
	return pullSecretEntry{host: host, path: path}, true
}

// Resolve implements authn.Keychain.
func (kc pullSecretKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	host := strings.ToLower(target.RegistryStr())
	repo := ""
	if r, ok := strings.CutPrefix(target.String(), target.RegistryStr()+"/"); ok {
		repo = r
	}
	for _, e := range kc {
		if !hostMatches(e.host, host) {
			continue
		}
		if e.path != "" && repo != e.path && !strings.HasPrefix(repo, e.path+"/") {
			continue
		}
		return authn.FromConfig(e.auth), nil
	}
	return authn.Anonymous, nil
}

// hostMatches compares hosts label by label; "*" matches one label and the
// ports must be equal.
func hostMatches(pattern, host string) bool {
	if pattern == host {
		return true
	}
	if !strings.Contains(pattern, "*") {
		return false
	}
	ph, pport, _ := strings.Cut(pattern, ":")
	hh, hport, _ := strings.Cut(host, ":")
	if pport != hport {
		return false
	}
	pl, hl := strings.Split(ph, "."), strings.Split(hh, ".")
	if len(pl) != len(hl) {
		return false
	}
	for i := range pl {
		if pl[i] != "*" && pl[i] != hl[i] {
			return false
		}
	}
	return true
}
