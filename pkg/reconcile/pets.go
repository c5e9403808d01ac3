package reconcile

// Pets: their names, labels, predicates and the pod made for an ordinal.

import (
	"maps"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	"github.com/kennel-dev/kennel/pkg/ordinal"
)

// Labels and annotations the controller sets or reads on pets.
const (
	// PodNameLabel carries the pet's own name, as upstream StatefulSets do.
	PodNameLabel = "statefulset.kubernetes.io/pod-name"
	// PodIndexLabel carries the pet's ordinal, as upstream StatefulSets do.
	PodIndexLabel = "apps.kubernetes.io/pod-index"
	// PetSetLabel names the PetSet that owns the pet.
	PetSetLabel = "kennel.dev/petset"
	// PetIndexLabel carries the pet's ordinal.
	PetIndexLabel = "kennel.dev/pet-index"
	// RevisionLabel carries the revision of the template the pet was made from.
	RevisionLabel = appsv1.ControllerRevisionHashLabelKey
	// InitializedAnnotation set to "false" on any pet pauses scaling of the whole set.
	InitializedAnnotation = "pod.alpha.kubernetes.io/initialized"
)

// controllerKind is the group/version/kind written into owner references.
var controllerKind = kennelv1.SchemeGroupVersion.WithKind("PetSet")

// ordinalRange returns the first ordinal and the number of desired pets.
func ordinalRange(set *kennelv1.PetSet) (start, replicas int) {
	replicas = 1
	if set.Spec.Replicas != nil {
		replicas = int(*set.Spec.Replicas)
	}
	if set.Spec.Ordinals != nil {
		start = int(set.Spec.Ordinals.Start)
	}
	return start, replicas
}

// isParallel reports whether pets are managed without ordering.
func isParallel(set *kennelv1.PetSet) bool {
	return set.Spec.PodManagementPolicy == appsv1.ParallelPodManagement
}

// petOrdinal returns the ordinal of a pet of the set, or ok=false if the
// pod's name is not <set>-<N>.
func petOrdinal(set *kennelv1.PetSet, pod *corev1.Pod) (int, bool) {
	parent, ord, ok := ordinal.Parse(pod.Name)
	if !ok || parent != set.Name {
		return 0, false
	}
	return ord, true
}

// isMember reports whether the pod's name makes it a pet of the set.
func isMember(set *kennelv1.PetSet, pod *corev1.Pod) bool {
	_, ok := petOrdinal(set, pod)
	return ok
}

// isCreated reports whether the API server has given the pod a phase.
func isCreated(pod *corev1.Pod) bool { return pod.Status.Phase != "" }

// isFailed reports whether the pod has terminated with a failure.
func isFailed(pod *corev1.Pod) bool { return pod.Status.Phase == corev1.PodFailed }

// isSucceeded reports whether the pod has terminated successfully.
func isSucceeded(pod *corev1.Pod) bool { return pod.Status.Phase == corev1.PodSucceeded }

// isFinished reports whether the pod has terminated, failed or succeeded:
// a pet never stops on its own, so it must be made again.
func isFinished(pod *corev1.Pod) bool { return isFailed(pod) || isSucceeded(pod) }

// isTerminating reports whether deletion of the pod has begun.
func isTerminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }

// isPaused reports whether the pet carries the debug pause annotation.
func isPaused(pod *corev1.Pod) bool {
	return pod.Annotations[InitializedAnnotation] == "false"
}

// readyCondition returns the pod's Ready condition, or nil.
func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// notReadySince returns when the pod last became not Ready: the later of
// its start (or creation) and its Ready condition's last transition.
func notReadySince(pod *corev1.Pod) time.Time {
	since := pod.CreationTimestamp.Time
	if pod.Status.StartTime != nil {
		since = pod.Status.StartTime.Time
	}
	if rc := readyCondition(pod); rc != nil && rc.LastTransitionTime.After(since) {
		since = rc.LastTransitionTime.Time
	}
	return since
}

// isRunningAndReady reports whether the pod is Running and Ready and not
// paused by the initialized annotation.
func isRunningAndReady(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning || isPaused(pod) {
		return false
	}
	c := readyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

// availableIn returns zero if the pod is Running, Ready and has been Ready for
// minReadySeconds at now; otherwise how much longer it must stay Ready (or a
// negative duration if it is not Ready at all).
func availableIn(pod *corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	if !isRunningAndReady(pod) {
		return -1
	}
	if minReadySeconds <= 0 {
		return 0
	}
	c := readyCondition(pod)
	if c.LastTransitionTime.IsZero() {
		return 0
	}
	left := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second).Sub(now)
	if left <= 0 {
		return 0
	}
	return left
}

// newClaim returns the claim of the pet at the ordinal made from tmpl.
func newClaim(set *kennelv1.PetSet, tmpl *corev1.PersistentVolumeClaim, ord int) *corev1.PersistentVolumeClaim {
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ordinal.ClaimName(tmpl.Name, set.Name, ord),
			Namespace:   set.Namespace,
			Labels:      maps.Clone(tmpl.Labels),
			Annotations: maps.Clone(tmpl.Annotations),
		},
		Spec: *tmpl.Spec.DeepCopy(),
	}
	if claim.Labels == nil {
		claim.Labels = map[string]string{}
	}
	if claim.Annotations == nil {
		claim.Annotations = map[string]string{}
	}
	if set.Spec.Selector != nil {
		maps.Copy(claim.Labels, set.Spec.Selector.MatchLabels)
	}
	claim.Labels[PetSetLabel] = set.Name
	return claim
}

// petRevision returns the revision label of the pod.
func petRevision(pod *corev1.Pod) string { return pod.Labels[RevisionLabel] }

// newPet returns the pod for the ordinal: the template plus identity
// (name, hostname, subdomain, labels), storage and a controller reference.
func newPet(set *kennelv1.PetSet, ord int, revision string) *corev1.Pod {
	tmpl := set.Spec.Template.DeepCopy()
	name := ordinal.PetName(set.Name, ord)
	pod := &corev1.Pod{
		ObjectMeta: *tmpl.ObjectMeta.DeepCopy(),
		Spec:       tmpl.Spec,
	}
	pod.Name = name
	pod.GenerateName = ""
	pod.Namespace = set.Namespace
	pod.ResourceVersion = ""
	pod.UID = ""
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)}
	setIdentity(set, pod, ord)
	if revision != "" {
		pod.Labels[RevisionLabel] = revision
	}
	setStorage(set, pod, ord)
	return pod
}

// identity returns the labels that name the pet and its ordinal, as
// key/value pairs: checked on every pet in every pass, without a map.
func identity(set *kennelv1.PetSet, name string, ord int) [4][2]string {
	i := strconv.Itoa(ord)
	return [4][2]string{{PodNameLabel, name}, {PodIndexLabel, i}, {PetSetLabel, set.Name}, {PetIndexLabel, i}}
}

// identityLabels returns the identity labels as a map.
func identityLabels(set *kennelv1.PetSet, name string, ord int) map[string]string {
	out := make(map[string]string, 4)
	for _, kv := range identity(set, name, ord) {
		out[kv[0]] = kv[1]
	}
	return out
}

// setIdentity sets the pet's identity labels, hostname and subdomain.
func setIdentity(set *kennelv1.PetSet, pod *corev1.Pod, ord int) {
	for _, kv := range identity(set, pod.Name, ord) {
		pod.Labels[kv[0]] = kv[1]
	}
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
}

// hasIdentityLabels reports whether the pet carries all its identity labels.
func hasIdentityLabels(set *kennelv1.PetSet, pod *corev1.Pod, ord int) bool {
	for _, kv := range identity(set, pod.Name, ord) {
		if pod.Labels[kv[0]] != kv[1] {
			return false
		}
	}
	return true
}

// setStorage points one volume per claim template at the pet's claim,
// replacing any template volume of the same name.
func setStorage(set *kennelv1.PetSet, pod *corev1.Pod, ord int) {
	templates := claimTemplateNames(set)
	if len(templates) == 0 {
		return
	}
	volumes := slices.DeleteFunc(slices.Clone(pod.Spec.Volumes), func(v corev1.Volume) bool { return slices.Contains(templates, v.Name) })
	for _, name := range templates {
		volumes = append(volumes, corev1.Volume{
			Name: name,
			VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
					ClaimName: ordinal.ClaimName(name, set.Name, ord),
				},
			},
		})
	}
	pod.Spec.Volumes = volumes
}

// partition sorts the set's pets: replicas[i] is the pet on the i-th
// ordinal that must run a pet (petSlots; nil if missing); condemned are
// pets on any other ordinal (outside the range, or reserved), highest
// ordinal first.
func partition(set *kennelv1.PetSet, pets []*corev1.Pod) (replicas []*corev1.Pod, condemned []*corev1.Pod) {
	slots := petSlots(set)
	replicas = make([]*corev1.Pod, len(slots))
	var out []ordinalPet
	for _, pod := range pets {
		ord, ok := petOrdinal(set, pod)
		if !ok {
			continue
		}
		if i, in := slices.BinarySearch(slots, ord); in {
			replicas[i] = pod
		} else {
			out = append(out, ordinalPet{ord, pod})
		}
	}
	return replicas, highestFirst(out)
}

// ordinalPet is a pet with the ordinal its name gives, parsed once.
type ordinalPet struct {
	ord int
	pod *corev1.Pod
}

// highestFirst returns the pets ordered by ordinal, highest first.
func highestFirst(keyed []ordinalPet) []*corev1.Pod {
	if len(keyed) == 0 {
		return nil
	}
	slices.SortStableFunc(keyed, func(a, b ordinalPet) int { return b.ord - a.ord })
	pets := make([]*corev1.Pod, len(keyed))
	for i, k := range keyed {
		pets[i] = k.pod
	}
	return pets
}

// sortDescending orders pets by ordinal, highest first.
func sortDescending(set *kennelv1.PetSet, pets []*corev1.Pod) {
	keyed := make([]ordinalPet, len(pets))
	for i, pod := range pets {
		ord, _ := petOrdinal(set, pod)
		keyed[i] = ordinalPet{ord, pod}
	}
	copy(pets, highestFirst(keyed))
}

// Reserved ordinals.
//
// A reserved ordinal gets no pet, and the other pets keep their ordinals:
// spec.replicas counts the pets actually run, so the set's ordinals extend
// past the reserved ones. With start 0, replicas 3 and ordinal 1 reserved
// the pets are 0, 2 and 3. A pet on a reserved ordinal is condemned like
// one removed by a scale-down; its claims stay (Retain) unless
// whenScaled is Delete.

// reservedOrdinals returns the set's reserved ordinals (spec.reserveOrdinals).
func reservedOrdinals(set *kennelv1.PetSet) map[int]bool {
	if len(set.Spec.ReserveOrdinals) == 0 {
		return nil
	}
	out := make(map[int]bool, len(set.Spec.ReserveOrdinals))
	for _, n := range set.Spec.ReserveOrdinals {
		if n >= 0 {
			out[int(n)] = true
		}
	}
	return out
}

// petSlots returns, in ascending order, the ordinals that must run pets:
// replicas ordinals from start up, skipping reserved ones. Being sorted,
// an ordinal's position among them is found with slices.BinarySearch.
func petSlots(set *kennelv1.PetSet) []int {
	start, n := ordinalRange(set)
	reserved := reservedOrdinals(set)
	slots := make([]int, 0, n)
	for ord := start; len(slots) < n; ord++ {
		if !reserved[ord] {
			slots = append(slots, ord)
		}
	}
	return slots
}
