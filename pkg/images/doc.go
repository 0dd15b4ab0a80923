// Package images is image automation, decided against what git says: it
// finds the workloads' images in a commit, asks registries for their tags,
// picks the newest tag each policy allows, and edits the manifests, changing
// only the bytes of the image references.
//
// The workloads are read from the objects pkg/render returns for the
// commit, the ones sync applies (Tree.Workloads), each with the place its
// images are written: a plain YAML or JSON file, a kustomization's images
// entry or the file kustomize loaded it from, or a generator's updaters.
// An edit is verified by rendering the edited tree again.
package images
