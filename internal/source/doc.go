// Package source opens the file of an import as its spec.source names it: a
// key of a ConfigMap (data or binaryData) or, later, an object in an object
// store.
//
// Open returns a fresh stream each time it is called, because the operator
// reads a file twice (once to validate it, once to upload it) and never
// holds it whole. ConfigMaps are read through an uncached reader (a
// manager's GetAPIReader): clusters hold tens of thousands of them and the
// operator needs a few, so the manager does not cache them.
//
// Failures a person must fix are typed: a missing ConfigMap or key is a
// *NotFoundError naming it, an object store is an *UnsupportedError until
// object stores are implemented.
package source
