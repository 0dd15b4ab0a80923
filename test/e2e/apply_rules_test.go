package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/test/cluster"
)

// TestApplyRules runs watch (which forces conflicts) over a Deployment whose
// replicas are in git next to its HorizontalPodAutoscaler, and a Secret
// with the IfNotPresent policy, on a control plane with the controllers:
// what the autoscaler and another controller set is not taken back, and
// the Deployment is not rewritten every interval.
func TestApplyRules(t *testing.T) {
	c := cluster.ForTest(t, cluster.Options{Controllers: true})
	e := &watchEnv{c: c, kube: kubernetes.NewForConfigOrDie(c.RESTConfig)}
	ns := e.namespace(t, "apply-rules")
	web := strings.Replace(webDeployment(), "replicas: 1", "replicas: 2", 1)
	src := newRemote(t, map[string]string{
		"deploy/web.yaml": web,
		"deploy/hpa.yaml": `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 10
`,
		"deploy/token.yaml": `apiVersion: v1
kind: Secret
metadata:
  name: token
  annotations:
    kubectl-gitops.dev/ssa: IfNotPresent
stringData:
  token: placeholder
`,
	})
	rev := src.work.git("rev-parse", "HEAD")
	w := e.startWatch(t, "--name", "set", "--repo", src.url, "--ref", "main", "--path", "deploy", "-n", ns, "--interval", "2s", "--log-format", "json")
	ev := w.next(20*time.Second, "first sync", isEvent("synced", rev))
	if ev.Counts == nil || ev.Counts.Created != 3 {
		t.Fatalf("first sync: %+v", ev)
	}
	if r := e.deployment(t, ns, "web").Spec.Replicas; r == nil || *r != 2 {
		t.Fatalf("the new Deployment has %v replicas, want git's 2", r)
	}
	// The next interval hands spec.replicas over to the autoscaler.
	w.next(10*time.Second, "the hand-over", func(ev watchEvent) bool { return ev.Event == "corrected" || ev.Event == "checked" })

	// The autoscaler scales (as its controller does, through the scale
	// subresource), and another controller fills the Secret.
	deployments := e.kube.AppsV1().Deployments(ns)
	scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 4}}
	if _, err := deployments.UpdateScale(t.Context(), "web", scale, metav1.UpdateOptions{FieldManager: "autoscaler"}); err != nil {
		t.Fatal(err)
	}
	e.kubectl(t, "patch", "secret", "token", "-n", ns, "--type", "merge", "-p", `{"stringData":{"token":"filled"}}`)
	d := e.deployment(t, ns, "web")
	watcher, err := deployments.Watch(t.Context(), metav1.ListOptions{FieldSelector: "metadata.name=web", ResourceVersion: d.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Stop()

	// Five intervals: no correction names them.
	for i := range 5 {
		ev := w.next(10*time.Second, fmt.Sprintf("interval %d", i+1), func(ev watchEvent) bool { return ev.Event == "corrected" || ev.Event == "checked" })
		for _, c := range ev.Changes {
			if strings.Contains(c, "/web") || strings.Contains(c, "/token") {
				t.Fatalf("interval %d changed %q: %+v", i+1, c, ev)
			}
		}
	}
	writes, last := 0, managerEntry(d)
	for done := false; !done; {
		select {
		case got := <-watcher.ResultChan():
			if got.Type != watch.Modified {
				continue
			}
			b, _ := json.Marshal(got.Object)
			var obj struct {
				metav1.ObjectMeta `json:"metadata"`
			}
			_ = json.Unmarshal(b, &obj)
			if entry := managerEntry(&obj); entry != last {
				writes++
				last = entry
			}
		default:
			done = true
		}
	}
	if writes != 0 {
		t.Fatalf("watch wrote the Deployment %d times over 5 intervals, want none", writes)
	}
	if r := e.deployment(t, ns, "web").Spec.Replicas; r == nil || *r != 4 {
		t.Fatalf("deployment web has %v replicas, want the autoscaler's 4", r)
	}
	if got := e.kubectl(t, "get", "secret", "token", "-n", ns, "-o", "jsonpath={.data.token}"); got != "ZmlsbGVk" {
		t.Fatalf("the IfNotPresent Secret holds %q, want base64 of \"filled\"", got)
	}
}

// managerEntry is the managed-fields entry of kubectl-gitops' set manager.
func managerEntry(obj metav1.Object) string {
	for _, mf := range obj.GetManagedFields() {
		if strings.HasPrefix(mf.Manager, "kubectl-gitops/") && mf.Operation == metav1.ManagedFieldsOperationApply {
			b, _ := json.Marshal(mf)
			return string(b)
		}
	}
	return ""
}
