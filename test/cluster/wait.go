package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const (
	// startTimeout bounds each wait for a component to become ready, when
	// the context given to Start has no earlier deadline.
	startTimeout = 2 * time.Minute
	// pollInterval is the delay between two readiness checks.
	pollInterval = 100 * time.Millisecond
	// probeTimeout bounds one readiness check.
	probeTimeout = 2 * time.Second
)

// freePorts returns n distinct TCP ports that were free on 127.0.0.1. All
// listeners stay open until every port is picked, so the ports differ.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitFor calls check every pollInterval until it returns nil. It fails
// when ctx is done, startTimeout has passed, or p (if not nil) exits; the
// error then tells the last reason check gave and shows the end of p's log.
func (c *Cluster) waitFor(ctx context.Context, what string, p *process, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		probeCtx, cancelProbe := context.WithTimeout(ctx, probeTimeout)
		err := check(probeCtx)
		cancelProbe()
		if err == nil {
			return nil
		}
		if p != nil {
			if exited, exitErr := p.exited(); exited {
				return c.withLog(p.name, fmt.Errorf("waiting for %s: %w", what, exitErr))
			}
		}
		select {
		case <-ctx.Done():
			name := what
			if p != nil {
				name = p.name
			}
			return c.withLog(name, fmt.Errorf("waiting for %s: %w (last error: %w)", what, context.Cause(ctx), err))
		case <-tick.C:
		}
	}
}

// withLog adds the end of the log of component name to err.
func (c *Cluster) withLog(name string, err error) error {
	if tail := c.logTail(name); tail != "" {
		return fmt.Errorf("%w\n--- end of %s ---\n%s", err, c.logFile(name), tail)
	}
	return err
}

// probe is an HTTP health check of a component, for waitFor.
type probe struct {
	url      string
	caFile   string // for HTTPS: the certificates to trust, read anew each time as the component may still be writing them
	token    string // bearer token, if any
	contains string // text the body must contain, if any
}

// check GETs p.url and expects 200 OK and a body containing p.contains.
func (p probe) check(ctx context.Context) error {
	transport := &http.Transport{}
	if p.caFile != "" {
		pem, err := os.ReadFile(p.caFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("no certificate in %s", p.caFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	defer transport.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return err
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", p.url, resp.Status, strings.TrimSpace(string(body)))
	}
	if !strings.Contains(string(body), p.contains) {
		return fmt.Errorf("GET %s: no %q yet in %s", p.url, p.contains, strings.TrimSpace(string(body)))
	}
	return nil
}
