package watch

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// A head skipped as bad is no "error: none": the block's last line says
// which head and why, until a failure to retry takes the line.
func TestWatchStatusSaysWhyTheHeadWasSkipped(t *testing.T) {
	var out, term bytes.Buffer
	d := NewDisplay(DisplayOptions{Set: "web", Out: &out, Terminal: &term, Width: func() int { return 200 }})
	defer d.Close()
	head := "fedcba9876543210fedcba9876543210fedcba98"
	st := Status{Revision: "0123456789abcdef0123456789abcdef01234567", Head: head, HeadBad: true}
	d.Event(Event{Type: EventBadRevision, Time: time.Now(), Revision: head, Err: &BadRevisionError{Err: errors.New("a.yaml:3: not a map\nmore")}, Status: st})
	lines := d.statusLines(time.Now())
	if !strings.Contains(lines[0], "head fedcba987654 skipped (bad)") {
		t.Fatalf("header %q", lines[0])
	}
	if want := "error: head fedcba987654 skipped until the head moves: a.yaml:3: not a map"; lines[3] != want {
		t.Errorf("error line %q, want %q", lines[3], want)
	}
	st.LastError, st.Failures, st.LastErrorTime = "fetch: timeout", 2, time.Now()
	d.Event(Event{Type: EventFailed, Time: time.Now(), Step: StepFetch, Err: errors.New("timeout"), Attempt: 2, Status: st})
	if lines := d.statusLines(time.Now()); !strings.HasPrefix(lines[3], "error ") || !strings.Contains(lines[3], "(attempt 2): fetch: timeout") {
		t.Errorf("error line with a failure: %q", lines[3])
	}
}

// After the terminal narrows, the block on screen takes more rows, and a
// redraw moves up over all of them.
func TestWatchRedrawAfterTheTerminalNarrows(t *testing.T) {
	var term bytes.Buffer
	width := 100
	d := NewDisplay(DisplayOptions{Set: strings.Repeat("s", 80), Out: &term, Terminal: &term, Width: func() int { return width }})
	defer d.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	// The header, "gitops watch sss… @ (nothing synced yet)", is cut to 99
	// columns; the three other lines are short.
	if s := d.redraw(""); strings.Contains(s, "\x1b[") {
		t.Fatalf("the first draw moves the cursor: %q", s)
	}
	if s := d.redraw(""); !strings.HasPrefix(s, "\r\x1b[3A\x1b[J") {
		t.Fatalf("a redraw at the same width starts %q, want to move up 3 rows", s[:12])
	}
	// At 40 columns the header wraps onto 3 rows: 6 rows in all.
	width = 40
	if s := d.redraw(""); !strings.HasPrefix(s, "\r\x1b[5A\x1b[J") {
		t.Errorf("the redraw after narrowing starts %q, want to move up 5 rows", s[:12])
	}
}
