package apply

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fieldConflict says whether err is a server-side apply conflict: fields
// of the object that another field manager owns.
func fieldConflict(err error) bool {
	return len(conflictCauses(err)) > 0
}

func conflictCauses(err error) []metav1.StatusCause {
	if err == nil || !apierrors.IsConflict(err) {
		return nil
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return nil
	}
	var causes []metav1.StatusCause
	for _, c := range status.Status().Details.Causes {
		if c.Type == metav1.CauseTypeFieldManagerConflict {
			causes = append(causes, c)
		}
	}
	return causes
}

// conflictMessage is the note diff puts on an object whose changes it
// shows as a forced sync would make them: which fields, whose, and that
// sync takes them only with --force-conflicts. A diff shows such drift
// (kubectl scale, kubectl edit) instead of failing on it.
func conflictMessage(err error) string {
	byManager := map[string][]string{}
	for _, c := range conflictCauses(err) {
		// The server says: conflict with "kubectl" using apps/v1
		manager := c.Message
		if _, rest, ok := strings.Cut(c.Message, `conflict with "`); ok {
			if m, _, ok := strings.Cut(rest, `"`); ok {
				manager = m
			}
		}
		byManager[manager] = append(byManager[manager], c.Field)
	}
	managers := make([]string, 0, len(byManager))
	for m := range byManager {
		managers = append(managers, m)
	}
	sort.Strings(managers)
	parts := make([]string, len(managers))
	for i, m := range managers {
		fields := byManager[m]
		sort.Strings(fields)
		parts[i] = fmt.Sprintf("%s owned by field manager %q", strings.Join(fields, ", "), m)
	}
	return fmt.Sprintf("conflict: %s; a sync takes them only with --force-conflicts, and fails without it", strings.Join(parts, "; "))
}
