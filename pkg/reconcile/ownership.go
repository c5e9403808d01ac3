package reconcile

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

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

// The informers' indexes. ownerIndex files an object under its
// controller's UID, or as an orphan of its namespace; claimFamilyIndex
// files a claim under its name without the ordinal ("data-web" for
// "data-web-3"). A sync reads the set's own objects, the orphans it may
// adopt and its claims through them, never its whole namespace: its cost
// grows with the set, not with what else runs beside it.
const (
	ownerIndex       = "kennel.dev/owner"
	claimFamilyIndex = "kennel.dev/claim-family"
)

// Indexers are the indexes the controller adds to its pod, ControllerRevision
// and claim informers.
func Indexers() cache.Indexers {
	return cache.Indexers{ownerIndex: ownerIndexKeys, claimFamilyIndex: claimFamilyKeys}
}

func ownerIndexKeys(obj any) ([]string, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return []string{orphanKey(m.GetNamespace())}, nil
}

// orphanKey is the ownerIndex key of the namespace's objects without a
// controller (a UID has no '/').
func orphanKey(namespace string) string { return "orphans/" + namespace }

func claimFamilyKeys(obj any) ([]string, error) {
	claim, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil, nil
	}
	i := strings.LastIndexByte(claim.Name, '-')
	if i <= 0 {
		return nil, nil
	}
	return []string{claimFamilyKey(claim.Namespace, claim.Name[:i])}, nil
}

func claimFamilyKey(namespace, family string) string { return namespace + "/" + family }

// ownedAndOrphans returns, from an indexer with ownerIndex, the objects the
// set controls and the orphans in its namespace.
func ownedAndOrphans[T any](idx cache.Indexer, set *kennelv1.PetSet) ([]T, error) {
	owned, err := idx.ByIndex(ownerIndex, string(set.UID))
	if err != nil {
		return nil, err
	}
	orphans, err := idx.ByIndex(ownerIndex, orphanKey(set.Namespace))
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(owned)+len(orphans))
	for _, obj := range slices.Concat(owned, orphans) {
		if o, ok := obj.(T); ok {
			out = append(out, o)
		}
	}
	return out, nil
}
