// Package images is image automation, decided against what git says: it
// finds the workloads' images in a commit, asks registries for their tags,
// picks the newest tag each policy allows, and edits the manifests, changing
// only the bytes of the image references.
package images
