package watch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// screen is a small terminal: it understands printable text, \r, \n,
// ESC[nA (cursor up) and ESC[J (erase to the end of the screen), and fails
// the test on any other escape. \n also returns the carriage, as a tty's
// output processing (ONLCR) makes it. Text past the right edge wraps; a line feed
// at the bottom scrolls the screen up.
type screen struct {
	t             *testing.T
	width, height int
	cells         [][]rune
	row, col      int
	scrolled      int
}

func newScreen(t *testing.T, width, height int) *screen {
	s := &screen{t: t, width: width, height: height}
	for range height {
		s.cells = append(s.cells, nil)
	}
	return s
}

func (s *screen) Write(p []byte) (int, error) {
	r := []rune(string(p))
	for i := 0; i < len(r); i++ {
		switch c := r[i]; {
		case c == '\r':
			s.col = 0
		case c == '\n': // a terminal's line discipline adds the \r
			s.col = 0
			s.lineFeed()
		case c == 0x1b:
			j := i + 2
			for j < len(r) && r[j] >= '0' && r[j] <= '9' {
				j++
			}
			if i+1 >= len(r) || r[i+1] != '[' || j >= len(r) {
				s.t.Fatalf("unsupported escape at %q", string(r[i:]))
			}
			n := 1
			if j > i+2 {
				n, _ = strconv.Atoi(string(r[i+2 : j]))
			}
			switch r[j] {
			case 'A':
				s.row = max(s.row-n, 0)
			case 'J':
				s.cells[s.row] = truncRunes(s.cells[s.row], s.col)
				for k := s.row + 1; k < s.height; k++ {
					s.cells[k] = nil
				}
			default:
				s.t.Fatalf("unsupported escape %q", string(r[i:j+1]))
			}
			i = j
		case c < ' ':
			s.t.Fatalf("control character %q written", c)
		default:
			if s.col >= s.width {
				s.col = 0
				s.lineFeed()
			}
			line := s.cells[s.row]
			for len(line) <= s.col {
				line = append(line, ' ')
			}
			line[s.col] = c
			s.cells[s.row] = line
			s.col++
		}
	}
	return len(p), nil
}

func truncRunes(r []rune, n int) []rune {
	if len(r) > n {
		return r[:n]
	}
	return r
}

func (s *screen) lineFeed() {
	if s.row == s.height-1 {
		s.cells = append(s.cells[1:], nil)
		s.scrolled++
		return
	}
	s.row++
}

func (s *screen) lines() []string {
	var out []string
	for _, l := range s.cells {
		out = append(out, strings.TrimRight(string(l), " "))
	}
	return out
}

func (s *screen) String() string { return strings.Join(s.lines(), "\n") }

func count(lines []string, substr string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// events returns a short history of a loop: a sync, checks, a correction,
// failures and a recovery.
func events() []Event {
	t0 := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	rev := "0123456789abcdef0123456789abcdef01234567"
	synced := &Report{Revision: rev, Subject: "add web", Counts: applyset.Counts{Created: 3, Unchanged: 1}, Duration: 120 * time.Millisecond}
	checked := &Report{Revision: rev, Previous: rev, Checked: true, Counts: applyset.Counts{Unchanged: 4}}
	corrected := &Report{Revision: rev, Previous: rev, Counts: applyset.Counts{Created: 1, Unchanged: 3}, Changes: []string{"ConfigMap/demo/a created"}}
	st := Status{Lease: "held", Holder: "me@host/1"}
	var out []Event
	add := func(e Event, f func(*Status)) {
		if f != nil {
			f(&st)
		}
		e.Time = t0.Add(time.Duration(len(out)) * time.Second)
		e.Status = st
		out = append(out, e)
	}
	add(Event{Type: EventStarted}, nil)
	add(Event{Type: EventAcquired, Holder: "me@host/1"}, nil)
	add(Event{Type: EventProgress}, func(s *Status) { s.Step = "fetching" })
	add(Event{Type: EventSynced, Revision: rev, Report: synced}, func(s *Status) {
		s.Step, s.Revision, s.Head, s.LastSync, s.LastSyncTime = "", rev, rev, synced, t0
	})
	for i := range 20 {
		add(Event{Type: EventProgress}, func(s *Status) { s.Step = "syncing " + Short(rev) })
		add(Event{Type: EventChecked, Revision: rev, Report: checked}, func(s *Status) {
			s.Step, s.LastSync, s.Next = "", checked, t0.Add(time.Duration(i+100)*time.Second)
		})
	}
	add(Event{Type: EventCorrected, Revision: rev, Report: corrected}, func(s *Status) {
		s.LastSync, s.Corrections, s.LastCorrection = corrected, 1, t0
	})
	for i := 1; i <= 5; i++ {
		err := errors.New("reading the parent of sync set \"web\": connection refused")
		add(Event{Type: EventFailed, Step: StepSync, Err: err, Attempt: i, RetryIn: Backoff(i, time.Minute)}, func(s *Status) {
			s.LastError, s.Failures, s.LastErrorTime, s.LastSyncFailed = "sync: "+err.Error(), i, t0, true
		})
	}
	add(Event{Type: EventRecovered, Attempt: 5}, func(s *Status) { s.Failures, s.LastSyncFailed = 0, false })
	return out
}

func TestWatchTerminalDisplayRedrawsTheStatusInPlace(t *testing.T) {
	scr := newScreen(t, 80, 15)
	d := NewDisplay(DisplayOptions{Set: "web", Interval: time.Minute, Out: scr, Terminal: scr, Width: func() int { return 80 }})
	evs := events()
	for _, e := range evs {
		d.Event(e)
	}
	lines := scr.lines()
	t.Logf("screen:\n%s", scr)
	if n := count(lines, "gitops watch web @ 0123456789ab"); n != 1 {
		t.Errorf("the status header is on %d lines, want 1", n)
	}
	if n := count(lines, "last sync"); n != 1 {
		t.Errorf("the last sync line is on %d lines, want 1", n)
	}
	// Log lines, in order: started, took the lease, synced, corrected,
	// one failure (repeats are counted in the block), recovered; then the
	// block.
	text, at := scr.String(), 0
	for _, w := range []string{"watching sync set web", "took the lease", "synced 0123456789ab \"add web\"", "corrected drift", "sync failed (attempt 1", "recovered after 5", "gitops watch web"} {
		i := strings.Index(text[at:], w)
		if i < 0 {
			t.Fatalf("%q is not on the screen after the previous line", w)
		}
		at += i
	}
	if n := count(lines, "sync failed"); n != 1 {
		t.Errorf("%d failure lines, want 1 (the status block counts attempts)", n)
	}
	header := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "gitops watch") {
			header = i
		}
	}
	status := lines[header : header+4]
	for i, w := range []string{"gitops watch web @ 0123456789ab · lease held", "last sync 12:00:", "drift corrections: 1 (last 12:00:00)", "last error 12:00:00 (recovered): sync: reading the parent"} {
		if !strings.HasPrefix(status[i], w) {
			t.Errorf("status line %d: %q, want it to start with %q", i, status[i], w)
		}
	}
	if scr.scrolled != 0 {
		t.Errorf("the screen scrolled %d lines", scr.scrolled)
	}

	// Redraws alone never scroll, and Close leaves the block with the
	// cursor below it.
	for range 500 {
		d.Event(Event{Type: EventProgress, Time: evs[len(evs)-1].Time, Status: evs[len(evs)-1].Status})
	}
	if scr.scrolled != 0 || count(scr.lines(), "gitops watch web") != 1 {
		t.Errorf("after 500 redraws, %d lines scrolled:\n%s", scr.scrolled, scr)
	}
	d.Close()
	if scr.col != 0 || count(scr.lines(), "gitops watch web") != 1 {
		t.Errorf("after Close, cursor at column %d:\n%s", scr.col, scr)
	}
}

func TestWatchTerminalDisplayFitsANarrowTerminal(t *testing.T) {
	scr := newScreen(t, 40, 10)
	d := NewDisplay(DisplayOptions{Set: "a-set-with-a-rather-long-name", Out: scr, Terminal: scr, Width: func() int { return 40 }})
	defer d.Close()
	evs := events()
	for _, e := range evs {
		d.Event(e)
	}
	lines := scr.lines()
	status := lines[len(lines)-4:]
	for _, l := range status {
		if n := len([]rune(l)); n > 39 {
			t.Errorf("status line of %d columns on a 40-column terminal: %q", n, l)
		}
	}
	if !strings.HasSuffix(status[1], "…") {
		t.Errorf("a cut line does not end in …: %q", status[1])
	}
	// The block is still drawn once, though log lines wrap above it.
	for range 50 {
		d.Event(Event{Type: EventProgress, Time: evs[0].Time, Status: evs[len(evs)-1].Status})
	}
	if n := count(scr.lines(), "gitops watch a-set"); n != 1 {
		t.Errorf("the header is on %d lines:\n%s", n, scr)
	}
}

func TestWatchPlainLogHasTimestampedLinesOnly(t *testing.T) {
	var out bytes.Buffer
	d := NewDisplay(DisplayOptions{Set: "web", Interval: time.Minute, Out: &out})
	for _, e := range events() {
		d.Event(e)
	}
	d.Close()
	text := out.String()
	if strings.ContainsAny(text, "\x1b\r") {
		t.Fatalf("escapes in a plain log: %q", text)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for _, l := range lines {
		ts, _, _ := strings.Cut(l, " ")
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			t.Errorf("line without a timestamp: %q", l)
		}
	}
	// Every failure is logged; checks that found nothing are not.
	if n := count(lines, "sync failed"); n != 5 {
		t.Errorf("%d failure lines, want 5:\n%s", n, text)
	}
	if n := count(lines, "no drift"); n != 0 {
		t.Errorf("checks are logged:\n%s", text)
	}
	if !strings.HasPrefix(lines[2], "2026-05-04T12:00:03Z synced 0123456789ab \"add web\": 3 created, 0 configured, 1 unchanged, 0 pruned in 120ms") {
		t.Errorf("sync line: %q", lines[2])
	}
}

func TestWatchJSONLogHasAnObjectPerEvent(t *testing.T) {
	var out bytes.Buffer
	d := NewDisplay(DisplayOptions{Set: "web", Format: FormatJSON, Out: &out})
	evs := events()
	for _, e := range evs {
		d.Event(e)
	}
	d.Close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	var want int
	for _, e := range evs {
		if e.Type != EventProgress {
			want++
		}
	}
	if len(lines) != want {
		t.Fatalf("%d lines, want %d", len(lines), want)
	}
	seen := map[EventType]int{}
	for _, l := range lines {
		var e struct {
			Time     time.Time
			Event    EventType
			Revision string
			Counts   *applyset.Counts
			Error    string
			Attempt  int
			Message  string
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		seen[e.Event]++
		switch e.Event {
		case EventSynced, EventChecked, EventCorrected:
			if e.Revision == "" || e.Counts == nil || e.Message == "" {
				t.Errorf("%s without revision, counts or message: %s", e.Event, l)
			}
		case EventFailed:
			if e.Error == "" || e.Attempt == 0 {
				t.Errorf("failure without error or attempt: %s", l)
			}
		}
	}
	if seen[EventChecked] != 20 || seen[EventFailed] != 5 || seen[EventProgress] != 0 {
		t.Errorf("events seen: %v", seen)
	}
}

func TestWatchStatusOnAnotherTerminalThanTheLog(t *testing.T) {
	var out bytes.Buffer
	scr := newScreen(t, 80, 10)
	d := NewDisplay(DisplayOptions{Set: "web", Out: &out, Terminal: scr})
	for _, e := range events() {
		d.Event(e)
	}
	d.Close()
	if strings.Contains(out.String(), "\x1b") || !strings.Contains(out.String(), "synced") {
		t.Errorf("log: %q", out.String())
	}
	lines := scr.lines()
	if count(lines, "gitops watch web") != 1 || count(lines, "synced") != 0 || scr.scrolled != 0 {
		t.Errorf("status terminal:\n%s", scr)
	}
}

func ExampleDisplay() {
	var out bytes.Buffer
	d := NewDisplay(DisplayOptions{Set: "web", Interval: time.Minute, Out: &out})
	for _, e := range events()[:4] {
		d.Event(e)
	}
	fmt.Print(out.String())
	// Output:
	// 2026-05-04T12:00:00Z watching sync set web, every 1m0s
	// 2026-05-04T12:00:01Z took the lease as me@host/1
	// 2026-05-04T12:00:03Z synced 0123456789ab "add web": 3 created, 0 configured, 1 unchanged, 0 pruned in 120ms
}
