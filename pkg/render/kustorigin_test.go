package render

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"sigs.k8s.io/kustomize/api/krusty"
)

// overlayTree is an overlay over a base, with a component, a generator, a
// patch and the build options in opts (a line of the overlay's
// kustomization, or "").
func overlayTree(opts string) fstest.MapFS {
	return fstest.MapFS{
		"apps/base/kustomization.yaml":      {Data: []byte("resources:\n- web.yaml\n- more/\nconfigMapGenerator:\n- name: conf\n  literals: [a=b]\n")},
		"apps/base/web.yaml":                {Data: []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n    team: a\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.0\n        envFrom: [{configMapRef: {name: conf}}]\n")},
		"apps/base/more/kustomization.yaml": {Data: []byte("resources: [db.yaml]\n")},
		"apps/base/more/db.yaml":            {Data: []byte("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  template:\n    spec:\n      containers: [{name: db, image: postgres:16}]\n")},
		"apps/comp/kustomization.yaml":      {Data: []byte("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [cm.yaml]\nlabels: [{pairs: {tier: web}}]\n")},
		"apps/comp/cm.yaml":                 {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n")},
		"apps/prod/kustomization.yaml": {Data: []byte("namespace: prod\nnamePrefix: prod-\nresources:\n- ../base\n- svc.json\ncomponents: [../comp]\n" +
			"images:\n- name: nginx\n  newTag: \"1.2\"\npatches:\n- patch: |\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: web}\n    spec: {replicas: 3}\n" + opts)},
		"apps/prod/svc.json": {Data: []byte(`{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}`)},
	}
}

// Kustomize is asked where each object came from, and the objects are
// still exactly those it builds without being asked.
func TestKustomizeOrigins(t *testing.T) {
	for _, opts := range []string{"", "buildMetadata: [transformerAnnotations]\n", "buildMetadata:\n- managedByLabel\n", "  # a comment at the end\n"} {
		fsys := overlayTree(opts)
		objs, err := RenderWith(t.Context(), fsys, "apps/prod", Options{Resources: true})
		if err != nil {
			t.Fatalf("%q: %v", opts, err)
		}
		var got []string
		for _, o := range objs {
			got = append(got, o.Object.GetKind()+"/"+o.Object.GetName()+" "+o.Origin.String()+" "+o.Origin.Resource)
		}
		want := []string{
			"ConfigMap/prod-conf-4h2mbtbbt6 apps/prod/kustomization.yaml ",
			"ConfigMap/prod-extra apps/prod/kustomization.yaml apps/comp/cm.yaml",
			"Service/prod-web apps/prod/kustomization.yaml apps/prod/svc.json",
			"Deployment/prod-web apps/prod/kustomization.yaml apps/base/web.yaml",
			"StatefulSet/prod-db apps/prod/kustomization.yaml apps/base/more/db.yaml",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%q: objects\n%s\nwant\n%s", opts, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}

		// The same objects, byte for byte, as kustomize builds them alone.
		m, err := krusty.MakeKustomizer(kustomizeOptions()).Run(commitFS{fsys: fsys}, "/apps/prod")
		if err != nil {
			t.Fatal(err)
		}
		out, err := m.AsYaml()
		if err != nil {
			t.Fatal(err)
		}
		plain, errs := decodeFile("apps/prod/kustomization.yaml", out, false)
		if len(errs) > 0 || len(plain) != len(objs) {
			t.Fatalf("%q: %v, %d objects", opts, errs, len(plain))
		}
		for i := range plain {
			if !reflect.DeepEqual(plain[i].Object.Object, objs[i].Object.Object) {
				t.Errorf("%q: object %d is\n%v\nkustomize alone builds\n%v", opts, i, objs[i].Object.Object, plain[i].Object.Object)
			}
			if _, ok := objs[i].Object.GetAnnotations()["config.kubernetes.io/origin"]; ok {
				t.Errorf("%q: %s has the origin annotation", opts, objs[i].Object.GetName())
			}
		}

		// Not asked, kustomize does not track origins: the same objects.
		unasked, err := Render(t.Context(), fsys, "apps/prod")
		if err != nil || len(unasked) != len(objs) {
			t.Fatalf("%q: %v, %d objects", opts, err, len(unasked))
		}
		for i := range unasked {
			if unasked[i].Origin.Resource != "" || !reflect.DeepEqual(unasked[i].Object.Object, objs[i].Object.Object) {
				t.Errorf("%q: object %d without Resources: %v %v", opts, i, unasked[i].Origin, unasked[i].Object.Object)
			}
		}
	}
}

// A kustomization that asks for origin annotations keeps them.
func TestKustomizeOriginsAskedFor(t *testing.T) {
	fsys := overlayTree("buildMetadata: [originAnnotations]\n")
	objs, err := RenderWith(t.Context(), fsys, "apps/prod", Options{Resources: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Object.GetKind() != "Deployment" {
			continue
		}
		if got := o.Object.GetAnnotations()["config.kubernetes.io/origin"]; got != "path: ../base/web.yaml\n" || o.Origin.Resource != "apps/base/web.yaml" {
			t.Errorf("origin annotation %q, resource %q", got, o.Origin.Resource)
		}
		return
	}
	t.Fatal("no Deployment")
}

func TestWithOriginAnnotations(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"resources: [a.yaml]\n", "resources: [a.yaml]\nbuildMetadata: [originAnnotations]\n"},
		{"resources: [a.yaml]", "resources: [a.yaml]\nbuildMetadata: [originAnnotations]\n"},
		{"  resources:\n  - a.yaml\n", "  resources:\n  - a.yaml\n  buildMetadata: [originAnnotations]\n"},
		{`{"resources": ["a.yaml"]}`, "{\"resources\": [\"a.yaml\"], buildMetadata: [originAnnotations]}\n"},
		{"buildMetadata: [managedByLabel]\n", "buildMetadata: [managedByLabel, originAnnotations]\n"},
		{"buildMetadata: [originAnnotations]\n", ""},
		{"- a\n", ""},
		{"a: [\n", ""},
	} {
		out, _ := withOriginAnnotations([]byte(tc.in))
		if string(out) != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, out, tc.want)
		}
	}
}
