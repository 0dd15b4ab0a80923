package cluster

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// tailLines is how many lines of a component's log go into error messages.
const tailLines = 20

// logOutput returns where component name writes its output: a
// prefixWriter into c.opts.Logs, or Dir/logs/name.log, appended to across
// restarts. The caller closes it.
func (c *Cluster) logOutput(name string) (io.WriteCloser, error) {
	if c.opts.Logs != nil {
		return &prefixWriter{mu: &c.logMu, dst: c.opts.Logs, prefix: []byte("[" + name + "] ")}, nil
	}
	f, err := os.OpenFile(c.logFile(name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log of %s: %w", name, err)
	}
	return f, nil
}

// logFile is the path of the log file of component name, used when
// Options.Logs is nil.
func (c *Cluster) logFile(name string) string {
	return filepath.Join(c.Dir, "logs", name+".log")
}

// logTail returns the last lines of the log of component name, or "" when
// logs go to Options.Logs or cannot be read.
func (c *Cluster) logTail(name string) string {
	if c.opts.Logs != nil {
		return ""
	}
	data, err := os.ReadFile(c.logFile(name))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	return strings.Join(lines, "\n")
}

// prefixWriter writes whole lines to dst, each prefixed, holding mu (shared
// by all the writers to dst) so that lines of components do not interleave.
// It keeps an incomplete last line until more output or Close.
type prefixWriter struct {
	mu     *sync.Mutex
	dst    io.Writer
	prefix []byte
	buf    []byte // incomplete last line
}

// Write implements io.Writer.
func (w *prefixWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	end := bytes.LastIndexByte(w.buf, '\n') + 1
	if end == 0 {
		return len(p), nil
	}
	err := w.emit(w.buf[:end])
	w.buf = append(w.buf[:0], w.buf[end:]...)
	return len(p), err
}

// Close writes what is left of an incomplete last line.
func (w *prefixWriter) Close() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.emit(append(w.buf, '\n'))
	w.buf = nil
	return err
}

// emit writes lines, which ends with a newline, to dst with prefixes.
func (w *prefixWriter) emit(lines []byte) error {
	var out bytes.Buffer
	for line := range bytes.Lines(lines) {
		out.Write(w.prefix)
		out.Write(line)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.dst.Write(out.Bytes())
	return err
}
