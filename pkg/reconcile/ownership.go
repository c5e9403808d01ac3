package reconcile

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

// Ownership.
//
// A set owns pods and ControllerRevisions the way the upstream controllers
// do: it keeps the objects whose controller reference carries its UID and
// that its selector matches, releases those it controls that no longer
// match, and adopts matching orphans while neither it nor the object is
// being deleted. Objects controlled by anything else are left alone. A set
// being deleted keeps everything it controls and adopts nothing.

// ownership is what a set does about one object.
type ownership int

const (
	notOurs ownership = iota // controlled by something else, or not a match
	owns                     // controlled by the set: keep it
	release                  // controlled by the set but no longer a match
	adopt                    // an orphan that matches: adopt it
)

// ownershipOf decides about obj; matches says whether the set's selector
// (and, for pods, its naming) matches the object.
func ownershipOf(set *kennelv1.PetSet, obj metav1.Object, matches bool) ownership {
	ref := metav1.GetControllerOfNoCopy(obj)
	switch {
	case ref != nil && ref.UID == set.UID:
		if matches || set.DeletionTimestamp != nil {
			return owns
		}
		return release
	case ref != nil:
		return notOurs
	case matches && set.DeletionTimestamp == nil && obj.GetDeletionTimestamp() == nil:
		return adopt
	}
	return notOurs
}

// adoptPatch is the strategic merge patch that makes the set the object's
// controller; the uid makes it fail if the object was replaced meanwhile.
func adoptPatch(set *kennelv1.PetSet, obj metav1.Object) []byte {
	return fmt.Appendf(nil, `{"metadata":{"ownerReferences":[{"apiVersion":%q,"kind":%q,"name":%q,"uid":%q,"controller":true,"blockOwnerDeletion":true}],"uid":%q}}`,
		controllerKind.GroupVersion().String(), controllerKind.Kind, set.Name, set.UID, obj.GetUID())
}

// releasePatch is the strategic merge patch that removes the set's
// reference from the object.
func releasePatch(set *kennelv1.PetSet, obj metav1.Object) []byte {
	return fmt.Appendf(nil, `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":%q}],"uid":%q}}`, set.UID, obj.GetUID())
}

// deleteIfSame returns delete options that delete the object only while it
// has the UID it was read with: never a newer object of the same name.
func deleteIfSame(obj metav1.Object) metav1.DeleteOptions {
	var opts metav1.DeleteOptions
	if uid := obj.GetUID(); uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	return opts
}
