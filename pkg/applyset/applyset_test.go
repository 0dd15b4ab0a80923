package applyset

import (
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestID(t *testing.T) {
	// The value kubectl computes for configmap/web in namespace demo.
	got := ID("web", "demo", "ConfigMap", "")
	if got != ID("web", "demo", "ConfigMap", "") || len(got) != len("applyset-")+43+len("-v1") {
		t.Fatalf("ID = %q", got)
	}
	if ID("web", "other", "ConfigMap", "") == got || ID("web", "demo", "Secret", "") == got {
		t.Fatal("ID does not depend on the namespace and kind")
	}
}

func TestMembersRoundTrip(t *testing.T) {
	m := Members{
		{Kind: "ConfigMap", Namespace: "demo", Name: "a"}:                   {Hash: "0123456789abcdef", ResourceVersion: "42"},
		{Group: "apps", Kind: "Deployment", Namespace: "demo", Name: "web"}: {Hash: "fedcba9876543210", ResourceVersion: "7"},
		{Kind: "Namespace", Name: "demo"}:                                   {Hash: "00", ResourceVersion: "1"},
	}
	got, err := ParseMembers(m.String())
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip: %v %v, want %v", got, err, m)
	}
	if _, err := ParseMembers("ConfigMap demo a"); err == nil {
		t.Fatal("a short line parsed")
	}
}

func TestGroupKindsAndNamespacesFormat(t *testing.T) {
	gks := map[schema.GroupKind]bool{{Group: "apps", Kind: "Deployment"}: true, {Kind: "ConfigMap"}: true}
	if s := formatGroupKinds(gks); s != "ConfigMap,Deployment.apps" {
		t.Fatalf("formatGroupKinds = %q", s)
	}
	if got := parseGroupKinds("ConfigMap,Deployment.apps"); !reflect.DeepEqual(got, gks) {
		t.Fatalf("parseGroupKinds = %v", got)
	}
	if s := formatNamespaces(map[string]bool{"b": true, "a": true, "parent": true}, "parent"); s != "a,b" {
		t.Fatalf("formatNamespaces = %q", s)
	}
}

func TestRecordKeepsTenRunsAndOnlySuccessfulRevisions(t *testing.T) {
	var r Record
	src := Source{Repo: "r"}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 12 {
		r.Add(src, Run{Revision: string(rune('a' + i)), Started: start, Outcome: OutcomeSucceeded})
	}
	r.Add(src, Run{Revision: "bad", Started: start, Outcome: OutcomeFailed})
	if len(r.History) != HistoryLimit || r.History[0].Revision != "bad" {
		t.Fatalf("history %v", r.History)
	}
	if r.LastSyncedRevision != "l" {
		t.Fatalf("last synced %q, want l (the failed run must not move it)", r.LastSyncedRevision)
	}
}

func TestIsParent(t *testing.T) {
	for _, tc := range []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		want        bool
	}{
		{"plain", map[string]string{"app": "web"}, map[string]string{"note": "x"}, false},
		{"member", map[string]string{LabelPartOf: "applyset-x-v1"}, nil, false},
		{"id label", map[string]string{LabelID: "applyset-x-v1"}, nil, true},
		{"tooling", nil, map[string]string{AnnotationTooling: "kubectl/v1.32.0"}, true},
		{"group kinds", nil, map[string]string{AnnotationGKs: "ConfigMap"}, true},
		{"namespaces", nil, map[string]string{AnnotationNSs: "a,b"}, true},
		{"older group resources", nil, map[string]string{annotationGRsOlder: "configmaps"}, true},
	} {
		if got := IsParent(tc.labels, tc.annotations); got != tc.want {
			t.Errorf("%s: IsParent = %v, want %v", tc.name, got, tc.want)
		}
	}
}
