package reconcile

import (
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
)

// Volume backlog.
//
// A claim made ahead of its pet (claimsAhead) gives the provisioner
// something to do while the pet before it starts: worth it while the
// provisioner is idle. Once claims queue for volumes (many sets scaling at
// once), a claim made ahead waits in that queue beside the claims of pets
// created already, and the provisioner binds it before some of theirs:
// the pets that wait now wait longer, for a claim no pet needs yet. So
// claims are made ahead only while at most backlogLimit claims, cluster
// wide as the claim informer sees them, are Pending.
const backlogLimit = 4

// claimBacklog counts the Pending claims from the claim informer's events.
type claimBacklog struct{ pending atomic.Int64 }

// changed accounts for a claim going from old to claim: old is nil for an
// added claim, claim nil for a deleted one.
func (b *claimBacklog) changed(old, claim *corev1.PersistentVolumeClaim) {
	var d int64
	if pendingClaim(claim) {
		d++
	}
	if pendingClaim(old) {
		d--
	}
	if d != 0 {
		b.pending.Add(d)
	}
}

// busy says whether more than backlogLimit claims wait for a volume.
func (b *claimBacklog) busy() bool { return b.pending.Load() > backlogLimit }

// pendingClaim says whether the claim exists and waits for a volume: its
// phase is Pending (an empty phase is a claim the binder has not seen yet).
func pendingClaim(claim *corev1.PersistentVolumeClaim) bool {
	return claim != nil && (claim.Status.Phase == corev1.ClaimPending || claim.Status.Phase == "")
}
