// Package peers finds the members of a StatefulSet or PetSet behind its
// headless Service and runs commands with the list; it is the library
// behind cmd/peer-finder (whose flags live in pkg/peers/cli).
//
// Map of the package:
//
//   - finder.go: Finder, the loop. It takes observations of the membership
//     (polled from a Resolver, or pushed by a Watcher), decides when this pod
//     is a member and the membership is settled, and runs on-start /
//     on-change; also the "has not found itself" diagnosis.
//   - membership.go: Membership and BuildMembership (normalize, deduplicate,
//     ordinal order, FQDN or IP), Diff and the change log line, SelfFQDN.
//   - resolver.go: Resolver and DNSResolver, SRV lookups over UDP with
//     EDNS0 and TCP on truncation, every nameserver in turn.
//   - endpointslices.go: SliceTargets (what DNS publishes, computed from
//     EndpointSlices) and APISource, the Watcher that lists and watches them
//     through pkg/peers/kubeapi, with resume, relist on 410 and backoff.
//   - runner.go: Runner and ExecRunner, commands in their own process group
//     with the peers on stdin and in the environment; SplitCommand.
//   - fswatch.go: WatchFiles, change events of --watch'ed files.
//   - files.go: atomic writes of the peers file, Install.
//   - resolvconf.go: resolv.conf parsing and the cluster domain.
//   - clock.go, hostips.go: the clock and the host's addresses.
//
// Sub-packages: cli (flags, validation, exit codes), kubeapi (the small
// EndpointSlice client; kubeapi/apitest fakes the API), dnstest (a DNS
// server for tests).
package peers
