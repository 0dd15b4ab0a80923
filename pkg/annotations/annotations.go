// Package annotations names the annotations kubectl-gitops reads and writes
// on objects in git and in the cluster, its own and Flux v1's.
package annotations

// Prefix is kubectl-gitops' own annotation prefix.
const Prefix = "kubectl-gitops.dev/"

// Flux v1's prefixes, read so that a Flux v1 repository works unchanged.
const (
	FluxPrefix       = "fluxcd.io/"
	FluxLegacyPrefix = "flux.weave.works/"
)

// Prune is set to "disabled" on an object to keep it in the cluster when it
// leaves the repository: it is then released from the sync set instead of
// being deleted.
const Prune = Prefix + "prune"

// PruneDisabled is the value of Prune that keeps an object.
const PruneDisabled = "disabled"

// Ignore "true" makes sync leave an object alone: it is neither applied nor
// pruned. "sync_only" (Flux v1) applies it but never prunes it.
const (
	Ignore         = "ignore"
	IgnoreTrue     = "true"
	IgnoreSyncOnly = "sync_only"
)

// Prefixes returns the prefixes under which policy annotations are read, in
// the order they are read: own first, then Flux v1's.
func Prefixes() []string {
	return []string{Prefix, FluxPrefix, FluxLegacyPrefix}
}

// Keys returns the policy annotation key (such as "ignore") under each of
// Prefixes, in the order they are read.
func Keys(key string) []string {
	keys := Prefixes()
	for i, p := range keys {
		keys[i] = p + key
	}
	return keys
}

// Lookup returns the value of the policy annotation key (such as "ignore")
// under the first prefix that has it.
func Lookup(annotations map[string]string, key string) (string, bool) {
	for _, k := range Keys(key) {
		if v, ok := annotations[k]; ok {
			return v, true
		}
	}
	return "", false
}

// Ignored says whether sync must leave the object alone entirely.
func Ignored(annotations map[string]string) bool {
	v, _ := Lookup(annotations, Ignore)
	return v == IgnoreTrue
}

// KeepOnPrune says whether the object is to be kept when it leaves the
// repository.
func KeepOnPrune(annotations map[string]string) bool {
	if annotations[Prune] == PruneDisabled {
		return true
	}
	v, _ := Lookup(annotations, Ignore)
	return v == IgnoreTrue || v == IgnoreSyncOnly
}

// Policy annotations of a workload (on its metadata.annotations, not its pod
// template), read under any of the prefixes as Lookup does. Only the exact
// value "true" turns Automated or Locked on.
const (
	// Automated "true": new images allowed by the tag filters are released
	// without being asked.
	Automated = "automated"
	// Locked "true": no image of the workload is changed, by hand or
	// automation; LockedUser and LockedMsg say who locked it and why.
	Locked     = "locked"
	LockedUser = "locked_user"
	LockedMsg  = "locked_msg"
	// TagPrefix followed by a container name holds the pattern of image
	// tags allowed for that container, such as "semver:~1.2".
	TagPrefix = "tag."
)

// FluxFilterPrefix followed by a container name is Flux v1's other spelling
// of the tag filter fluxcd.io/tag.<container>.
const FluxFilterPrefix = "filter.fluxcd.io/"

// TagKeys returns the annotations that can hold the tag pattern of
// container c, in the order they are read: TagPrefix+c under each of
// Prefixes, with Flux v1's FluxFilterPrefix+c right after
// FluxPrefix+TagPrefix+c. TagKeys("") are the prefixes of those keys.
func TagKeys(c string) []string {
	return []string{
		Prefix + TagPrefix + c,
		FluxPrefix + TagPrefix + c,
		FluxFilterPrefix + c,
		FluxLegacyPrefix + TagPrefix + c,
	}
}

// SSA sets how sync applies an object (its value is read case-insensitively):
//
//   - SSAOverride (the default, also when absent): applied on every sync;
//   - SSAMerge: the same here, as server-side apply never removes fields
//     that other field managers set (Flux v2 needs the value to keep fields
//     that kubectl edited);
//   - SSAIfNotPresent: created when missing, never changed after (a Secret
//     another controller fills);
//   - SSAIgnore: never applied and never pruned; a member that gets it is
//     released from its set.
//
// FluxSSA, Flux v2's spelling, is read when SSA is absent.
const (
	SSA     = Prefix + "ssa"
	FluxSSA = "kustomize.toolkit.fluxcd.io/ssa"

	SSAOverride     = "Override"
	SSAMerge        = "Merge"
	SSAIfNotPresent = "IfNotPresent"
	SSAIgnore       = "Ignore"
)

// DigestPrefix followed by a container name, under Prefix only, set to
// DigestPin, keeps that container's image pinned as repo:tag@digest: an
// update writes the digest the tag points at, and writes it again when the
// tag is pushed anew with other content.
const (
	DigestPrefix = Prefix + "digest."
	DigestPin    = "pin"
)
