package watch

import (
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
)

// TestWarningsOncePerChange: a warning that every interval repeats is
// written once, a new one when it appears, and a gone one again when it
// comes back.
func TestWarningsOncePerChange(t *testing.T) {
	streams, _, _, errOut := genericiooptions.NewTestIOStreams()
	w := &wiring{o: &Options{IOStreams: streams}}
	hpa := "Deployment/demo/web: spec.replicas is left to HorizontalPodAutoscaler web (in the cluster); the value in git is not applied"
	other := "could not list the HorizontalPodAutoscalers of namespace x"
	for _, run := range [][]string{{hpa}, {hpa}, {hpa, other}, {hpa, other}, {other}, nil, {hpa}} {
		w.warn(&apply.Result{Warnings: run})
	}
	w.warn(nil) // a run without a result changes nothing
	w.warn(&apply.Result{Warnings: []string{hpa}})
	want := "warning: " + hpa + "\nwarning: " + other + "\nwarning: " + hpa + "\n"
	if got := errOut.String(); got != want {
		t.Fatalf("stderr:\n%s\nwant:\n%s", got, want)
	}
	if strings.Count(errOut.String(), "warning:") != 3 {
		t.Fatal("want three warnings")
	}
}

// TestNotesOncePerChange: the session's notes of a sync (a source that
// differs from the recorded one, members left unpruned), which every sync
// of watch repeats, are written once, and again only after a sync without
// them.
func TestNotesOncePerChange(t *testing.T) {
	streams, _, _, errOut := genericiooptions.NewTestIOStreams()
	w := &wiring{o: &Options{IOStreams: streams}}
	changed := "note: the source differs from the one sync set web recorded: the path"
	for _, run := range [][]string{{changed}, {changed}, nil, {changed}} {
		for _, n := range run {
			w.Note(n)
		}
		w.notesDone()
	}
	if got, want := errOut.String(), changed+"\n"+changed+"\n"; got != want {
		t.Fatalf("stderr:\n%s\nwant:\n%s", got, want)
	}
}
