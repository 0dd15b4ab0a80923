package workload

import (
	"fmt"
	"slices"
	"strings"
)

// ID names a workload as Flux v1 did: "<namespace>:<kind>/<name>", the kind
// in lower case, such as "shop:deployment/web".
type ID struct {
	Namespace string
	Kind      string // lower case: deployment, statefulset, ...
	Name      string
}

func (id ID) String() string { return id.Namespace + ":" + id.Kind + "/" + id.Name }

// MarshalText writes the id in its string form, so JSON shows
// "shop:deployment/web".
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads the string form, which must name a namespace.
func (id *ID) UnmarshalText(b []byte) error {
	if !strings.Contains(string(b), ":") {
		return fmt.Errorf("workload id %q has no namespace", b)
	}
	parsed, err := ParseID(string(b), "")
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}

// kindNames maps what ParseID accepts for a kind (lower case, plural and
// kubectl's short names) to the kind of an ID.
var kindNames = func() map[string]string {
	short := map[string]string{
		"deployment": "deploy", "statefulset": "sts", "daemonset": "ds",
		"replicaset": "rs", "cronjob": "cj", "pod": "po",
	}
	names := map[string]string{}
	for _, k := range kindOrder {
		id := strings.ToLower(k)
		names[id] = id
		names[id+"s"] = id
		if s, ok := short[id]; ok {
			names[s] = id
		}
	}
	return names
}()

// ParseID parses a workload id written "<namespace>:<kind>/<name>" or
// "<kind>/<name>" (in defaultNamespace). The kind is case-insensitive and
// may be plural or one of kubectl's short names (deploy, sts, ds, rs, cj,
// po).
func ParseID(s, defaultNamespace string) (ID, error) {
	ns, rest, hasNS := strings.Cut(s, ":")
	if !hasNS {
		ns, rest = defaultNamespace, s
	}
	kind, name, ok := strings.Cut(rest, "/")
	if !ok || kind == "" || name == "" || strings.ContainsAny(name, "/:") || (hasNS && ns == "") {
		return ID{}, fmt.Errorf("invalid workload %q: want <namespace>:<kind>/<name> or <kind>/<name>, like shop:deployment/web", s)
	}
	if ns == "" {
		return ID{}, fmt.Errorf("workload %q has no namespace: write it as <namespace>:%s", s, s)
	}
	k, ok := kindNames[strings.ToLower(kind)]
	if !ok {
		names := make([]string, len(kindOrder))
		for i, k := range kindOrder {
			names[i] = strings.ToLower(k)
		}
		return ID{}, fmt.Errorf("invalid workload %q: unknown kind %q, want one of %s", s, kind, strings.Join(names, ", "))
	}
	return ID{Namespace: ns, Kind: k, Name: name}, nil
}

// Closest returns up to 3 of ids that are close to want, closest first, to
// suggest in an "unknown workload" error: those whose name is within a few
// edits of want's, in any namespace and of any kind.
func Closest(ids []ID, want ID) []ID {
	type candidate struct {
		id         ID
		name, rest int
	}
	limit := max(2, len(want.Name)/3)
	var cs []candidate
	seen := map[ID]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		d := distance(id.Name, want.Name)
		if d > limit {
			continue
		}
		cs = append(cs, candidate{id, d, distance(id.Namespace, want.Namespace) + distance(id.Kind, want.Kind)})
	}
	slices.SortFunc(cs, func(a, b candidate) int {
		if a.name != b.name {
			return a.name - b.name
		}
		if a.rest != b.rest {
			return a.rest - b.rest
		}
		return strings.Compare(a.id.String(), b.id.String())
	})
	var out []ID
	for _, c := range cs[:min(3, len(cs))] {
		out = append(out, c.id)
	}
	return out
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
