package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testregistry"
)

const fluxKustomization = `# Images of the app, moved by Flux's image automation.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deploy.yaml
images:
  - name: app
    newName: HOST/team/app   # {"$imagepolicy": "flux-system:app:name"}
    newTag: "1.0.0"  # {"$imagepolicy": "flux-system:app:tag"}
  # the worker follows its stable tag, pinned by digest
  - name: worker
    newName: HOST/team/worker # {"$imagepolicy": "flux-system:worker:name"}
    newTag: stable
    digest: DIGEST # {"$imagepolicy": "flux-system:worker:digest"}
`

const fluxDeploy = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: demo
spec:
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
        - name: app
          image: app:1.0.0
        - name: worker
          image: worker:stable
`

const fluxObjects = `apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: app
  namespace: flux-system
spec:
  image: HOST/team/app
  interval: 5m
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: app
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: app
  policy:
    semver:
      range: ^1.0.0
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: worker
  namespace: flux-system
spec:
  image: HOST/team/worker
  interval: 5m
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: worker
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: worker
  filterTags:
    pattern: ^stable$
  policy:
    alphabetical: {}
  digestReflectionPolicy: Always
  interval: 10m
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata:
  name: prod
  namespace: flux-system
spec:
  interval: 30m
  sourceRef:
    kind: GitRepository
    name: fleet
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        name: Image Bot
        email: bot@example.com
      messageTemplate: |-
        images: {{ len .Changed.Changes }} change(s) by {{ .AutomationObject }}
        {{ range $file, $_ := .Changed.FileChanges }}
        - {{ $file }}{{ end }}
  update:
    path: ./clusters/prod
    strategy: Setters
`

// TestImagesFluxV2Repository: a Flux v2 repository, as it is, on a git
// remote served over HTTPS by git http-backend and with images on the
// distribution registry: images lists its markers; --update moves them
// byte-exact on main with the automation's author and message; then, after
// the worker's stable tag is pushed again with new content, --push-branch
// puts the update on a review branch (digest pinned anew), main untouched.
func TestImagesFluxV2Repository(t *testing.T) {
	writeGitConfig(t)
	const user, pass = "puller", "flux-v2-pa55"
	host := testregistry.StartDistribution(t, user, pass)
	reg := &testRegistry{t: t, host: host}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, tag := range []string{"1.0.0", "1.1.0", "1.2.0", "2.0.0"} {
		reg.pushAuth("team/app", tag, t0.Add(time.Duration(i)*time.Hour), user, pass)
	}
	stable1 := reg.pushAuth("team/worker", "stable", t0, user, pass)
	docker := dockerConfigDir(t, map[string]string{host: user + ":" + pass})

	kust := strings.NewReplacer("HOST", host, "DIGEST", stable1).Replace(fluxKustomization)
	work := newRepo(t, map[string]string{
		"clusters/prod/apps/kustomization.yaml":         kust,
		"clusters/prod/apps/deploy.yaml":                fluxDeploy,
		"clusters/prod/image-automation/policies.yaml":  strings.ReplaceAll(fluxObjects, "HOST", host),
		"clusters/staging/apps/kustomization.yaml":      kust,
		"clusters/staging/image-automation/README.yaml": "# outside update.path\n",
	})
	root := t.TempDir()
	bareDir := filepath.Join(root, "fleet.git")
	work.git("clone", "-q", "--bare", work.dir, bareDir)
	bare := &repo{t: t, dir: bareDir}
	bare.git("config", "http.receivepack", "true")
	const gitUser, gitPass = "git", "fleet-t0ken"
	srv := newGitHTTPSServer(t, root, gitUser, gitPass)
	url := srv.URL + "/fleet.git"
	cache := t.TempDir()
	run := func(args ...string) result {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), filepath.Join(binDir, "kubectl-gitops"), args...)
		cmd.Dir = t.TempDir()
		cmd.Env = []string{
			"PATH=" + binDir,
			"HOME=" + home,
			"XDG_CACHE_HOME=" + cache,
			"KUBECONFIG=" + filepath.Join(home, "no-such-kubeconfig"),
			"DOCKER_CONFIG=" + docker,
			"GIT_CONFIG_GLOBAL=" + filepath.Join(home, "gitconfig"),
			"SSL_CERT_FILE=" + srv.certFile,
			"KUBECTL_GITOPS_GIT_PASSWORD=" + gitPass,
		}
		r := execute(t, cmd)
		if r.code != 0 {
			t.Fatalf("kubectl-gitops %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r
	}
	src := []string{"--repo", url, "--git-username", gitUser, "--path", "clusters/prod"}

	// The markers, with the newest tag each policy allows.
	r := run(append([]string{"images"}, src...)...)
	for _, want := range []string{
		"clusters/prod/apps/kustomization.yaml:9   flux-system:app:tag",
		"1.0.0",
		"1.2.0",
		"clusters/prod/apps/kustomization.yaml:14  flux-system:worker:digest",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("images output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "clusters/staging") {
		t.Fatalf("a marker outside update.path is listed:\n%s", r.stdout)
	}

	// Update on main, byte-exact, by the automation's author and template.
	mainBefore := bare.git("rev-parse", "main")
	r = run(append([]string{"images", "--update"}, src...)...)
	if !strings.Contains(r.stdout, "committed and pushed") || !strings.Contains(r.stdout, "on main") {
		t.Fatalf("update output:\n%s", r.stdout)
	}
	want := strings.Replace(kust, `newTag: "1.0.0"`, `newTag: "1.2.0"`, 1)
	if got := bare.git("show", "main:clusters/prod/apps/kustomization.yaml"); got+"\n" != want {
		t.Fatalf("kustomization.yaml on main:\n%s\nwant (byte-exact):\n%s", got, want)
	}
	if got := bare.git("show", "main:clusters/staging/apps/kustomization.yaml"); got+"\n" != kust {
		t.Fatalf("a file outside update.path changed:\n%s", got)
	}
	if got := bare.git("log", "-1", "--format=%an <%ae>%n%B", "main"); got != "Image Bot <bot@example.com>\nimages: 1 change(s) by flux-system/prod\n\n- clusters/prod/apps/kustomization.yaml" {
		t.Fatalf("commit on main:\n%s", got)
	}
	if p := bare.git("rev-parse", "main^"); p != mainBefore {
		t.Fatalf("main's new commit has parent %s, want %s", p, mainBefore)
	}

	// A rebuilt stable (the tag list is cached: the tag itself is asked
	// for its digest) goes to a review branch.
	stable2 := reg.pushAuth("team/worker", "stable", t0.Add(time.Hour), user, pass)
	mainNow := bare.git("rev-parse", "main")
	r = run(append([]string{"images", "--update", "--push-branch", "images/review"}, src...)...)
	if !strings.Contains(r.stdout, "on images/review") {
		t.Fatalf("review update output:\n%s", r.stdout)
	}
	if got := bare.git("rev-parse", "main"); got != mainNow {
		t.Fatalf("main moved to %s with --push-branch", got)
	}
	want = strings.NewReplacer(`newTag: "1.0.0"`, `newTag: "1.2.0"`, stable1, stable2).Replace(kust)
	if got := bare.git("show", "images/review:clusters/prod/apps/kustomization.yaml"); got+"\n" != want {
		t.Fatalf("kustomization.yaml on the review branch:\n%s\nwant (byte-exact):\n%s", got, want)
	}
	if p := bare.git("rev-parse", "images/review^"); p != mainNow {
		t.Fatalf("the review commit's parent is %s, want main %s", p, mainNow)
	}
	if msg := bare.git("log", "-1", "--format=%B", "images/review"); !strings.Contains(msg, "Kubectl-Gitops-Review: main") {
		t.Fatalf("review commit message lacks the trailer:\n%s", msg)
	}
}

// TestSyncLeavesFluxImageObjectsOut: the image automation objects of a
// Flux v2 repository are configuration for images, never applied: sync
// applies the rest (the cluster has no image.toolkit.fluxcd.io CRDs, which
// would make them an unknown kind), and diff finds nothing left to do.
func TestSyncLeavesFluxImageObjectsOut(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{
		"deploy/a.yaml":                  configMap("a", "one"),
		"deploy/image-automation/p.yaml": strings.ReplaceAll(fluxObjects, "HOST", "registry.example.com"),
	})
	args := []string{"--name", "imgset", "--repo", repo.dir, "--path", "deploy", "-n", ns}
	r := mustKubectl(t, append([]string{"gitops", "sync"}, args...)...)
	if !strings.Contains(r.stdout, "ConfigMap/"+ns+"/a created") || strings.Contains(r.stdout+r.stderr, "ImagePolicy") || strings.Contains(r.stdout+r.stderr, "ImageRepository") {
		t.Fatalf("sync output:\n%s\n%s", r.stdout, r.stderr)
	}
	if r := kubectl(t, "gitops", "diff", "--name", "imgset", "-n", ns); r.code != 0 {
		t.Fatalf("diff after sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustKubectl(t, "get", "configmap", "a", "-n", ns)
}
