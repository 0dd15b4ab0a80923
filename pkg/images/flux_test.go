package images

import (
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageauto"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/registry"
)

// fluxPolicies is a separate folder of image automation objects for the
// repository at host.
func fluxPolicies(host, extra string) string {
	return `apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: app
  namespace: flux-system
spec:
  image: ` + host + `/app
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
      range: ">=1.0.0 <2"
` + extra + `---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: build
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: app
  filterTags:
    pattern: '^main-(?P<ts>.+)$'
    extract: '$ts'
  policy:
    numerical:
      order: asc
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  sourceRef:
    kind: GitRepository
    name: fleet
  git:
    commit:
      author:
        email: bot@example.com
        name: Image Bot
      messageTemplate: |
        Update from {{ .AutomationObject }}
        {{ range .Changed.Changes }}{{ .OldValue }} -> {{ .NewValue }} ({{ .Setter }})
        {{ end }}{{ upper .Values.env }}
      messageTemplateValues:
        env: prod
  update:
    path: ./deploy/apps
    strategy: Setters
`
}

const kustomizationWithMarkers = `# the app's images
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deploy.yaml
images:
  - name: app
    newName: HOST/app # {"$imagepolicy": "flux-system:app:name"}
    newTag: 1.0.0 # {"$imagepolicy": "flux-system:app:tag"}
  - {name: worker, newTag: main-9} # {"$imagepolicy": "flux-system:build:tag"}
`

const deployWithMarker = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
        - name: app
          image:   "HOST/app:1.0.0"   # {"$imagepolicy": "flux-system:app"}
        - name: worker
          image: worker:main-9
`

func fluxTree(t *testing.T, host string) (fstest.MapFS, *imageauto.Config) {
	t.Helper()
	fsys := fstest.MapFS{
		"deploy/flux/policies.yaml":          {Data: []byte(fluxPolicies(host, ""))},
		"deploy/apps/kustomization.yaml":     {Data: []byte(strings.ReplaceAll(kustomizationWithMarkers, "HOST", host))},
		"deploy/apps/deploy.yaml":            {Data: []byte(strings.ReplaceAll(deployWithMarker, "HOST", host))},
		"outside/deploy.yaml":                {Data: []byte(strings.ReplaceAll(deployWithMarker, "HOST", host))},
		"deploy/apps/.hidden/markers.yaml":   {Data: []byte(strings.ReplaceAll(deployWithMarker, "HOST", host))},
		"deploy/apps/notes.txt":              {Data: []byte(`# {"$imagepolicy": "flux-system:app"}`)},
		"deploy/apps/README.md":              {Data: []byte("see $imagepolicy")},
		"deploy/apps/nomarker/service.yaml":  {Data: []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n")},
		"deploy/apps/nomarker/service2.yaml": {Data: []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: s2\n")},
	}
	_, cfg, err := Tree{FS: fsys, Dir: "deploy", Namespace: "default"}.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return fsys, cfg
}

func TestFluxMarkersListAndUpdate(t *testing.T) {
	host := serve(t, "app", "1.0.0", "1.1.0", "1.9.3", "2.0.0", "main-9", "main-10", "main-x", "1.9.3.sig")
	fsys, cfg := fluxTree(t, host)
	if len(cfg.Policies) != 2 || len(cfg.Automations) != 1 || cfg.Automations[0].UpdatePath != "deploy/apps" {
		t.Fatalf("config read: %+v", cfg)
	}
	reg, err := registry.New(registry.Config{NoDiskCache: true})
	if err != nil {
		t.Fatal(err)
	}
	f, err := ScanFlux(t.Context(), fsys, "deploy", cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	var got []string
	for _, m := range f.Markers {
		got = append(got, strings.Join([]string{m.File, strconv.Itoa(m.Line), m.Policy, m.Value, m.Latest}, " "))
	}
	want := []string{
		"deploy/apps/deploy.yaml 10 flux-system:app " + host + "/app:1.0.0 1.9.3",
		"deploy/apps/kustomization.yaml 8 flux-system:app:name " + host + "/app 1.9.3",
		"deploy/apps/kustomization.yaml 9 flux-system:app:tag 1.0.0 1.9.3",
		"deploy/apps/kustomization.yaml 10 flux-system:build:tag main-9 main-10",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("markers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "flux-system/build") || !strings.Contains(f.Warnings[0], "main-x") {
		t.Fatalf("warnings %q: want the numerical policy's skipped tag main-x", f.Warnings)
	}

	a, err := f.Automation("")
	if err != nil || a == nil {
		t.Fatalf("automation: %v, %v", a, err)
	}
	files := map[string][]byte{}
	changes, err := f.EditMarkers(t.Context(), fsys, files, reg, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 || len(files) != 2 {
		t.Fatalf("changes %+v, files %d: want 3 changes in 2 files", changes, len(files))
	}
	wantDeploy := strings.Replace(string(fsys["deploy/apps/deploy.yaml"].Data), "app:1.0.0\"", "app:1.9.3\"", 1)
	if string(files["deploy/apps/deploy.yaml"]) != wantDeploy {
		t.Fatalf("deploy.yaml:\n%s\nwant (byte-exact):\n%s", files["deploy/apps/deploy.yaml"], wantDeploy)
	}
	wantKust := strings.NewReplacer("newTag: 1.0.0", "newTag: 1.9.3", "newTag: main-9}", "newTag: main-10}").Replace(string(fsys["deploy/apps/kustomization.yaml"].Data))
	if string(files["deploy/apps/kustomization.yaml"]) != wantKust {
		t.Fatalf("kustomization.yaml:\n%s\nwant (byte-exact):\n%s", files["deploy/apps/kustomization.yaml"], wantKust)
	}
	if _, ok := files["outside/deploy.yaml"]; ok {
		t.Fatal("a file outside update.path was edited")
	}
	if changes[0].Object.Kind != "Deployment" || changes[0].Object.Name != "app" {
		t.Fatalf("object of the first change: %+v", changes[0].Object)
	}

	msg, err := FluxMessage(a, changes)
	if err != nil {
		t.Fatal(err)
	}
	wantMsg := "Update from flux-system/apps\n" +
		host + "/app:1.0.0 -> " + host + "/app:1.9.3 (flux-system:app)\n" +
		"1.0.0 -> 1.9.3 (flux-system:app:tag)\n" +
		"main-9 -> main-10 (flux-system:build:tag)\n" +
		"PROD\n"
	if msg != wantMsg {
		t.Fatalf("message:\n%q\nwant\n%q", msg, wantMsg)
	}
}

func TestFluxMessageDefaultAndErrors(t *testing.T) {
	changes := []MarkerChange{{File: "a.yaml", Line: 3, Policy: "ns:p", From: "r:1", To: "r:2", Object: ObjectIdentifier{Kind: "Deployment", Name: "web"}}}
	a := &imageauto.ImageUpdateAutomation{ObjectRef: imageauto.ObjectRef{Namespace: "ns", Name: "auto"}}
	msg, err := FluxMessage(a, changes)
	if err != nil {
		t.Fatal(err)
	}
	// Flux's default template, as Go executes it: "{{ end -}}" eats the
	// blank line before "Objects:".
	want := "Automated image update\n\nAutomation name: ns/auto\n\nFiles:\n- a.yaml\nObjects:\n- Deployment web\n  Changes:\n    - r:1 -> r:2\n"
	if msg != want {
		t.Fatalf("default message:\n%q\nwant\n%q", msg, want)
	}
	a.MessageTemplate = `{{ .Updated }}`
	if _, err := FluxMessage(a, changes); err == nil || !strings.Contains(err.Error(), "spec.git.commit.messageTemplate") {
		t.Fatalf("the removed .Updated: %v", err)
	}
	a.MessageTemplate = `{{ sha256sum "x" }}`
	if _, err := FluxMessage(a, changes); err == nil || !strings.Contains(err.Error(), "Sprig") {
		t.Fatalf("a Sprig function: %v", err)
	}
}

// TestPlanOrdersByPolicy: an automated update moves forward by the
// policy's own order, not by creation time: main-10 is newer than main-9
// for a numerical policy on the extracted build number even when its
// image is older, and the tag in git moves to it.
func TestPlanOrdersByPolicy(t *testing.T) {
	host := serve(t, "app", "main-10", "main-9", "b", "a")
	for _, tc := range []struct{ filter, from, to string }{
		{"numerical:asc;extract=$n;filter=^main-(?P<n>[0-9]+)$", "main-9", "main-10"},
		{"alphabetical:asc;filter=^[ab]$", "a", "b"},
	} {
		ann := "  annotations:\n    fluxcd.io/automated: \"true\"\n    kubectl-gitops.dev/tag.app: \"" + tc.filter + "\"\n"
		changes, err := scanAndPlan(t, map[string]string{"d.yaml": deployment("web", ann, host+"/app:"+tc.from)}, UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) != 1 || changes[0].To != host+"/app:"+tc.to {
			t.Fatalf("%s: changes %+v, want %s -> %s", tc.filter, changes, tc.from, tc.to)
		}
	}
}

// TestDigestAnnotationValue: the digest annotation takes "pin" only; any
// other value is an error on its container naming the annotation.
func TestDigestAnnotationValue(t *testing.T) {
	host := serve(t, "app", "1.0.0")
	ann := "  annotations:\n    kubectl-gitops.dev/automated: \"true\"\n    kubectl-gitops.dev/digest.app: always\n"
	fsys := fstest.MapFS{"d.yaml": {Data: []byte(deployment("web", ann, host+"/app:1.0.0"))}}
	reg, err := registry.New(registry.Config{NoDiskCache: true})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := Scan(t.Context(), fsys, ".", "default", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || !strings.Contains(cs[0].Error, `kubectl-gitops.dev/digest.app is "always"`) {
		t.Fatalf("containers %+v: want an error naming the annotation", cs)
	}
}
