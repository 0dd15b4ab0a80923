package imageauto

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// The shapes of Flux v2's image.toolkit.fluxcd.io objects as they are read
// from unstructured objects: the fields of v1 (a superset of v1beta2's
// for what is read here), with their JSON names. Strict conversion refuses
// any other field, so that a misspelt field is an error instead of being
// ignored as the API server's pruning would silently do.

type fluxObject[S any] struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       S              `json:"spec"`
	Status     map[string]any `json:"status,omitempty"`
}

type localRef struct {
	Name string `json:"name"`
}

type imageRepositorySpec struct {
	Image              string         `json:"image"`
	Interval           string         `json:"interval"`
	Timeout            string         `json:"timeout,omitempty"`
	SecretRef          *localRef      `json:"secretRef,omitempty"`
	ServiceAccountName string         `json:"serviceAccountName,omitempty"`
	CertSecretRef      *localRef      `json:"certSecretRef,omitempty"`
	ProxySecretRef     *localRef      `json:"proxySecretRef,omitempty"`
	AccessFrom         map[string]any `json:"accessFrom,omitempty"`
	Suspend            bool           `json:"suspend,omitempty"`
	ExclusionList      *[]string      `json:"exclusionList,omitempty"`
	Provider           string         `json:"provider,omitempty"`
	Insecure           bool           `json:"insecure,omitempty"`
}

type namespacedRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

type semverPolicy struct {
	Range string `json:"range"`
}

type orderPolicy struct {
	Order string `json:"order,omitempty"`
}

type policyChoice struct {
	SemVer       *semverPolicy `json:"semver,omitempty"`
	Alphabetical *orderPolicy  `json:"alphabetical,omitempty"`
	Numerical    *orderPolicy  `json:"numerical,omitempty"`
}

type filterTags struct {
	Pattern string `json:"pattern,omitempty"`
	Extract string `json:"extract,omitempty"`
}

type imagePolicySpec struct {
	ImageRepositoryRef     namespacedRef `json:"imageRepositoryRef"`
	Policy                 policyChoice  `json:"policy"`
	FilterTags             *filterTags   `json:"filterTags,omitempty"`
	DigestReflectionPolicy string        `json:"digestReflectionPolicy,omitempty"`
	Interval               string        `json:"interval,omitempty"`
	Suspend                bool          `json:"suspend,omitempty"`
}

type sourceRef struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace,omitempty"`
}

type gitRef struct {
	Branch string `json:"branch,omitempty"`
	Tag    string `json:"tag,omitempty"`
	SemVer string `json:"semver,omitempty"`
	Name   string `json:"name,omitempty"`
	Commit string `json:"commit,omitempty"`
}

type gitCheckout struct {
	Ref gitRef `json:"ref"`
}

type commitUser struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
}

type signingKey struct {
	SecretRef localRef `json:"secretRef"`
	Type      string   `json:"type,omitempty"`
}

type commitSpec struct {
	Author                commitUser        `json:"author"`
	SigningKey            *signingKey       `json:"signingKey,omitempty"`
	MessageTemplate       string            `json:"messageTemplate,omitempty"`
	MessageTemplateValues map[string]string `json:"messageTemplateValues,omitempty"`
}

type pushSpec struct {
	Branch  string            `json:"branch,omitempty"`
	Refspec string            `json:"refspec,omitempty"`
	Options map[string]string `json:"options,omitempty"`
}

type gitSpec struct {
	Checkout *gitCheckout `json:"checkout,omitempty"`
	Commit   commitSpec   `json:"commit"`
	Push     *pushSpec    `json:"push,omitempty"`
}

type updateSpec struct {
	Path     string `json:"path,omitempty"`
	Strategy string `json:"strategy,omitempty"`
}

type imageUpdateAutomationSpec struct {
	SourceRef      sourceRef             `json:"sourceRef"`
	GitSpec        *gitSpec              `json:"git,omitempty"`
	Interval       string                `json:"interval"`
	PolicySelector *metav1.LabelSelector `json:"policySelector,omitempty"`
	Update         *updateSpec           `json:"update,omitempty"`
	Suspend        bool                  `json:"suspend,omitempty"`
}
