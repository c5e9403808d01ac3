// Package reconcile is the PetSet controller: it keeps, for every PetSet, one
// pet (pod) per ordinal in [start, start+replicas), each with a stable name,
// hostname and set of claims, created in ascending and removed in descending
// order under the OrderedReady policy, or all at once under Parallel.
//
// One sync of a set, in the order it runs:
//
//	controller.go  an informer event queues the set's key; a worker reads the
//	               set and its pods from the listers and adopts or releases
//	               pods (ownership.go decides which)
//	control.go     Sync: the pass in outline, and the expectations check
//	               that keeps a stale cache from being acted on
//	history.go     the set's ControllerRevisions: claimed, the update
//	               revision stored (revision.go plans it: pure)
//	teardown.go    the ordered-teardown finalizer added or removed; a deleted
//	               set's pets removed highest first (planTeardown: pure)
//	retention.go   claims' owner references set after the retention policy
//	               (planClaimRetention: pure)
//	resize.go      claims expanded to their template's request
//	               (planClaimResize: pure)
//	ordering.go    judgePet decides about each pet; walkPets runs it over the
//	               pets in order (OrderedReady: up to the first pet that is
//	               not available) or over all (Parallel); then scale-down and
//	               the rolling update (update.go plans it: pure)
//	pet_control.go the writes to pods and claims, with their Events
//	status.go      computeStatus (pure) and the status write
//
// Beside them: pets.go (names, ordinals and reserved ordinals, labels,
// predicates, the pod made for an ordinal), expectations.go (creates and
// deletes the cache has not shown yet), spacing.go (a converging set's
// status writes spaced out), pace.go (a Parallel set's pod events folded
// after a long pass), backlog.go (the cluster's Pending claims counted:
// no claims are made ahead while they queue for volumes), events.go
// (every Event and condition reason), metrics.go (Prometheus metrics).
//
// Collaborators are given once to newSetControl (the deps struct): listers
// to read, PetControl, ClaimControl, RevisionControl, StatusUpdater and
// FinalizerControl to write. Every one is set; tests pass fakes.
package reconcile
