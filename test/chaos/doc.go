// Package chaos is kennel's fault-injection harness: on a local plane
// (package test/plane) it runs sets under both pod management policies,
// with claim templates and a headless Service, through seeded randomized
// rounds of user actions, controller faults and plane faults, records every
// pod, claim, set and Lease event and the API server's audit log, and
// checks invariants from that record.
//
// Map of the package:
//   - harness.go: Run, the rounds, convergence timing, the report.
//   - controllers.go: the controllers under test (two kennel replicas with
//     leader election, or the plane's kube-controller-manager) and their
//     supervision.
//   - actions.go: the seeded plan of a round: user actions and faults.
//   - sets.go: the sets, their Service and spec changes, for PetSet and
//     StatefulSet alike (the same JSON shape).
//   - recorder.go: one informer per kind; audit.go: the audit log.
//   - model.go: observed states; checks.go: the invariants.
//   - report.go: counts, convergence figures and the Markdown table.
//
// cmd/kennel-chaos runs it (make chaos); chaos_test.go has a short pass
// for make test and the harness's self-test against a broken controller's
// record.
package chaos
