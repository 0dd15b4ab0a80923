package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

// FieldManager is the name of kubectl-gitops' field managers: each set
// applies as FieldManager/<namespace>/<name> (SetFieldManager). Earlier
// versions applied every set as FieldManager alone.
const FieldManager = "kubectl-gitops"

// Client is the engine's way to the cluster.
type Client struct {
	Mapper   meta.RESTMapper
	Kube     kubernetes.Interface
	Dynamic  dynamic.Interface
	Metadata metadata.Interface
	raw      rest.Interface
}

// NewClient builds the clients from a REST config. The config's client-side
// rate limit is turned off: the engine bounds its own concurrency, and the
// API server's priority and fairness protects the server.
func NewClient(cfg *rest.Config, mapper meta.RESTMapper) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	cfg.RateLimiter = nil
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the HTTP client: %w", err)
	}
	kube, err := kubernetes.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	md, err := metadata.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	rawCfg := dynamic.ConfigFor(cfg)
	rawCfg.GroupVersion = &schema.GroupVersion{}
	rawCfg.APIPath = "/"
	raw, err := rest.UnversionedRESTClientForConfigAndClient(rawCfg, httpClient)
	if err != nil {
		return nil, err
	}
	return &Client{Mapper: mapper, Kube: kube, Dynamic: dyn, Metadata: md, raw: raw}, nil
}

// resource returns the dynamic client for one object's resource.
func (c *Client) resource(m *meta.RESTMapping, namespace string) dynamic.ResourceInterface {
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.Dynamic.Resource(m.Resource).Namespace(namespace)
	}
	return c.Dynamic.Resource(m.Resource)
}

// applyOptions are the parameters of one server-side apply.
type applyOptions struct {
	manager string
	force   bool
	dryRun  bool
	// body replaces the item's body when set.
	body []byte
}

// serverSideApply applies an item's body and returns the object the server
// answered with and whether the object was created.
func (c *Client) serverSideApply(ctx context.Context, it *Item, opts applyOptions) (*unstructured.Unstructured, bool, error) {
	body := it.Body
	if opts.body != nil {
		body = opts.body
	}
	manager := opts.manager
	if manager == "" {
		manager = FieldManager
	}
	req := c.raw.Patch(types.ApplyPatchType).
		AbsPath(objectPath(it.Mapping, it.ID.Namespace, it.ID.Name)...).
		Param("fieldManager", manager).
		Param("fieldValidation", "Strict").
		Body(body)
	if opts.force {
		req = req.Param("force", "true")
	}
	if opts.dryRun {
		req = req.Param("dryRun", metav1.DryRunAll)
	}
	res := req.Do(ctx)
	var code int
	res.StatusCode(&code)
	raw, err := res.Raw()
	if err != nil {
		return nil, false, statusError(raw, err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(raw); err != nil {
		return nil, false, fmt.Errorf("decoding the server's answer: %w", err)
	}
	return obj, code == http.StatusCreated, nil
}

// objectPath is the URL path of a named object.
func objectPath(m *meta.RESTMapping, namespace, name string) []string {
	gv := m.Resource.GroupVersion()
	parts := []string{"/api", gv.Version}
	if gv.Group != "" {
		parts = []string{"/apis", gv.Group, gv.Version}
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		parts = append(parts, "namespaces", namespace)
	}
	return append(parts, m.Resource.Resource, name)
}

// mapping finds the REST mapping of a group-kind at its preferred version.
func (c *Client) mapping(gk schema.GroupKind) (*meta.RESTMapping, error) {
	return c.Mapper.RESTMapping(gk)
}

// resetMapper forgets what the mapper knows, after new CRDs.
func (c *Client) resetMapper() {
	if r, ok := c.Mapper.(meta.ResettableRESTMapper); ok {
		r.Reset()
	}
}

// conflictHint turns the API server's field-manager conflict into advice.
func conflictHint(err error) error {
	if err != nil && strings.Contains(err.Error(), "conflict") && strings.Contains(err.Error(), "Apply failed") {
		return fmt.Errorf("%w; another field manager owns these fields: change them there, or pass --force-conflicts to take them over", err)
	}
	return err
}

// statusError decodes the API server's Status from an error response, so
// that the error says what the server said.
func statusError(body []byte, err error) error {
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		return apierrors.FromObject(&st)
	}
	return err
}
