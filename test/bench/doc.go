// Package bench compares kennel with the upstream components it replaces,
// side by side on the same machine in the same run: kennel's peer-finder
// against the historical Kubernetes peer-finder, and kennel's PetSet
// controller against the StatefulSet controller of kube-controller-manager.
// Runs alternate (kennel, upstream, kennel, upstream, ...) and figures are
// medians with the kennel/upstream ratio. cmd/kennel-bench runs the suites;
// hack/bench.sh (make bench) builds what they need and runs it.
package bench
