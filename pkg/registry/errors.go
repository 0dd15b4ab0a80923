package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrorKind says what went wrong with a registry, so that callers can react
// (and tests can check) without reading the message.
type ErrorKind int

const (
	// Failed is any other failure.
	Failed ErrorKind = iota
	// Unreachable: the connection was refused, the host is unknown, or
	// the network is down.
	Unreachable
	// Denied: the registry answered 401 or 403.
	Denied
	// NotFound: no such repository or tag (404).
	NotFound
	// RateLimited: the registry still answered 429 after the retries.
	RateLimited
	// ServerError: the registry still answered 5xx after the retries.
	ServerError
	// TLS: the certificate is not trusted, or the registry speaks plain
	// HTTP where HTTPS was expected.
	TLS
)

// Error is a failed registry operation. Its message names the registry and
// the image and says what to do; it never holds credentials.
type Error struct {
	Kind     ErrorKind
	Registry string // e.g. "ghcr.io"
	Image    string // the repository as given, e.g. "ghcr.io/org/app"
	Tag      string // the tag, for operations on one tag
	Err      error
}

func (e *Error) Error() string {
	image := e.Image
	if e.Tag != "" {
		image += ":" + e.Tag
	}
	why := cause(e.Err)
	switch e.Kind {
	case Unreachable:
		return fmt.Sprintf("registry %s unreachable for image %s: %s (check the registry host in the image name, your network and proxy settings)", e.Registry, image, why)
	case Denied:
		return fmt.Sprintf("registry %s refused access to %s: log in with docker login or give the workload an imagePullSecret (%s)", e.Registry, image, why)
	case NotFound:
		if e.Tag != "" {
			return fmt.Sprintf("registry %s has no tag %s for image %s (%s)", e.Registry, e.Tag, e.Image, why)
		}
		return fmt.Sprintf("registry %s has no image %s: check the image name (%s)", e.Registry, e.Image, why)
	case RateLimited:
		return fmt.Sprintf("registry %s is rate limiting requests for %s (%s): wait and run again, log in for a higher limit, or lower the request rate", e.Registry, image, why)
	case ServerError:
		return fmt.Sprintf("registry %s failed for image %s, also after retries (%s): try again later", e.Registry, image, why)
	case TLS:
		return fmt.Sprintf("registry %s: secure connection failed for image %s: %s (if the registry speaks plain HTTP, list it as insecure; if its certificate comes from a private CA, trust that CA)", e.Registry, image, why)
	}
	return fmt.Sprintf("registry %s, image %s: %s", e.Registry, image, why)
}

// cause says briefly why a request failed: the HTTP status and the
// registry's own error messages, or the network error without the request
// URL around it.
func cause(err error) string {
	var te *transport.Error
	if errors.As(err, &te) {
		s := fmt.Sprintf("HTTP %d %s", te.StatusCode, http.StatusText(te.StatusCode))
		for _, d := range te.Errors {
			if d.Message != "" {
				s += ": " + d.Message
			}
		}
		return s
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.Error()
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Error()
	}
	return strings.TrimSpace(err.Error())
}

func (e *Error) Unwrap() error { return e.Err }

// wrapError turns err into an *Error naming the registry and the image.
// Context cancellation is returned as it is.
func wrapError(err error, registry, image, tag string) error {
	if err == nil {
		return nil
	}
	var re *Error
	if errors.As(err, &re) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &Error{Kind: kindOf(err), Registry: registry, Image: image, Tag: tag, Err: err}
}

func kindOf(err error) ErrorKind {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return Denied
		case te.StatusCode == http.StatusNotFound:
			return NotFound
		case te.StatusCode == http.StatusTooManyRequests:
			return RateLimited
		case te.StatusCode >= 500:
			return ServerError
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return Denied
			case transport.NameUnknownErrorCode, transport.ManifestUnknownErrorCode:
				return NotFound
			case transport.TooManyRequestsErrorCode:
				return RateLimited
			}
		}
		return Failed
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &dnsErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.ETIMEDOUT):
		return Unreachable
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr),
		errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return TLS
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return Unreachable
	}
	return Failed
}
