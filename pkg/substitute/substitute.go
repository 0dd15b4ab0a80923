// Package substitute is Flux v2's post-build substitution, applied to
// rendered objects: in every string value (never in keys) of an object,
//
//	${VAR}            the variable's value; unset: "" (an error in strict mode)
//	${VAR:=default}   the value, or default when VAR is unset or empty
//	${VAR:-default}   the same
//	${VAR=default}    the value, or default when VAR is unset
//	${VAR-default}    the same
//	$${VAR}           the literal ${VAR} (the escape)
//
// as drone/envsubst, which Flux uses, reads them. A default is literal text
// up to the closing brace. $VAR without braces is left as it is, as Flux
// leaves it. An object annotated kustomize.toolkit.fluxcd.io/substitute:
// disabled, or kubectl-gitops.dev/substitute: disabled, is left out.
//
// The objects come from the repository and the variables from the fleet
// file, so the output is bounded: an object that would grow past MaxBytes
// of substituted text is an error.
package substitute

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

const (
	// FluxAnnotation and Annotation, set to "disabled", leave an object out.
	FluxAnnotation = "kustomize.toolkit.fluxcd.io/substitute"
	Annotation     = "kubectl-gitops.dev/substitute"
	// MaxBytes bounds the substituted string values of one object.
	MaxBytes = 4 << 20
)

// Options say what to substitute.
type Options struct {
	// Variables are the values of ${VAR}.
	Variables map[string]string
	// Strict makes an unset variable without a default an error.
	Strict bool
	// MaxBytes bounds the substituted text of one object; 0 is MaxBytes.
	MaxBytes int
}

var name = regexp.MustCompile(`^[_a-zA-Z][_a-zA-Z0-9]*$`)

// Objects substitutes the variables in the objects, in place. Every object
// that fails is reported, as a *render.Error (the object's file) naming
// the object; they are joined.
func Objects(objects []render.Object, opts Options) error {
	var errs []error
	for _, o := range objects {
		if o.Object == nil || Disabled(o.Object) {
			continue
		}
		content, err := object(o.Object.Object, opts)
		if err != nil {
			errs = append(errs, &render.Error{Origin: o.Origin, Err: fmt.Errorf("%s: %w", describe(o.Object), err)})
			continue
		}
		o.Object.Object = content
	}
	return errors.Join(errs...)
}

// Disabled says whether an object opts out of substitution.
func Disabled(u *unstructured.Unstructured) bool {
	a := u.GetAnnotations()
	return strings.EqualFold(a[FluxAnnotation], "disabled") || strings.EqualFold(a[Annotation], "disabled")
}

func describe(u *unstructured.Unstructured) string {
	n := u.GetName()
	if ns := u.GetNamespace(); ns != "" {
		n = ns + "/" + n
	}
	return u.GetKind() + " " + n
}

type walker struct {
	opts    Options
	max     int
	written int
	missing []string
	seen    map[string]bool
}

// object returns a substituted copy of content, so that a failure leaves
// the object as it was.
func object(content map[string]any, opts Options) (map[string]any, error) {
	w := &walker{opts: opts, max: opts.MaxBytes, seen: map[string]bool{}}
	if w.max <= 0 {
		w.max = MaxBytes
	}
	out, err := w.value(content)
	if err != nil {
		return nil, err
	}
	if len(w.missing) > 0 {
		return nil, fmt.Errorf("variable %s is not set (strict substitution): set it in the fleet file's variables, give a default (${%s:=value}), or annotate the object %s: disabled", strings.Join(w.missing, ", "), w.missing[0], Annotation)
	}
	return out.(map[string]any), nil
}

func (w *walker) value(v any) (any, error) {
	switch v := v.(type) {
	case string:
		s, err := w.expand(v)
		if err != nil {
			return nil, err
		}
		w.written += len(s)
		if w.written > w.max {
			return nil, fmt.Errorf("substitution makes the object's strings longer than %d MiB", w.max>>20)
		}
		return s, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			y, err := w.value(x)
			if err != nil {
				return nil, err
			}
			out[k] = y
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			y, err := w.value(x)
			if err != nil {
				return nil, err
			}
			out[i] = y
		}
		return out, nil
	default:
		return v, nil
	}
}

// String substitutes the variables in one string. missing lists the unset
// variables without a default, in strict mode an error.
func String(s string, opts Options) (string, error) {
	w := &walker{opts: opts, max: opts.MaxBytes, seen: map[string]bool{}}
	if w.max <= 0 {
		w.max = MaxBytes
	}
	out, err := w.expand(s)
	if err != nil {
		return "", err
	}
	if len(w.missing) > 0 {
		return "", fmt.Errorf("variable %s is not set (strict substitution)", strings.Join(w.missing, ", "))
	}
	return out, nil
}

func (w *walker) expand(s string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		if i > 0 && s[i-1] == '$' { // $${VAR}: the escape, written as ${VAR}
			b.WriteString(s[:i-1])
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				b.WriteString(s[i:])
				break
			}
			b.WriteString(s[i : i+end+1])
			s = s[i+end+1:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("%q: ${ without a closing }", clip(s[i:]))
		}
		expr := s[i+2 : i+end]
		val, err := w.lookup(expr)
		if err != nil {
			return "", err
		}
		if b.Len()+len(val) > w.max-w.written {
			return "", fmt.Errorf("substitution makes the object's strings longer than %d MiB", w.max>>20)
		}
		b.WriteString(val)
		s = s[i+end+1:]
	}
	return b.String(), nil
}

func (w *walker) lookup(expr string) (string, error) {
	n, op, def := expr, "", ""
	if j := strings.IndexAny(expr, ":=-"); j >= 0 {
		n = expr[:j]
		switch {
		case strings.HasPrefix(expr[j:], ":="), strings.HasPrefix(expr[j:], ":-"):
			op, def = ":=", expr[j+2:]
		case expr[j] == '=' || expr[j] == '-':
			op, def = "=", expr[j+1:]
		default:
			return "", fmt.Errorf("${%s}: unsupported expression: use ${VAR}, ${VAR:=default} or ${VAR=default}", clip(expr))
		}
	}
	if !name.MatchString(n) {
		return "", fmt.Errorf("${%s}: %q is not a variable name (letters, digits and _, not starting with a digit); write $${...} for a literal ${...}", clip(expr), clip(n))
	}
	v, ok := w.opts.Variables[n]
	switch {
	case op == ":=" && (!ok || v == ""):
		return def, nil
	case op == "=" && !ok:
		return def, nil
	case !ok && w.opts.Strict:
		if !w.seen[n] {
			w.seen[n] = true
			w.missing = append(w.missing, n)
		}
	}
	return v, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
