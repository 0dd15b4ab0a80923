package watch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// Log formats.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// DisplayOptions configure a Display.
type DisplayOptions struct {
	// Set names the sync set; Source says where its manifests come from
	// ("" when not known yet).
	Set    string
	Source string
	// Interval is the loop's interval, for the first line.
	Interval time.Duration
	// Format is FormatText (the default) or FormatJSON.
	Format string
	// Out receives the log: a line per event worth keeping, timestamped.
	Out io.Writer
	// Terminal, when set, shows the status block, redrawn in place. It is
	// Out itself when Out is a terminal: the log lines then scroll above
	// the block. Never set it for JSON to the same terminal.
	Terminal io.Writer
	// Width returns the terminal's width; nil or a result < 20 means 80.
	Width func() int
}

// Display shows a loop's events: log lines, and on a terminal a status
// block of a few lines redrawn in place that never grows, each line cut to
// the terminal's width. It is a Sink, safe for concurrent use.
type Display struct {
	opts DisplayOptions

	mu     sync.Mutex
	status Status
	drawn  int // lines of the status block on screen
	// drawnLen holds the length, in columns, of each line of the block on
	// screen: after the terminal narrows, a line wraps onto more rows.
	drawnLen []int
	// badRev and badErr are the last revision skipped as bad and why.
	badRev, badErr string
	lastErr        string // the last failure logged on the terminal
	closed         bool
	stop           chan struct{}
	done           chan struct{}
}

// NewDisplay returns a display. With a terminal, it redraws the status block
// every second (for "next sync in") until Close.
func NewDisplay(opts DisplayOptions) *Display {
	if opts.Format == "" {
		opts.Format = FormatText
	}
	d := &Display{opts: opts}
	if opts.Terminal != nil {
		d.stop, d.done = make(chan struct{}), make(chan struct{})
		go d.tick()
	}
	return d
}

func (d *Display) tick() {
	defer close(d.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.mu.Lock()
			if !d.closed {
				d.write(d.redraw(""))
			}
			d.mu.Unlock()
		}
	}
}

// Close stops redrawing and leaves the last status block on screen, the
// cursor below it.
func (d *Display) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	if d.opts.Terminal != nil && d.drawn > 0 {
		d.write(d.redraw("") + "\n")
		d.drawn = 0
	}
	d.mu.Unlock()
	if d.stop != nil {
		close(d.stop)
		<-d.done
	}
}

// Event shows e.
func (d *Display) Event(e Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.status = e.Status
	if e.Type == EventBadRevision && e.Err != nil {
		d.badRev = e.Revision
		d.badErr, _, _ = strings.Cut(unwrapBad(e.Err).Error(), "\n")
	}
	if d.opts.Format == FormatJSON {
		if e.Type != EventProgress {
			if b, err := json.Marshal(d.jsonEvent(e)); err == nil {
				_, _ = d.opts.Out.Write(append(b, '\n'))
			}
		}
		if d.opts.Terminal != nil {
			d.write(d.redraw(""))
		}
		return
	}
	line := ""
	if e.Type != EventChecked {
		line = d.message(e)
	}
	integrated := d.opts.Terminal != nil && d.opts.Terminal == d.opts.Out
	if integrated && e.Type == EventFailed {
		// The block shows the attempts; the log shows each new error once.
		key := e.Step + e.Err.Error()
		if key == d.lastErr {
			line = ""
		}
		d.lastErr = key
	}
	if e.Type == EventRecovered {
		d.lastErr = ""
	}
	switch {
	case line == "":
		if d.opts.Terminal != nil {
			d.write(d.redraw(""))
		}
	case integrated:
		d.write(d.redraw(e.Time.Format("15:04:05") + " " + indent(line) + "\n"))
	default:
		_, _ = io.WriteString(d.opts.Out, e.Time.Format(time.RFC3339)+" "+indent(line)+"\n")
		if d.opts.Terminal != nil {
			d.write(d.redraw(""))
		}
	}
}

func (d *Display) write(s string) {
	if s != "" {
		_, _ = io.WriteString(d.opts.Terminal, s)
	}
}

// redraw returns what replaces the status block on the terminal: the block
// is cleared, log is written where it was, and the block is drawn below.
// The cursor stays at the end of the block's last line, so that drawing
// never scrolls the screen.
func (d *Display) redraw(log string) string {
	var b strings.Builder
	width := 80
	if d.opts.Width != nil {
		if w := d.opts.Width(); w >= 20 {
			width = w
		}
	}
	if d.drawn > 0 {
		b.WriteString("\r")
		if up := d.rowsOnScreen(width) - 1; up > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", up)
		}
		b.WriteString("\x1b[J")
	}
	b.WriteString(log)
	lines := d.statusLines(time.Now())
	d.drawnLen = d.drawnLen[:0]
	for i, l := range lines {
		if i > 0 {
			b.WriteString("\n")
		}
		l = truncate(l, width-1)
		b.WriteString(l)
		d.drawnLen = append(d.drawnLen, utf8.RuneCountInString(l))
	}
	d.drawn = len(lines)
	return b.String()
}

// rowsOnScreen is how many rows the block on screen takes at width: each
// line was cut to the width it was drawn at, but a terminal that narrowed
// since wraps it onto more rows (tmux, VTE, iTerm2 and Windows Terminal
// reflow their lines so), and all of them must be cleared.
func (d *Display) rowsOnScreen(width int) int {
	if len(d.drawnLen) != d.drawn {
		return d.drawn
	}
	rows := 0
	for _, n := range d.drawnLen {
		rows += max(1, (n+width-1)/width)
	}
	return rows
}

func (d *Display) statusLines(now time.Time) []string {
	s := d.status
	head := "gitops watch " + d.opts.Set
	if s.Revision != "" {
		head += " @ " + Short(s.Revision)
	} else {
		head += " @ (nothing synced yet)"
	}
	switch s.Lease {
	case "held":
		head += " · lease held"
	case "waiting":
		head += " · lease held by " + s.Holder + ", waiting"
	case "lost":
		head += " · lease lost, retaking"
	}
	if s.HeadBad && s.Head != "" {
		head += " · head " + Short(s.Head) + " skipped (bad)"
	}
	if s.Held != "" {
		head += " · held: " + s.Held
	}

	last := "last sync: none yet"
	if r := s.LastSync; r != nil {
		result := "ok"
		switch {
		case s.LastSyncFailed:
			result = "failed"
		case r.Checked:
			result = "no drift"
		}
		if r.Revision != s.Revision {
			result = Short(r.Revision) + " " + result
		}
		c := r.Counts
		last = fmt.Sprintf("last sync %s %s · %d created %d configured %d unchanged %d pruned", clock(s.LastSyncTime), result, c.Created, c.Configured, c.Unchanged, c.Pruned)
		if c.Failed > 0 {
			last += fmt.Sprintf(" %d failed", c.Failed)
		}
	}

	drift := fmt.Sprintf("drift corrections: %d", s.Corrections)
	if !s.LastCorrection.IsZero() {
		drift += " (last " + clock(s.LastCorrection) + ")"
	}
	switch {
	case s.Step != "":
		drift += " · " + s.Step
	case !s.Next.IsZero():
		drift += " · next sync " + in(s.Next, now)
	}
	if !s.NextImages.IsZero() && s.Step == "" {
		drift += " · images " + in(s.NextImages, now)
	}

	errLine := "error: none"
	if s.HeadBad && s.Head != "" {
		// Not a failure to retry, but not "none" either: the header says
		// the head was skipped, this line says why.
		why := "see the log above"
		if d.badRev == s.Head && d.badErr != "" {
			why = d.badErr
		}
		errLine = fmt.Sprintf("error: head %s skipped until the head moves: %s", Short(s.Head), why)
	}
	if s.LastError != "" {
		first, _, _ := strings.Cut(s.LastError, "\n")
		if s.Failures > 0 {
			errLine = fmt.Sprintf("error %s (attempt %d): %s", clock(s.LastErrorTime), s.Failures, first)
		} else {
			errLine = fmt.Sprintf("last error %s (recovered): %s", clock(s.LastErrorTime), first)
		}
	}
	return []string{head, last, drift, errLine}
}

// message is the log line of an event, "" for events not worth a line.
func (d *Display) message(e Event) string {
	switch e.Type {
	case EventStarted:
		src := ""
		if d.opts.Source != "" {
			src = " from " + d.opts.Source
		}
		return fmt.Sprintf("watching sync set %s%s, every %s", d.opts.Set, src, d.opts.Interval)
	case EventWaiting:
		return fmt.Sprintf("the lease is held by %s: waiting until that watcher stops or its lease expires", e.Holder)
	case EventAcquired:
		return "took the lease as " + e.Holder
	case EventLost:
		return fmt.Sprintf("lost the lease: %v; the step under way was stopped; taking it again", e.Err)
	case EventReleased:
		return "released the lease"
	case EventSynced:
		r := e.Report
		msg := "synced " + Short(r.Revision)
		if r.Subject != "" {
			msg += fmt.Sprintf(" %q", r.Subject)
		}
		if r.Previous != "" && r.Previous != r.Revision {
			msg += " (was " + Short(r.Previous) + ")"
		}
		return fmt.Sprintf("%s: %s in %s", msg, counts(r.Counts), r.Duration.Round(time.Millisecond))
	case EventCorrected:
		r := e.Report
		changes := r.Changes
		more := ""
		if len(changes) > 10 {
			more = fmt.Sprintf(" and %d more", len(changes)-10)
			changes = changes[:10]
		}
		return fmt.Sprintf("corrected drift from %s: %s%s", Short(r.Revision), strings.Join(changes, ", "), more)
	case EventChecked:
		return fmt.Sprintf("no drift from %s: %s", Short(e.Report.Revision), counts(e.Report.Counts))
	case EventBadRevision:
		stays := "nothing is applied until a good commit"
		if e.Status.Revision != "" && e.Status.Revision != e.Revision {
			stays = "the cluster stays at " + Short(e.Status.Revision)
		}
		return fmt.Sprintf("skipped revision %s until the head moves (%s): %v", Short(e.Revision), stays, unwrapBad(e.Err))
	case EventFailed:
		retry := ""
		if e.RetryIn > 0 {
			retry = ", retrying in " + e.RetryIn.String()
		}
		return fmt.Sprintf("%s failed (attempt %d%s): %v", e.Step, e.Attempt, retry, e.Err)
	case EventRecovered:
		what := "recovered"
		if e.Step != "" {
			what = e.Step + " recovered"
		}
		return fmt.Sprintf("%s after %d failed attempt(s)", what, e.Attempt)
	case EventImages:
		return "image automation pushed " + Short(e.Revision) + "; syncing it"
	case EventHeld:
		return fmt.Sprintf("not syncing, looking again every %s: %v", d.opts.Interval, e.Err)
	case EventUnheld:
		return "no longer held: syncing again"
	case EventStopped:
		return "stopped"
	}
	return ""
}

type jsonEvent struct {
	Time     time.Time        `json:"time"`
	Event    EventType        `json:"event"`
	Step     string           `json:"step,omitempty"`
	Revision string           `json:"revision,omitempty"`
	Previous string           `json:"previous,omitempty"`
	Subject  string           `json:"subject,omitempty"`
	Counts   *applyset.Counts `json:"counts,omitempty"`
	Changes  []string         `json:"changes,omitempty"`
	Duration float64          `json:"durationSeconds,omitempty"`
	Error    string           `json:"error,omitempty"`
	Attempt  int              `json:"attempt,omitempty"`
	RetryIn  float64          `json:"retryInSeconds,omitempty"`
	Holder   string           `json:"holder,omitempty"`
	Message  string           `json:"message,omitempty"`
}

func (d *Display) jsonEvent(e Event) jsonEvent {
	j := jsonEvent{
		Time: e.Time.UTC(), Event: e.Type, Step: e.Step, Revision: e.Revision,
		Attempt: e.Attempt, RetryIn: e.RetryIn.Seconds(), Holder: e.Holder, Message: d.message(e),
	}
	if e.Err != nil {
		j.Error = e.Err.Error()
	}
	if r := e.Report; r != nil {
		j.Revision, j.Previous, j.Subject = r.Revision, r.Previous, r.Subject
		c := r.Counts
		j.Counts, j.Changes, j.Duration = &c, r.Changes, r.Duration.Seconds()
	}
	return j
}

func counts(c applyset.Counts) string {
	s := fmt.Sprintf("%d created, %d configured, %d unchanged, %d pruned", c.Created, c.Configured, c.Unchanged, c.Pruned)
	if c.Failed > 0 {
		s += fmt.Sprintf(", %d failed", c.Failed)
	}
	return s
}

func clock(t time.Time) string { return t.Format("15:04:05") }

func in(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	if d <= 0 {
		return "now"
	}
	return "in " + d.String()
}

// indent indents the continuation lines of a multi-line message.
func indent(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// truncate cuts s to width columns (runes), marking the cut with "…", and
// blanks control characters, which would move the cursor.
func truncate(s string, width int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

// unwrapBad returns the reason a revision is bad, which the line already
// introduces.
func unwrapBad(err error) error {
	var bad *BadRevisionError
	if errors.As(err, &bad) {
		return bad.Err
	}
	return err
}
