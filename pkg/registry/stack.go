package registry

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// stack is the bottom of the HTTP stack under go-containerregistry's
// authentication. For every request it
//
//   - speaks plain HTTP to insecure hosts,
//   - answers repeated pings (GET /v2/) of a host from memory,
//   - waits for the host's token bucket and for a free slot of the
//     concurrency bound,
//   - retries 429 and 5xx answers and dropped connections with exponential
//     backoff, halving the host's rate on 429,
//   - counts what went out on the wire.
type stack struct {
	base       http.RoundTripper
	insecure   func(host string) bool
	limiters   *hostLimiters
	slots      chan struct{}
	tries      int
	backoff    time.Duration
	maxBackoff time.Duration
	counter    *counter

	mu    sync.Mutex
	pings map[string]*cachedPing // by scheme://host
}

// cachedPing is a ping's answer; status is 0 until done is closed, and
// stays 0 when the ping failed.
type cachedPing struct {
	done   chan struct{}
	status int
	header http.Header
}

func (t *stack) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "https" && t.insecure(req.URL.Host) {
		req = req.Clone(req.Context())
		req.URL.Scheme = "http"
	}
	if req.Method == http.MethodGet && req.URL.Path == "/v2/" {
		return t.ping(req)
	}
	return t.roundTrip(req)
}

// ping answers GET /v2/ once per scheme and host for the life of the
// Client: go-containerregistry pings before its first request to each
// repository, and the answer (200, or 401 with the auth challenge) is the
// same for all of them. Concurrent pings wait for the first.
func (t *stack) ping(req *http.Request) (*http.Response, error) {
	key := req.URL.Scheme + "://" + req.URL.Host
	for {
		t.mu.Lock()
		p, ok := t.pings[key]
		if !ok {
			p = &cachedPing{done: make(chan struct{})}
			t.pings[key] = p
			t.mu.Unlock()
			break
		}
		t.mu.Unlock()
		select {
		case <-p.done:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
		if p.status != 0 {
			return &http.Response{
				Status:     strconv.Itoa(p.status) + " " + http.StatusText(p.status),
				StatusCode: p.status,
				Proto:      "HTTP/1.1",
				ProtoMajor: 1,
				ProtoMinor: 1,
				Header:     p.header.Clone(),
				Body:       http.NoBody,
				Request:    req,
			}, nil
		}
		// The first ping failed and was forgotten: try again.
	}

	resp, err := t.roundTrip(req)
	t.mu.Lock()
	p := t.pings[key]
	if err == nil && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized) {
		p.status, p.header = resp.StatusCode, resp.Header.Clone()
	} else {
		delete(t.pings, key)
	}
	t.mu.Unlock()
	close(p.done)
	return resp, err
}

// roundTrip sends a request, retrying as needed.
func (t *stack) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for try := 1; ; try++ {
		attempt := req
		if try > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			attempt = req.Clone(ctx)
			attempt.Body = body
		}
		resp, err := t.send(ctx, attempt)
		last := try >= t.tries || !replayable
		if err != nil {
			if last || !retryableNetError(err) || ctx.Err() != nil {
				return nil, err
			}
			d, _ := t.wait(try, 0)
			t.counter.retried()
			if err := sleep(ctx, d); err != nil {
				return nil, err
			}
			continue
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			t.counter.throttled()
			t.limiters.throttle(req.URL.Host)
		}
		if retryableStatus(resp.StatusCode) && !last {
			if d, ok := t.wait(try, retryAfter(resp)); ok {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
				_ = resp.Body.Close()
				t.counter.retried()
				if err := sleep(ctx, d); err != nil {
					return nil, err
				}
				continue
			}
			// The registry asks for a longer wait than we are willing
			// to sit through: give its answer to the caller.
		}
		return resp, nil
	}
}

// send makes one request on the wire, within the host's rate and the
// concurrency bound.
func (t *stack) send(ctx context.Context, req *http.Request) (*http.Response, error) {
	if err := t.limiters.wait(ctx, req.URL.Host); err != nil {
		return nil, err
	}
	select {
	case t.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	resp, err := t.base.RoundTrip(req)
	<-t.slots
	t.counter.add(req.URL)
	return resp, err
}

// wait is the pause before try+1: exponential backoff with jitter, capped
// at maxBackoff, or the registry's Retry-After when that is longer. It
// returns false when Retry-After asks for more than maxBackoff.
func (t *stack) wait(try int, retryAfter time.Duration) (time.Duration, bool) {
	if retryAfter > t.maxBackoff {
		return 0, false
	}
	d := t.backoff
	for i := 1; i < try && d < t.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, t.maxBackoff)
	d += time.Duration(rand.Int64N(int64(d)/5 + 1)) // up to +20%
	return max(d, retryAfter), true
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryableNetError says whether a connection broke after it was made. A
// refused connection or an unknown host is not retried: the registry is
// unreachable and the error says so at once.
func retryableNetError(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// retryAfter reads the Retry-After header: seconds or an HTTP date.
func retryAfter(resp *http.Response) time.Duration {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// isLoopback says whether host (host or host:port) is a loopback address or
// localhost.
func isLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
