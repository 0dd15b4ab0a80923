package session

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// TestWithoutImageConfig: Flux v2's image automation objects are left out
// of what sync applies, in every version of the group; other objects of
// similar names stay.
func TestWithoutImageConfig(t *testing.T) {
	obj := func(apiVersion, kind string) render.Object {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetName("x")
		return render.Object{Object: u}
	}
	objs := []render.Object{
		obj("image.toolkit.fluxcd.io/v1", "ImageRepository"),
		obj("apps/v1", "Deployment"),
		obj("image.toolkit.fluxcd.io/v1beta2", "ImagePolicy"),
		obj("image.toolkit.fluxcd.io/v1", "ImageUpdateAutomation"),
		obj("example.com/v1", "ImagePolicy"),
	}
	got := withoutImageConfig(objs)
	if len(got) != 2 || got[0].Object.GetKind() != "Deployment" || got[1].Object.GetAPIVersion() != "example.com/v1" {
		t.Fatalf("kept %d objects: %v", len(got), got)
	}
	if len(objs) != 5 {
		t.Fatal("the render's own list was changed")
	}
}
