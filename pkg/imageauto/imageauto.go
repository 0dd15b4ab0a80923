// Package imageauto reads Flux v2's image automation objects,
// ImageRepository, ImagePolicy and ImageUpdateAutomation
// (image.toolkit.fluxcd.io/v1 and v1beta2), found among the rendered
// objects of a repository, as configuration for the plugin's own image
// updates. They are never applied.
//
// Reading is strict: a field Flux does not define, a value of the wrong
// type, or a value Flux would refuse is an error naming the object and the
// field, where the API server would prune the unknown field silently.
package imageauto

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"text/template/parse"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/imagepolicy"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageref"
)

// Group is the API group of Flux v2's image automation.
const Group = "image.toolkit.fluxcd.io"

// The kinds read.
const (
	KindImageRepository       = "ImageRepository"
	KindImagePolicy           = "ImagePolicy"
	KindImageUpdateAutomation = "ImageUpdateAutomation"
)

// Versions are the versions of Group read.
var Versions = []string{"v1", "v1beta2"}

// maxExclusions is Flux's limit on an exclusionList.
const maxExclusions = 25

// ObjectRef names an object.
type ObjectRef struct {
	Namespace string
	Name      string
}

func (r ObjectRef) String() string { return r.Namespace + "/" + r.Name }

// ImageRepository is an ImageRepository's spec as the plugin uses it.
type ImageRepository struct {
	ObjectRef
	// Image is the repository, without scheme, tag or digest.
	Image    string
	Interval time.Duration
	Timeout  time.Duration // 0 when not set
	// SecretRef and CertSecretRef name Secrets in the same namespace; the
	// plugin reports them but does not read Secrets from git.
	SecretRef     string
	CertSecretRef string
	Provider      string // generic (the default), aws, azure or gcp
	Insecure      bool
	Suspend       bool
	// Exclusions is the exclusionList: nil when the field is absent, in
	// which case Flux's default (imagepolicy.DefaultExclusions) applies.
	Exclusions []string
}

// DigestReflection is an ImagePolicy's digestReflectionPolicy.
type DigestReflection string

// The digest reflection policies.
const (
	DigestNever        DigestReflection = "Never"
	DigestIfNotPresent DigestReflection = "IfNotPresent"
	DigestAlways       DigestReflection = "Always"
)

// ImagePolicy is an ImagePolicy's spec as the plugin uses it.
type ImagePolicy struct {
	ObjectRef
	Labels map[string]string
	// Repository is the ImageRepository; its namespace defaults to the
	// policy's.
	Repository ObjectRef
	// Spec is the policy, filter and extract. Its Exclusions are nil: they
	// belong to the repository (see Config.Pattern).
	Spec             imagepolicy.Spec
	DigestReflection DigestReflection // Never when not set
	Interval         time.Duration    // only with DigestAlways
}

// Pattern builds the tag pattern of the policy, with the exclusions of its
// repository.
func (p ImagePolicy) Pattern(repo ImageRepository) (imagepolicy.Pattern, error) {
	s := p.Spec
	s.Exclusions = repo.Exclusions
	pat, err := imagepolicy.New(s)
	if err != nil {
		return imagepolicy.Pattern{}, fmt.Errorf("%s %s: %w", KindImagePolicy, p.ObjectRef, err)
	}
	return pat, nil
}

// GitRef is a GitRepository reference, as in the automation's
// git.checkout.ref. Flux's order of precedence is Commit, Name, SemVer,
// Tag, Branch.
type GitRef struct {
	Branch string
	Tag    string
	SemVer string
	Name   string
	Commit string
}

// ImageUpdateAutomation is an ImageUpdateAutomation's spec as the plugin
// uses it.
type ImageUpdateAutomation struct {
	ObjectRef
	// Source is the GitRepository; its namespace defaults to the
	// automation's.
	Source   ObjectRef
	Interval time.Duration
	// Checkout is git.checkout.ref, nil when absent (the GitRepository's
	// own ref then).
	Checkout *GitRef
	// PushBranch is git.push.branch, "" to push to the checkout branch.
	PushBranch  string
	PushRefspec string
	PushOptions map[string]string
	AuthorName  string
	AuthorEmail string
	// SigningKeySecret names the Secret of git.commit.signingKey, "" when
	// commits are not signed.
	SigningKeySecret      string
	MessageTemplate       string // "" for Flux's default message
	MessageTemplateValues map[string]string
	// UpdatePath is update.path, cleaned and relative to the repository
	// root: "." for the whole repository.
	UpdatePath string
	// PolicySelector selects the policies of the automation's namespace
	// it applies; everything when absent.
	PolicySelector labels.Selector
	Suspend        bool
}

// Selects says whether the automation applies policy p: same namespace
// and matching labels.
func (a ImageUpdateAutomation) Selects(p ImagePolicy) bool {
	return p.Namespace == a.Namespace && a.PolicySelector.Matches(labels.Set(p.Labels))
}

// IsImageObject says whether u is one of the kinds read, in any version of
// Group.
func IsImageObject(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	return gvk.Group == Group && (gvk.Kind == KindImageRepository || gvk.Kind == KindImagePolicy || gvk.Kind == KindImageUpdateAutomation)
}

// Config is the image automation configuration read from a repository.
type Config struct {
	Repositories []ImageRepository
	Policies     []ImagePolicy
	Automations  []ImageUpdateAutomation
}

// Read reads the image automation objects among objs, leaving other objects
// alone. defaultNamespace is the namespace of objects that have none (the
// namespace the repository is applied to); when it is "" such objects are
// an error. All the errors are returned, joined, each naming its object.
func Read(objs []*unstructured.Unstructured, defaultNamespace string) (*Config, error) {
	c := &Config{}
	var errs []error
	seen := map[string]bool{}
	for _, u := range objs {
		if !IsImageObject(u) {
			continue
		}
		var ref ObjectRef
		var err error
		switch u.GetKind() {
		case KindImageRepository:
			var r ImageRepository
			if r, err = ParseImageRepository(u, defaultNamespace); err == nil {
				c.Repositories, ref = append(c.Repositories, r), r.ObjectRef
			}
		case KindImagePolicy:
			var p ImagePolicy
			if p, err = ParseImagePolicy(u, defaultNamespace); err == nil {
				c.Policies, ref = append(c.Policies, p), p.ObjectRef
			}
		case KindImageUpdateAutomation:
			var a ImageUpdateAutomation
			if a, err = ParseImageUpdateAutomation(u, defaultNamespace); err == nil {
				c.Automations, ref = append(c.Automations, a), a.ObjectRef
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		key := u.GetKind() + " " + ref.String()
		if seen[key] {
			errs = append(errs, fmt.Errorf("%s is defined twice: keep one", key))
		}
		seen[key] = true
	}
	for _, p := range c.Policies {
		if _, ok := c.Repository(p.Repository); !ok {
			errs = append(errs, fmt.Errorf("%s %s refers to %s %s, which is not among the objects: add it, or fix spec.imageRepositoryRef", KindImagePolicy, p.ObjectRef, KindImageRepository, p.Repository))
		}
	}
	return c, errors.Join(errs...)
}

// Repository returns the ImageRepository named ref.
func (c *Config) Repository(ref ObjectRef) (ImageRepository, bool) {
	i := slices.IndexFunc(c.Repositories, func(r ImageRepository) bool { return r.ObjectRef == ref })
	if i < 0 {
		return ImageRepository{}, false
	}
	return c.Repositories[i], true
}

// Policy returns the ImagePolicy named ref.
func (c *Config) Policy(ref ObjectRef) (ImagePolicy, bool) {
	i := slices.IndexFunc(c.Policies, func(p ImagePolicy) bool { return p.ObjectRef == ref })
	if i < 0 {
		return ImagePolicy{}, false
	}
	return c.Policies[i], true
}

// Pattern returns the policy's repository and tag pattern.
func (c *Config) Pattern(p ImagePolicy) (ImageRepository, imagepolicy.Pattern, error) {
	repo, ok := c.Repository(p.Repository)
	if !ok {
		return ImageRepository{}, imagepolicy.Pattern{}, fmt.Errorf("%s %s refers to %s %s, which is not among the objects", KindImagePolicy, p.ObjectRef, KindImageRepository, p.Repository)
	}
	pat, err := p.Pattern(repo)
	return repo, pat, err
}

// PoliciesFor returns the policies the automation applies, in order.
func (c *Config) PoliciesFor(a ImageUpdateAutomation) []ImagePolicy {
	var out []ImagePolicy
	for _, p := range c.Policies {
		if a.Selects(p) {
			out = append(out, p)
		}
	}
	return out
}

// objectError builds the errors of one object: "ImagePolicy ns/name
// (image.toolkit.fluxcd.io/v1): field: message".
type objectError struct {
	kind, version string
	ref           ObjectRef
}

func (o objectError) errorf(field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	return fmt.Errorf("%s %s (%s/%s): %s", o.kind, o.ref, Group, o.version, msg)
}

// decode checks u's version and metadata and converts it strictly into
// out, a *fluxObject.
func decode(u *unstructured.Unstructured, defaultNamespace string, out any) (objectError, error) {
	gvk := u.GroupVersionKind()
	o := objectError{kind: gvk.Kind, version: gvk.Version, ref: ObjectRef{Namespace: u.GetNamespace(), Name: u.GetName()}}
	if o.ref.Namespace == "" {
		o.ref.Namespace = defaultNamespace
	}
	if gvk.Group != Group {
		return o, o.errorf("apiVersion", "group %q is not %s", gvk.Group, Group)
	}
	if !slices.Contains(Versions, gvk.Version) {
		return o, o.errorf("apiVersion", "version %q is not read (want %s): upgrade the object with flux migrate or by hand", gvk.Version, strings.Join(Versions, " or "))
	}
	if o.ref.Name == "" {
		return o, o.errorf("metadata.name", "missing")
	}
	if o.ref.Namespace == "" {
		return o, o.errorf("metadata.namespace", "missing, and no default namespace was given")
	}
	if _, ok := u.Object["spec"].(map[string]any); !ok {
		return o, o.errorf("spec", "missing or not a mapping")
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		if runtime.IsStrictDecodingError(err) {
			return o, o.errorf("", "%v: remove or correct the field", err)
		}
		return o, o.errorf(typeErrorField(u, out), "%v", err)
	}
	return o, nil
}

// typeErrorField finds the field of a value of the wrong type: the
// converter's errors do not name it, encoding/json's do.
func typeErrorField(u *unstructured.Unstructured, out any) string {
	data, err := json.Marshal(u.Object)
	if err != nil {
		return ""
	}
	fresh := reflect.New(reflect.TypeOf(out).Elem()).Interface()
	var te *json.UnmarshalTypeError
	if errors.As(json.Unmarshal(data, fresh), &te) {
		t := te.Type
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		want := map[reflect.Kind]string{reflect.Struct: "a mapping", reflect.Map: "a mapping", reflect.Slice: "a list", reflect.String: "a string", reflect.Bool: "true or false"}[t.Kind()]
		if want == "" {
			want = "a " + t.Kind().String()
		}
		return te.Field + ": a " + te.Value + " where " + want + " is expected"
	}
	return ""
}

func duration(o objectError, field, s string, required bool) (time.Duration, error) {
	if s == "" {
		if required {
			return 0, o.errorf(field, "missing (for example 5m)")
		}
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, o.errorf(field, "%q is not a positive duration such as 30s, 5m or 1h", s)
	}
	return d, nil
}

// ParseImageRepository reads an ImageRepository.
func ParseImageRepository(u *unstructured.Unstructured, defaultNamespace string) (ImageRepository, error) {
	var obj fluxObject[imageRepositorySpec]
	o, err := decode(u, defaultNamespace, &obj)
	if err != nil {
		return ImageRepository{}, err
	}
	s := obj.Spec
	r := ImageRepository{ObjectRef: o.ref, Image: s.Image, Provider: s.Provider, Insecure: s.Insecure, Suspend: s.Suspend}
	if err := checkImage(s.Image); err != nil {
		return r, o.errorf("spec.image", "%v", err)
	}
	if r.Interval, err = duration(o, "spec.interval", s.Interval, true); err != nil {
		return r, err
	}
	if r.Timeout, err = duration(o, "spec.timeout", s.Timeout, false); err != nil {
		return r, err
	}
	switch s.Provider {
	case "":
		r.Provider = "generic"
	case "generic", "aws", "azure", "gcp":
	default:
		return r, o.errorf("spec.provider", "%q is not generic, aws, azure or gcp", s.Provider)
	}
	if s.SecretRef != nil {
		if s.SecretRef.Name == "" {
			return r, o.errorf("spec.secretRef.name", "missing")
		}
		r.SecretRef = s.SecretRef.Name
	}
	if s.CertSecretRef != nil {
		if s.CertSecretRef.Name == "" {
			return r, o.errorf("spec.certSecretRef.name", "missing")
		}
		r.CertSecretRef = s.CertSecretRef.Name
	}
	if s.ExclusionList != nil {
		if len(*s.ExclusionList) > maxExclusions {
			return r, o.errorf("spec.exclusionList", "%d entries, Flux allows at most %d", len(*s.ExclusionList), maxExclusions)
		}
		r.Exclusions = append([]string{}, *s.ExclusionList...)
		for i, e := range r.Exclusions {
			if _, err := regexp.Compile(e); err != nil {
				return r, o.errorf(fmt.Sprintf("spec.exclusionList[%d]", i), "bad regular expression %q: %v", e, err)
			}
		}
	}
	return r, nil
}

// checkImage checks an ImageRepository's image: a repository, as Flux
// wants it, without scheme, tag or digest.
func checkImage(image string) error {
	ref, _ := imageref.Parse(image) // its error is one of the cases below
	switch {
	case image == "":
		return errors.New("missing (for example ghcr.io/org/app)")
	case strings.Contains(image, "://"):
		return fmt.Errorf("%q has a scheme: write the repository alone, such as ghcr.io/org/app", image)
	case ref.Digest != "" || strings.Contains(image, "@"):
		return fmt.Errorf("%q has a digest: write the repository alone, such as ghcr.io/org/app", image)
	case strings.ContainsAny(image, " \t\n"):
		return fmt.Errorf("%q is not a repository: it holds a space", image)
	case ref.Tag != "":
		return fmt.Errorf("%q has a tag: the policy chooses the tag, so write the repository alone", image)
	case strings.HasPrefix(image, "/") || strings.HasSuffix(image, "/") || strings.Contains(image, "//"):
		return fmt.Errorf("%q has an empty path component", image)
	}
	return nil
}

// ParseImagePolicy reads an ImagePolicy and checks that its policy builds.
func ParseImagePolicy(u *unstructured.Unstructured, defaultNamespace string) (ImagePolicy, error) {
	var obj fluxObject[imagePolicySpec]
	o, err := decode(u, defaultNamespace, &obj)
	if err != nil {
		return ImagePolicy{}, err
	}
	s := obj.Spec
	p := ImagePolicy{ObjectRef: o.ref, Labels: u.GetLabels()}
	if s.ImageRepositoryRef.Name == "" {
		return p, o.errorf("spec.imageRepositoryRef.name", "missing")
	}
	p.Repository = ObjectRef{Namespace: s.ImageRepositoryRef.Namespace, Name: s.ImageRepositoryRef.Name}
	if p.Repository.Namespace == "" {
		p.Repository.Namespace = p.Namespace
	}

	var set []string
	if s.Policy.SemVer != nil {
		set = append(set, "semver")
		p.Spec = imagepolicy.Spec{Kind: imagepolicy.Semver, Range: s.Policy.SemVer.Range}
		if strings.TrimSpace(s.Policy.SemVer.Range) == "" {
			return p, o.errorf("spec.policy.semver.range", "missing (for example >=1.0.0 <2 or 5.0.x)")
		}
	}
	for _, op := range []struct {
		name string
		kind imagepolicy.Kind
		pol  *orderPolicy
	}{{"alphabetical", imagepolicy.Alphabetical, s.Policy.Alphabetical}, {"numerical", imagepolicy.Numerical, s.Policy.Numerical}} {
		if op.pol == nil {
			continue
		}
		set = append(set, op.name)
		p.Spec = imagepolicy.Spec{Kind: op.kind, Order: imagepolicy.Order(op.pol.Order)}
		if ord := op.pol.Order; ord != "" && ord != "asc" && ord != "desc" {
			return p, o.errorf("spec.policy."+op.name+".order", "%q is not asc or desc", ord)
		}
	}
	if len(set) != 1 {
		if len(set) == 0 {
			return p, o.errorf("spec.policy", "want one of semver, alphabetical or numerical, found none")
		}
		return p, o.errorf("spec.policy", "want exactly one of semver, alphabetical or numerical, found %s", strings.Join(set, " and "))
	}
	if s.FilterTags != nil {
		p.Spec.FilterPattern, p.Spec.Extract = s.FilterTags.Pattern, s.FilterTags.Extract
	}

	switch DigestReflection(s.DigestReflectionPolicy) {
	case "":
		p.DigestReflection = DigestNever
	case DigestNever, DigestIfNotPresent, DigestAlways:
		p.DigestReflection = DigestReflection(s.DigestReflectionPolicy)
	default:
		return p, o.errorf("spec.digestReflectionPolicy", "%q is not Never, IfNotPresent or Always", s.DigestReflectionPolicy)
	}
	switch {
	case s.Interval != "" && p.DigestReflection != DigestAlways:
		return p, o.errorf("spec.interval", "only accepted when spec.digestReflectionPolicy is Always")
	case s.Interval == "" && p.DigestReflection == DigestAlways:
		return p, o.errorf("spec.interval", "must be set when spec.digestReflectionPolicy is Always")
	}
	if p.Interval, err = duration(o, "spec.interval", s.Interval, false); err != nil {
		return p, err
	}
	if _, err := imagepolicy.New(p.Spec); err != nil {
		field := "spec.policy"
		if s.FilterTags != nil && (strings.Contains(err.Error(), "filter") || strings.Contains(err.Error(), "extract")) {
			field = "spec.filterTags"
		}
		return p, o.errorf(field, "%v", err)
	}
	return p, nil
}

// ParseImageUpdateAutomation reads an ImageUpdateAutomation.
func ParseImageUpdateAutomation(u *unstructured.Unstructured, defaultNamespace string) (ImageUpdateAutomation, error) {
	var obj fluxObject[imageUpdateAutomationSpec]
	o, err := decode(u, defaultNamespace, &obj)
	if err != nil {
		return ImageUpdateAutomation{}, err
	}
	s := obj.Spec
	a := ImageUpdateAutomation{ObjectRef: o.ref, Suspend: s.Suspend}
	if s.SourceRef.Kind != "GitRepository" {
		return a, o.errorf("spec.sourceRef.kind", "%q is not GitRepository", s.SourceRef.Kind)
	}
	if s.SourceRef.Name == "" {
		return a, o.errorf("spec.sourceRef.name", "missing")
	}
	a.Source = ObjectRef{Namespace: s.SourceRef.Namespace, Name: s.SourceRef.Name}
	if a.Source.Namespace == "" {
		a.Source.Namespace = a.Namespace
	}
	if a.Interval, err = duration(o, "spec.interval", s.Interval, true); err != nil {
		return a, err
	}
	if s.GitSpec == nil {
		return a, o.errorf("spec.git", "missing: it holds the commit author (spec.git.commit.author.email)")
	}
	g := s.GitSpec
	if g.Checkout != nil {
		r := g.Checkout.Ref
		if r == (gitRef{}) {
			return a, o.errorf("spec.git.checkout.ref", "empty: give a branch (or a tag, semver, name or commit)")
		}
		a.Checkout = &GitRef{Branch: r.Branch, Tag: r.Tag, SemVer: r.SemVer, Name: r.Name, Commit: r.Commit}
		if r.Branch != "" {
			if err := checkBranch(r.Branch); err != nil {
				return a, o.errorf("spec.git.checkout.ref.branch", "%v", err)
			}
		}
	}
	if g.Commit.Author.Email == "" {
		return a, o.errorf("spec.git.commit.author.email", "missing")
	}
	a.AuthorName, a.AuthorEmail = g.Commit.Author.Name, g.Commit.Author.Email
	if k := g.Commit.SigningKey; k != nil {
		if k.SecretRef.Name == "" {
			return a, o.errorf("spec.git.commit.signingKey.secretRef.name", "missing")
		}
		a.SigningKeySecret = k.SecretRef.Name
	}
	if t := g.Commit.MessageTemplate; t != "" {
		if err := checkTemplate(t); err != nil {
			return a, o.errorf("spec.git.commit.messageTemplate", "%v", err)
		}
		a.MessageTemplate = t
	}
	a.MessageTemplateValues = g.Commit.MessageTemplateValues
	if p := g.Push; p != nil {
		if p.Branch != "" {
			if err := checkBranch(p.Branch); err != nil {
				return a, o.errorf("spec.git.push.branch", "%v", err)
			}
		}
		a.PushBranch, a.PushRefspec, a.PushOptions = p.Branch, p.Refspec, p.Options
	}
	a.UpdatePath = "."
	if up := s.Update; up != nil {
		if up.Strategy != "" && up.Strategy != "Setters" {
			return a, o.errorf("spec.update.strategy", "%q is not Setters, the only strategy", up.Strategy)
		}
		if up.Path != "" {
			clean, err := cleanPath(up.Path)
			if err != nil {
				return a, o.errorf("spec.update.path", "%v", err)
			}
			a.UpdatePath = clean
		}
	}
	a.PolicySelector = labels.Everything()
	if ls := s.PolicySelector; ls != nil {
		sel, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			return a, o.errorf("spec.policySelector", "%v", err)
		}
		a.PolicySelector = sel
	}
	return a, nil
}

// cleanPath cleans update.path and keeps it inside the repository: the
// plugin edits files under it, so "../x" or "/etc" is refused rather than
// cleaned into something else.
func cleanPath(p string) (string, error) {
	if strings.Contains(p, `\`) {
		return "", fmt.Errorf("%q: use / as the separator", p)
	}
	if path.IsAbs(p) {
		return "", fmt.Errorf("%q is absolute: it is relative to the repository root", p)
	}
	clean := path.Clean(p)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%q leaves the repository", p)
	}
	return clean, nil
}

// checkBranch applies the rules of git check-ref-format that matter for a
// branch name given in an object.
func checkBranch(b string) error {
	bad := strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") ||
		strings.HasSuffix(b, ".") || strings.HasSuffix(b, ".lock") || strings.Contains(b, "..") ||
		strings.Contains(b, "//") || strings.Contains(b, "@{") || b == "@" ||
		strings.ContainsAny(b, " ~^:?*[\\\x7f") || strings.ContainsFunc(b, func(r rune) bool { return r < 0x20 })
	if bad {
		return fmt.Errorf("%q is not a valid branch name", b)
	}
	return nil
}

// checkTemplate checks the syntax of a commit message template. Its
// functions (Go's and Sprig's) are not checked here: they are checked when
// the message is written.
func checkTemplate(t string) error {
	tree := parse.New("messageTemplate")
	tree.Mode = parse.SkipFuncCheck
	if _, err := tree.Parse(t, "", "", map[string]*parse.Tree{}); err != nil {
		return fmt.Errorf("not a valid Go template: %w", err)
	}
	return nil
}
