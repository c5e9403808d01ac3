package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/klog/v2"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

// Storage resize.
//
// Raising spec.volumeClaimTemplates[].spec.resources.requests.storage
// expands every existing claim made from the template: the controller
// raises the claim's storage request when its StorageClass allows volume
// expansion, and reports the claims it cannot expand (no such class,
// expansion not allowed, or a request lower than the claim's, since claims
// cannot shrink). The CRD refuses every other change to the templates.
// Progress is the VolumeClaimsResized condition: True when every claim's
// capacity reaches its template's request.

// claimResize is one claim whose storage request must be raised.
type claimResize struct {
	Claim *corev1.PersistentVolumeClaim
	To    resource.Quantity
}

// resizePlan is what storage resizing must do and report.
type resizePlan struct {
	Expand []claimResize
	// Refused names claims that cannot be expanded, with the reason.
	Refused []string
	// Pending names claims whose request is raised but whose capacity
	// has not reached it yet.
	Pending []string
	// Total counts the set's claims that have a storage request in their
	// template; Done those whose capacity reaches it.
	Total, Done int
}

// templateStorage returns each claim template's storage request by name.
func templateStorage(set *kennelv1.PetSet) map[string]resource.Quantity {
	out := map[string]resource.Quantity{}
	for i := range set.Spec.VolumeClaimTemplates {
		t := &set.Spec.VolumeClaimTemplates[i]
		if q, ok := t.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
			out[t.Name] = q
		}
	}
	return out
}

// expansionAllowed reports whether the claim's StorageClass allows volume
// expansion, or why not. classes maps class names to classes; unreadable
// maps class names to why they could not be read.
func expansionAllowed(claim *corev1.PersistentVolumeClaim, classes map[string]*storagev1.StorageClass, unreadable map[string]string) (bool, string) {
	if claim.Spec.StorageClassName == nil || *claim.Spec.StorageClassName == "" {
		return false, "it has no StorageClass"
	}
	name := *claim.Spec.StorageClassName
	if why, ok := unreadable[name]; ok {
		return false, fmt.Sprintf("cannot read StorageClass %s: %s", name, why)
	}
	class, ok := classes[name]
	if !ok {
		return false, fmt.Sprintf("StorageClass %s not found", name)
	}
	if class.AllowVolumeExpansion == nil || !*class.AllowVolumeExpansion {
		return false, fmt.Sprintf("StorageClass %s does not allow volume expansion", name)
	}
	return true, ""
}

// planClaimResize compares each of the set's claims with its template; what
// it reports comes in the order of the claims' names.
func planClaimResize(set *kennelv1.PetSet, claims []*corev1.PersistentVolumeClaim, classes map[string]*storagev1.StorageClass, unreadable map[string]string) resizePlan {
	plan := planClaimResizeIn(set, claims, classes, unreadable)
	if len(plan.Expand)+len(plan.Refused)+len(plan.Pending) == 0 {
		return plan // nothing listed (nearly every pass): no order to keep
	}
	sorted := append([]*corev1.PersistentVolumeClaim(nil), claims...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	return planClaimResizeIn(set, sorted, classes, unreadable)
}

// planClaimResizeIn is planClaimResize with the claims in the order given.
func planClaimResizeIn(set *kennelv1.PetSet, claims []*corev1.PersistentVolumeClaim, classes map[string]*storagev1.StorageClass, unreadable map[string]string) resizePlan {
	var plan resizePlan
	want := templateStorage(set)
	for _, claim := range claims {
		tmpl, _, ok := claimIdentity(set, claim)
		if !ok || claim.DeletionTimestamp != nil {
			continue
		}
		if ref := metav1.GetControllerOf(claim); ref != nil && ref.UID != set.UID {
			continue
		}
		to, ok := want[tmpl]
		if !ok {
			continue
		}
		plan.Total++
		have := claim.Spec.Resources.Requests[corev1.ResourceStorage]
		switch cmp := to.Cmp(have); {
		case cmp < 0:
			plan.Refused = append(plan.Refused, fmt.Sprintf("%s: requests %s, more than the template's %s; claims cannot shrink", claim.Name, have.String(), to.String()))
			continue
		case cmp > 0:
			if ok, why := expansionAllowed(claim, classes, unreadable); !ok {
				plan.Refused = append(plan.Refused, fmt.Sprintf("%s: cannot expand to %s: %s", claim.Name, to.String(), why))
				continue
			}
			plan.Expand = append(plan.Expand, claimResize{Claim: claim, To: to})
			plan.Pending = append(plan.Pending, fmt.Sprintf("%s: expanding from %s to %s", claim.Name, have.String(), to.String()))
			continue
		}
		capacity, bound := claim.Status.Capacity[corev1.ResourceStorage]
		if claim.Status.Phase != corev1.ClaimBound || !bound || capacity.Cmp(to) >= 0 {
			// An unbound claim is provisioned at its request.
			plan.Done++
			continue
		}
		plan.Pending = append(plan.Pending, fmt.Sprintf("%s: capacity %s, waiting for %s%s", claim.Name, capacity.String(), to.String(), resizeState(claim)))
	}
	return plan
}

// resizeState describes the claim's resize conditions, if any.
func resizeState(claim *corev1.PersistentVolumeClaim) string {
	for _, c := range claim.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == corev1.PersistentVolumeClaimResizing || c.Type == corev1.PersistentVolumeClaimFileSystemResizePending) {
			return " (" + string(c.Type) + ")"
		}
	}
	return ""
}

// asked reports whether a claim differs from its template's request: a
// resize has been asked for. Until one is, the set reports no
// VolumeClaimsResized condition; once it has, the condition stays.
func (p resizePlan) asked() bool {
	return len(p.Expand)+len(p.Refused)+len(p.Pending) > 0
}

// condition returns the VolumeClaimsResized condition for the plan, or nil
// when the set has no claims with a storage request.
func (p resizePlan) condition(generation int64) *metav1.Condition {
	if p.Total == 0 && len(p.Refused) == 0 {
		return nil
	}
	c := &metav1.Condition{Type: kennelv1.PetSetVolumeClaimsResized, ObservedGeneration: generation}
	msg := fmt.Sprintf("%d of %d claims at their template's storage request", p.Done, p.Total)
	details := append(append([]string(nil), p.Refused...), p.Pending...)
	if len(details) > 0 {
		msg += "; " + strings.Join(details, "; ")
	}
	c.Message = msg
	switch {
	case len(p.Refused) > 0:
		c.Status, c.Reason = metav1.ConditionFalse, ReasonResizeNotAllowed
	case len(p.Pending) > 0:
		c.Status, c.Reason = metav1.ConditionFalse, ReasonResizing
	default:
		c.Status, c.Reason = metav1.ConditionTrue, ReasonResized
	}
	return c
}

// syncClaimSizes expands claims whose template's storage request grew and
// returns the VolumeClaimsResized condition (nil when not applicable).
func (c *defaultSetControl) syncClaimSizes(ctx context.Context, set *kennelv1.PetSet, claims []*corev1.PersistentVolumeClaim) (*metav1.Condition, error) {
	if len(claims) == 0 {
		return nil, nil
	}
	classes, unreadable := c.classesToExpand(ctx, set, claims)
	plan := planClaimResize(set, claims, classes, unreadable)
	var errs []error
	for _, e := range plan.Expand {
		klog.FromContext(ctx).Info("Expanding claim", "claim", klog.KObj(e.Claim), "to", e.To.String())
		if err := c.claims.ExpandClaim(ctx, set, e.Claim, e.To); err != nil {
			errs = append(errs, fmt.Errorf("expanding claim %s: %w", e.Claim.Name, err))
			continue
		}
		c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonExpandingClaim, "Raised the storage request of claim %s to %s", e.Claim.Name, e.To.String())
	}
	had := meta.FindStatusCondition(set.Status.Conditions, kennelv1.PetSetVolumeClaimsResized) != nil
	if !had && !plan.asked() {
		return nil, errors.Join(errs...)
	}
	return plan.condition(set.Generation), errors.Join(errs...)
}

// classesToExpand reads the StorageClasses of the claims whose template asks
// for more storage than they have. unreadable maps the classes that could
// not be read (no RBAC access, say) to why: they are reported in the
// condition rather than failing the whole sync.
func (c *defaultSetControl) classesToExpand(ctx context.Context, set *kennelv1.PetSet, claims []*corev1.PersistentVolumeClaim) (map[string]*storagev1.StorageClass, map[string]string) {
	classes := map[string]*storagev1.StorageClass{}
	unreadable := map[string]string{}
	want := templateStorage(set)
	for _, claim := range claims {
		tmpl, _, ok := claimIdentity(set, claim)
		if !ok || claim.Spec.StorageClassName == nil {
			continue
		}
		name := *claim.Spec.StorageClassName
		if classes[name] != nil || unreadable[name] != "" {
			continue
		}
		to, ok := want[tmpl]
		if have := claim.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || to.Cmp(have) <= 0 {
			continue
		}
		class, err := c.claims.GetStorageClass(ctx, name)
		switch {
		case err == nil:
			classes[class.Name] = class
		case !apierrors.IsNotFound(err):
			unreadable[name] = err.Error()
		}
	}
	return classes, unreadable
}
