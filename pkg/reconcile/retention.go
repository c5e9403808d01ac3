package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	"github.com/kennel-dev/kennel/pkg/ordinal"
)

// Claim retention.
//
// The controller never deletes a claim. It sets owner references and lets
// the garbage collector do it:
//   - whenDeleted: Delete gives each claim a controller reference to the
//     set, so the claim goes when the set goes;
//   - whenScaled: Delete gives the claims of a condemned ordinal (outside
//     the range after a scale-down, or reserved) a reference to its pet,
//     so the claim goes when the pet is removed.
//
// Retain removes those references again. References to any other owner are
// kept, and a claim controlled by anything other than the set is left
// alone entirely.

// retentionPolicy returns the set's claim retention policy with defaults.
func retentionPolicy(set *kennelv1.PetSet) (whenDeleted, whenScaled appsv1.PersistentVolumeClaimRetentionPolicyType) {
	whenDeleted, whenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if p := set.Spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		if p.WhenDeleted != "" {
			whenDeleted = p.WhenDeleted
		}
		if p.WhenScaled != "" {
			whenScaled = p.WhenScaled
		}
	}
	return whenDeleted, whenScaled
}

// claimIdentity returns the template and ordinal of a claim named
// <template>-<set>-<N> after one of the set's claim templates.
func claimIdentity(set *kennelv1.PetSet, claim *corev1.PersistentVolumeClaim) (template string, ord int, ok bool) {
	for i := range set.Spec.VolumeClaimTemplates {
		name := set.Spec.VolumeClaimTemplates[i].Name
		rest, found := strings.CutPrefix(claim.Name, name)
		if !found || !strings.HasPrefix(rest, "-") {
			continue
		}
		if parent, ord, ok := ordinal.Parse(rest[1:]); ok && parent == set.Name {
			return name, ord, true
		}
	}
	return "", 0, false
}

// claimTemplateNames returns the names of the set's claim templates.
func claimTemplateNames(set *kennelv1.PetSet) []string {
	names := make([]string, 0, len(set.Spec.VolumeClaimTemplates))
	for _, t := range set.Spec.VolumeClaimTemplates {
		names = append(names, t.Name)
	}
	return names
}

// desiredClaimOwners returns the owner references the claim should carry
// and whether they differ from its current ones. pet is the live pet of
// the claim's ordinal (nil if none); condemned says the ordinal is being
// scaled away.
func desiredClaimOwners(set *kennelv1.PetSet, claim *corev1.PersistentVolumeClaim, pet *corev1.Pod, condemned bool) ([]metav1.OwnerReference, bool) {
	if ref := metav1.GetControllerOf(claim); ref != nil && ref.UID != set.UID {
		return claim.OwnerReferences, false
	}
	whenDeleted, whenScaled := retentionPolicy(set)
	wantSet := whenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType && set.DeletionTimestamp == nil
	wantPet := whenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType && condemned && pet != nil && pet.UID != ""
	if set.DeletionTimestamp != nil && whenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		// Keep the reference while the set is going away: the garbage
		// collector removes the claim after the set.
		wantSet = true
	}
	keepPetRefs := whenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType && condemned
	var petName string
	if pet != nil {
		petName = pet.Name
	} else if _, ord, ok := claimIdentity(set, claim); ok {
		petName = ordinal.PetName(set.Name, ord)
	}
	out := make([]metav1.OwnerReference, 0, len(claim.OwnerReferences)+2)
	hasSet, hasPet := false, false
	for _, ref := range claim.OwnerReferences {
		switch {
		case ref.UID == set.UID:
			if !wantSet || hasSet {
				continue
			}
			hasSet = true
		case ref.Kind == "Pod" && ref.APIVersion == "v1" && ref.Name == petName:
			// A reference to this ordinal's pet or an earlier pod of the
			// same name. While the ordinal is condemned under whenScaled:
			// Delete it stays, even once the pet is gone: the garbage
			// collector is about to delete the claim. Otherwise it goes.
			if !keepPetRefs {
				continue
			}
			if pet != nil && ref.UID == pet.UID {
				hasPet = true
			}
		}
		out = append(out, ref)
	}
	if wantSet && !hasSet {
		out = append(out, *metav1.NewControllerRef(set, controllerKind))
	}
	if wantPet && !hasPet {
		out = append(out, metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: pet.Name, UID: pet.UID})
	}
	if len(out) == 0 {
		out = nil
	}
	return out, !sameOwners(out, claim.OwnerReferences)
}

func sameOwners(a, b []metav1.OwnerReference) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].UID != b[i].UID || a[i].Name != b[i].Name || a[i].Kind != b[i].Kind ||
			a[i].APIVersion != b[i].APIVersion || !boolPtrEq(a[i].Controller, b[i].Controller) ||
			!boolPtrEq(a[i].BlockOwnerDeletion, b[i].BlockOwnerDeletion) {
			return false
		}
	}
	return true
}

func boolPtrEq(a, b *bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// claimOwnerChange is one claim whose owner references must change.
type claimOwnerChange struct {
	Claim  *corev1.PersistentVolumeClaim
	Owners []metav1.OwnerReference
}

// planClaimRetention returns the owner reference changes for the set's
// claims. pets maps ordinals to live pets; condemned reports whether an
// ordinal is being scaled away. Claims not named after one of the set's
// claim templates and ordinals are ignored.
func planClaimRetention(set *kennelv1.PetSet, claims []*corev1.PersistentVolumeClaim, pets map[int]*corev1.Pod, condemned func(ord int) bool) []claimOwnerChange {
	var out []claimOwnerChange
	for _, claim := range claims {
		_, ord, ok := claimIdentity(set, claim)
		if !ok || claim.DeletionTimestamp != nil {
			continue
		}
		pet := pets[ord]
		if pet != nil && isTerminating(pet) && !condemned(ord) {
			pet = nil
		}
		owners, changed := desiredClaimOwners(set, claim, pet, condemned(ord))
		if changed {
			out = append(out, claimOwnerChange{Claim: claim, Owners: owners})
		}
	}
	return out
}

// setClaims returns the claims in the set's namespace named after one of
// its claim templates.
func (c *defaultSetControl) setClaims(set *kennelv1.PetSet) ([]*corev1.PersistentVolumeClaim, error) {
	if len(set.Spec.VolumeClaimTemplates) == 0 {
		return nil, nil
	}
	var out []*corev1.PersistentVolumeClaim
	// A claim belongs to one family, but two templates of one name would
	// read the same family twice: with more than one template, claims seen
	// are remembered.
	templates := claimTemplateNames(set)
	var seen map[*corev1.PersistentVolumeClaim]bool
	if len(templates) > 1 {
		seen = map[*corev1.PersistentVolumeClaim]bool{}
	}
	for _, tmpl := range templates {
		family, err := c.claimIndex.ByIndex(claimFamilyIndex, claimFamilyKey(set.Namespace, tmpl+"-"+set.Name))
		if err != nil {
			return nil, err
		}
		for _, obj := range family {
			if claim, ok := obj.(*corev1.PersistentVolumeClaim); ok && !seen[claim] {
				if _, _, ok := claimIdentity(set, claim); ok {
					if seen != nil {
						seen[claim] = true
					}
					out = append(out, claim)
				}
			}
		}
	}
	return out, nil
}

// syncClaimOwners applies the retention policy to the set's claims: any
// ordinal outside the set's pet slots is condemned. It returns the
// ordinals whose claims did not get the owners asked for: under
// whenScaled: Delete their condemned pets must stay until they do, for a
// claim whose pet is gone can no longer be given the reference that lets
// the garbage collector delete it.
func (c *defaultSetControl) syncClaimOwners(ctx context.Context, set *kennelv1.PetSet, claims []*corev1.PersistentVolumeClaim, pets []*corev1.Pod) (map[int]bool, error) {
	if len(claims) == 0 {
		return nil, nil
	}
	byOrd := map[int]*corev1.Pod{}
	for _, p := range pets {
		if ord, ok := petOrdinal(set, p); ok {
			byOrd[ord] = p
		}
	}
	slots := petSlots(set)
	condemned := func(ord int) bool { _, ok := slices.BinarySearch(slots, ord); return !ok }
	var errs []error
	behind := map[int]bool{}
	for _, ch := range planClaimRetention(set, claims, byOrd, condemned) {
		klog.FromContext(ctx).Info("Updating claim owners after the retention policy", "claim", klog.KObj(ch.Claim), "owners", len(ch.Owners))
		if err := c.claims.SetClaimOwners(ctx, set, ch.Claim, ch.Owners); err != nil {
			errs = append(errs, fmt.Errorf("claim %s owners: %w", ch.Claim.Name, err))
			_, ord, _ := claimIdentity(set, ch.Claim)
			behind[ord] = true
		}
	}
	return behind, errors.Join(errs...)
}
