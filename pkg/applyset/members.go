package applyset

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// MemberState is what the last successful apply of a member left behind: the
// hash of the applied configuration and the resourceVersion the API server
// answered with. When neither has changed since, applying again would change
// nothing, and the object is skipped.
type MemberState struct {
	Hash            string
	ResourceVersion string
}

// Members maps each member applied by an earlier run to its state.
type Members map[ObjectID]MemberState

// String encodes the members one per line: "Kind.group namespace name hash
// resourceVersion", with "-" for an empty group suffix or namespace.
func (m Members) String() string {
	lines := make([]string, 0, len(m))
	for id, st := range m {
		gk := id.GroupKind().String()
		ns := id.Namespace
		if ns == "" {
			ns = "-"
		}
		lines = append(lines, strings.Join([]string{gk, ns, id.Name, st.Hash, st.ResourceVersion}, " "))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// ParseMembers decodes what Members.String encoded.
func ParseMembers(s string) (Members, error) {
	m := Members{}
	for i, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 5 {
			return nil, fmt.Errorf("line %d: want 5 fields, got %d", i+1, len(f))
		}
		gk := schema.ParseGroupKind(f[0])
		ns := f[1]
		if ns == "-" {
			ns = ""
		}
		m[ObjectID{Group: gk.Group, Kind: gk.Kind, Namespace: ns, Name: f[2]}] = MemberState{Hash: f[3], ResourceVersion: f[4]}
	}
	return m, nil
}
