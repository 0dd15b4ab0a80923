package cmdutil

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
)

// Progress shows one status line that updates in place, on a terminal only;
// elsewhere it prints nothing, so that piped output stays clean.
type Progress struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	last  time.Time
	shown bool
}

// NewProgress returns a progress line on w, live when w is a terminal.
func NewProgress(w io.Writer) *Progress {
	return &Progress{w: w, on: IsTerminal(w)}
}

// Status replaces the status line, at most ten times a second.
func (p *Progress) Status(msg string) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); p.shown && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.shown = true
	fmt.Fprintf(p.w, "\r\033[K%s", msg)
}

// Done clears the status line.
func (p *Progress) Done() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

// SessionProgress shows what a use case is doing: its status on the
// progress line p, its notes as lines on w.
func SessionProgress(p *Progress, w io.Writer) session.Progress {
	return sessionProgress{p: p, w: w}
}

type sessionProgress struct {
	p *Progress
	w io.Writer
}

func (s sessionProgress) Status(msg string) { s.p.Status(msg) }

func (s sessionProgress) Note(msg string) {
	s.p.Done()
	fmt.Fprintln(s.w, msg)
}
