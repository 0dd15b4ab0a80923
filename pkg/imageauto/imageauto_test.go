package imageauto

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/imagepolicy"
)

func objects(t *testing.T, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		for _, part := range strings.Split(d, "\n---\n") {
			m := map[string]any{}
			if err := yaml.Unmarshal([]byte(part), &m); err != nil {
				t.Fatalf("%v:\n%s", err, part)
			}
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
	return out
}

const repoYAML = `apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: app
  namespace: flux-system
spec:
  image: ghcr.io/org/app
  interval: 5m
  timeout: 60s
  provider: generic
  secretRef:
    name: regcred
status:
  lastScanResult:
    tagCount: 3`

const policiesYAML = `apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: app-main
  namespace: flux-system
  labels:
    team: shop
spec:
  imageRepositoryRef:
    name: app
  filterTags:
    pattern: '^main-[a-fA-F0-9]+-(?P<ts>.*)'
    extract: '$ts'
  policy:
    numerical:
      order: asc
  digestReflectionPolicy: Always
  interval: 10m
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: app-release
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: signed
    namespace: other
  policy:
    semver:
      range: 5.0.x
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: minio
spec:
  imageRepositoryRef:
    name: signed
    namespace: other
  filterTags:
    pattern: '^RELEASE\.(?P<timestamp>.*)Z$'
    extract: '$timestamp'
  policy:
    alphabetical: {}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: signed
  namespace: other
spec:
  image: registry.example.com:5000/org/signed
  interval: 1h
  exclusionList: []`

const automationYAML = `apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 30m
  sourceRef:
    kind: GitRepository
    name: flux-system
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        email: fluxcdbot@users.noreply.github.com
        name: fluxcdbot
      messageTemplate: |
        Automated image update
        {{ range .Changed.Changes }}{{ print .OldValue }} -> {{ println .NewValue | upper }}{{ end }}
      messageTemplateValues:
        env: prod
    push:
      branch: flux-image-updates
      options:
        merge_request.create: ""
  update:
    path: ./clusters/my-cluster/
    strategy: Setters
  policySelector:
    matchLabels:
      team: shop`

const deploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ignored
spec:
  policy: whatever`

func TestReadFluxObjects(t *testing.T) {
	c, err := Read(objects(t, repoYAML, policiesYAML, automationYAML, deploymentYAML), "default-ns")
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(c.Repositories) != 2 || len(c.Policies) != 3 || len(c.Automations) != 1 {
		t.Fatalf("read %d repositories, %d policies, %d automations, want 2 3 1", len(c.Repositories), len(c.Policies), len(c.Automations))
	}

	repo := c.Repositories[0]
	want := ImageRepository{
		ObjectRef: ObjectRef{"flux-system", "app"}, Image: "ghcr.io/org/app",
		Interval: 5 * time.Minute, Timeout: time.Minute, SecretRef: "regcred", Provider: "generic",
	}
	if repo.ObjectRef != want.ObjectRef || repo.Image != want.Image || repo.Interval != want.Interval || repo.Timeout != want.Timeout || repo.SecretRef != want.SecretRef || repo.Provider != want.Provider || repo.Exclusions != nil {
		t.Errorf("repository = %+v, want %+v", repo, want)
	}
	if signed := c.Repositories[1]; signed.Exclusions == nil || len(signed.Exclusions) != 0 {
		t.Errorf("exclusionList: [] read as %#v, want empty and not nil", signed.Exclusions)
	}

	main, ok := c.Policy(ObjectRef{"flux-system", "app-main"})
	if !ok {
		t.Fatal("policy app-main not found")
	}
	if main.Repository != (ObjectRef{"flux-system", "app"}) || main.DigestReflection != DigestAlways || main.Interval != 10*time.Minute {
		t.Errorf("app-main = %+v", main)
	}
	if !reflect.DeepEqual(main.Spec, imagepolicy.Spec{Kind: imagepolicy.Numerical, Order: imagepolicy.Asc, FilterPattern: "^main-[a-fA-F0-9]+-(?P<ts>.*)", Extract: "$ts"}) {
		t.Errorf("app-main spec = %+v", main.Spec)
	}
	release, _ := c.Policy(ObjectRef{"flux-system", "app-release"})
	if release.Repository != (ObjectRef{"other", "signed"}) || release.DigestReflection != DigestNever || release.Spec.Kind != imagepolicy.Semver || release.Spec.Range != "5.0.x" {
		t.Errorf("app-release = %+v", release)
	}
	minio, ok := c.Policy(ObjectRef{"default-ns", "minio"})
	if !ok || minio.Spec.Kind != imagepolicy.Alphabetical || minio.Spec.Order != "" {
		t.Errorf("minio (no namespace, no order) = %+v %v, want alphabetical in default-ns", minio, ok)
	}

	// The policies choose as Flux would, with their repository's exclusions.
	tags := func(ns ...string) []imagepolicy.Tag {
		var out []imagepolicy.Tag
		for _, n := range ns {
			out = append(out, imagepolicy.Tag{Name: n})
		}
		return out
	}
	for _, tt := range []struct {
		policy ImagePolicy
		tags   []string
		want   string
	}{
		// The default exclusion leaves the signature out.
		{main, []string{"main-abc-100", "main-def-200", "main-fff-300.sig"}, "main-def-200"},
		// exclusionList: [] keeps it.
		{minio, []string{"RELEASE.2021-01-01T00-00-00Z", "RELEASE.2022-01-01T00-00-00Z.sig"}, "RELEASE.2021-01-01T00-00-00Z"},
		{release, []string{"5.0.1", "5.0.9", "5.1.0", "5.0.10.sig"}, "5.0.9"},
	} {
		_, pat, err := c.Pattern(tt.policy)
		if err != nil {
			t.Fatalf("%s: %v", tt.policy.ObjectRef, err)
		}
		if got, _ := imagepolicy.Newest(pat, tags(tt.tags...)); got.Name != tt.want {
			t.Errorf("%s (%s) chose %q from %q, want %q", tt.policy.ObjectRef, pat, got.Name, tt.tags, tt.want)
		}
	}
	signedPat, _ := release.Pattern(c.Repositories[1])
	if !signedPat.Allows("5.0.1") || len(signedPat.Exclusions()) != 0 {
		t.Errorf("pattern with exclusionList [] = %s excluding %q", signedPat, signedPat.Exclusions())
	}

	a := c.Automations[0]
	if a.ObjectRef != (ObjectRef{"flux-system", "apps"}) || a.Source != (ObjectRef{"flux-system", "flux-system"}) || a.Interval != 30*time.Minute {
		t.Errorf("automation = %+v", a)
	}
	if a.Checkout == nil || *a.Checkout != (GitRef{Branch: "main"}) || a.PushBranch != "flux-image-updates" || a.PushOptions["merge_request.create"] != "" || len(a.PushOptions) != 1 {
		t.Errorf("checkout %+v, push %q %v", a.Checkout, a.PushBranch, a.PushOptions)
	}
	if a.AuthorName != "fluxcdbot" || a.AuthorEmail != "fluxcdbot@users.noreply.github.com" || !strings.HasPrefix(a.MessageTemplate, "Automated image update\n") || a.MessageTemplateValues["env"] != "prod" {
		t.Errorf("commit: %q <%s> %q %v", a.AuthorName, a.AuthorEmail, a.MessageTemplate, a.MessageTemplateValues)
	}
	if a.UpdatePath != "clusters/my-cluster" {
		t.Errorf("update path = %q, want clusters/my-cluster", a.UpdatePath)
	}
	var selected []string
	for _, p := range c.PoliciesFor(a) {
		selected = append(selected, p.Name)
	}
	if !slices.Equal(selected, []string{"app-main"}) {
		t.Errorf("the automation selects %q, want app-main (label team=shop, same namespace)", selected)
	}
}

func TestAutomationDefaults(t *testing.T) {
	c, err := Read(objects(t, `apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageUpdateAutomation
metadata: {name: a, namespace: ns}
spec:
  interval: 1m
  sourceRef: {kind: GitRepository, name: repo, namespace: flux-system}
  git:
    commit:
      author: {email: bot@example.com}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: p, namespace: ns}
spec:
  imageRepositoryRef: {name: r}
  policy: {numerical: {order: desc}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: r, namespace: ns}
spec: {image: r.example.com/x, interval: 1m}`), "")
	if err != nil {
		t.Fatal(err)
	}
	a := c.Automations[0]
	if a.Source != (ObjectRef{"flux-system", "repo"}) || a.Checkout != nil || a.PushBranch != "" || a.UpdatePath != "." || a.MessageTemplate != "" || a.SigningKeySecret != "" {
		t.Errorf("defaults: %+v", a)
	}
	if got := c.PoliciesFor(a); len(got) != 1 || got[0].Spec.Order != imagepolicy.Desc {
		t.Errorf("without a selector the automation selects %v, want the namespace's one policy", got)
	}
}

func TestReadErrors(t *testing.T) {
	policy := func(spec string) string {
		return "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {name: p, namespace: ns}\nspec:\n" + spec
	}
	repo := func(spec string) string {
		return "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: r, namespace: ns}\nspec:\n" + spec
	}
	auto := func(spec string) string {
		return "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata: {name: a, namespace: ns}\nspec:\n" + spec
	}
	const okRepo = "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: r, namespace: ns}\nspec: {image: ghcr.io/o/r, interval: 1m}"
	const okAuto = "  interval: 1m\n  sourceRef: {kind: GitRepository, name: g}\n"
	const okGit = "  git: {commit: {author: {email: b@x}}}\n"
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"misspelt policy field", policy("  imageRepositoryRef: {name: r}\n  policy: {semVer: {range: 1.x}}"), `ImagePolicy ns/p (image.toolkit.fluxcd.io/v1): strict decoding error: unknown field "spec.policy.semVer"`},
		{"no policy", policy("  imageRepositoryRef: {name: r}\n  policy: {}"), "ImagePolicy ns/p (image.toolkit.fluxcd.io/v1): spec.policy: want one of semver, alphabetical or numerical, found none"},
		{"two policies", policy("  imageRepositoryRef: {name: r}\n  policy: {semver: {range: 1.x}, numerical: {}}"), "found semver and numerical"},
		{"bad order", policy("  imageRepositoryRef: {name: r}\n  policy: {numerical: {order: up}}"), `spec.policy.numerical.order: "up" is not asc or desc`},
		{"empty range", policy("  imageRepositoryRef: {name: r}\n  policy: {semver: {range: ''}}"), "spec.policy.semver.range: missing"},
		{"bad range", policy("  imageRepositoryRef: {name: r}\n  policy: {semver: {range: 'x.y'}}"), `spec.policy: bad semver constraint "x.y"`},
		{"extract without pattern", policy("  imageRepositoryRef: {name: r}\n  policy: {numerical: {}}\n  filterTags: {extract: $ts}"), "spec.filterTags: extract \"$ts\" needs a filter pattern"},
		{"extract of a missing group", policy("  imageRepositoryRef: {name: r}\n  policy: {numerical: {}}\n  filterTags: {pattern: '^(?P<t>.*)$', extract: $ts}"), `spec.filterTags: extract "$ts": the filter pattern has no group named "ts"`},
		{"bad filter", policy("  imageRepositoryRef: {name: r}\n  policy: {numerical: {}}\n  filterTags: {pattern: '('}"), "spec.filterTags: bad filter pattern"},
		{"no repository ref", policy("  imageRepositoryRef: {}\n  policy: {numerical: {}}"), "spec.imageRepositoryRef.name: missing"},
		{"missing repository", policy("  imageRepositoryRef: {name: nope}\n  policy: {numerical: {}}"), "ImagePolicy ns/p refers to ImageRepository ns/nope, which is not among the objects"},
		{"bad digest policy", policy("  imageRepositoryRef: {name: r}\n  policy: {numerical: {}}\n  digestReflectionPolicy: Sometimes"), `spec.digestReflectionPolicy: "Sometimes" is not Never, IfNotPresent or Always`},
		{"interval without Always", policy("  imageRepositoryRef: {name: r}\n  policy: {numerical: {}}\n  digestReflectionPolicy: IfNotPresent\n  interval: 1m"), "spec.interval: only accepted when spec.digestReflectionPolicy is Always"},
		{"Always without interval", policy("  imageRepositoryRef: {name: r}\n  policy: {numerical: {}}\n  digestReflectionPolicy: Always"), "spec.interval: must be set"},
		{"policy of the wrong type", policy("  imageRepositoryRef: {name: r}\n  policy: semver"), "ImagePolicy ns/p (image.toolkit.fluxcd.io/v1): spec.policy: a string where a mapping is expected"},

		{"image with a tag", repo("  image: ghcr.io/o/r:1.0\n  interval: 1m"), `ImageRepository ns/r (image.toolkit.fluxcd.io/v1): spec.image: "ghcr.io/o/r:1.0" has a tag`},
		{"image with a scheme", repo("  image: https://ghcr.io/o/r\n  interval: 1m"), "has a scheme"},
		{"image with a digest", repo("  image: ghcr.io/o/r@sha256:aa\n  interval: 1m"), "has a digest"},
		{"no image", repo("  interval: 1m"), "spec.image: missing"},
		{"no interval", repo("  image: ghcr.io/o/r"), "spec.interval: missing"},
		{"bad interval", repo("  image: ghcr.io/o/r\n  interval: 5 minutes"), `spec.interval: "5 minutes" is not a positive duration`},
		{"bad provider", repo("  image: ghcr.io/o/r\n  interval: 1m\n  provider: oci"), `spec.provider: "oci" is not generic, aws, azure or gcp`},
		{"bad exclusion", repo("  image: ghcr.io/o/r\n  interval: 1m\n  exclusionList: ['ok', '(']"), "spec.exclusionList[1]: bad regular expression"},
		{"exclusion list not a list", repo("  image: ghcr.io/o/r\n  interval: 1m\n  exclusionList: '.sig'"), "ImageRepository ns/r (image.toolkit.fluxcd.io/v1): spec.exclusionList: a string where a list is expected"},
		{"too many exclusions", repo("  image: ghcr.io/o/r\n  interval: 1m\n  exclusionList: [" + strings.Repeat("a,", 25) + "a]"), "26 entries, Flux allows at most 25"},

		{"source not git", auto("  interval: 1m\n  sourceRef: {kind: OCIRepository, name: g}\n" + okGit), `spec.sourceRef.kind: "OCIRepository" is not GitRepository`},
		{"no git", auto(okAuto), "spec.git: missing"},
		{"no author email", auto(okAuto + "  git: {commit: {author: {name: bot}}}"), "spec.git.commit.author.email: missing"},
		{"bad template", auto(okAuto + "  git: {commit: {author: {email: b@x}, messageTemplate: '{{ range .Changed }'}}"), "spec.git.commit.messageTemplate: not a valid Go template"},
		{"path leaves the repository", auto(okAuto + okGit + "  update: {path: ./apps/../../etc}"), `spec.update.path: "./apps/../../etc" leaves the repository`},
		{"absolute path", auto(okAuto + okGit + "  update: {path: /etc}"), "is absolute"},
		{"bad strategy", auto(okAuto + okGit + "  update: {strategy: Kustomize}"), `spec.update.strategy: "Kustomize" is not Setters`},
		{"bad push branch", auto(okAuto + "  git: {commit: {author: {email: b@x}}, push: {branch: 'a..b'}}"), `spec.git.push.branch: "a..b" is not a valid branch name`},
		{"option-like push branch", auto(okAuto + "  git: {commit: {author: {email: b@x}}, push: {branch: '--force'}}"), "is not a valid branch name"},
		{"empty checkout ref", auto(okAuto + "  git: {checkout: {ref: {}}, commit: {author: {email: b@x}}}"), "spec.git.checkout.ref: empty"},
		{"bad selector", auto(okAuto + okGit + "  policySelector: {matchExpressions: [{key: a, operator: Near}]}"), "spec.policySelector: "},
		{"unknown automation field", auto(okAuto + okGit + "  update: {paths: [a]}"), `unknown field "spec.update.paths"`},

		{"old version", "apiVersion: image.toolkit.fluxcd.io/v1beta1\nkind: ImagePolicy\nmetadata: {name: p, namespace: ns}\nspec: {}", `ImagePolicy ns/p (image.toolkit.fluxcd.io/v1beta1): apiVersion: version "v1beta1" is not read (want v1 or v1beta2)`},
		{"no namespace", "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: r}\nspec: {image: ghcr.io/o/r, interval: 1m}", "metadata.namespace: missing, and no default namespace was given"},
		{"no spec", "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: r2, namespace: ns}", "spec: missing"},
		{"twice", okRepo, "ImageRepository ns/r is defined twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// okRepo comes along so that policies have their repository,
			// and errors of one object do not hide the others.
			c, err := Read(objects(t, okRepo, tt.doc), "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Read error:\n%v\nwant it to contain %q", err, tt.want)
			}
			if tt.name != "twice" && tt.name != "missing repository" {
				if len(c.Repositories) != 1 || len(c.Policies)+len(c.Automations) != 0 {
					t.Errorf("read %d repositories %d policies %d automations, want only the good repository", len(c.Repositories), len(c.Policies), len(c.Automations))
				}
			}
		})
	}
}
