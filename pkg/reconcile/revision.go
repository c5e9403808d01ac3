package reconcile

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

// Revisions.
//
// Every distinct pod template a set has run is kept as an apps/v1
// ControllerRevision named <set>-<hash>, controlled by the set. Its data is
// the strategic merge patch {"spec":{"template":{...,"$patch":"replace"}}},
// the format the upstream StatefulSet controller writes, so revisions left
// behind by an orphan-deleted StatefulSet are understood (and adopted) as
// they are. The hash is FNV-32a over the data followed by the collision
// count, encoded with rand.SafeEncodeString; it is also the value of the
// controller-revision-hash label on the revision. Pets carry the full
// revision name in their controller-revision-hash label.

// defaultRevisionHistoryLimit is the number of unused revisions kept when
// spec.revisionHistoryLimit is not set.
const defaultRevisionHistoryLimit = 10

// revisionData returns the revision data for a pod template.
func revisionData(template *corev1.PodTemplateSpec) ([]byte, error) {
	raw, err := json.Marshal(template)
	if err != nil {
		return nil, err
	}
	var tmpl map[string]any
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		return nil, err
	}
	tmpl["$patch"] = "replace"
	// Maps marshal with sorted keys: the same template always gives the
	// same bytes, hence the same hash.
	return json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
}

// revisionTemplate decodes the pod template held by a revision.
func revisionTemplate(rev *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	raw := rev.Data.Raw
	if raw == nil && rev.Data.Object != nil {
		var err error
		if raw, err = json.Marshal(rev.Data.Object); err != nil {
			return nil, err
		}
	}
	var patch struct {
		Spec struct {
			Template *corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &patch); err != nil {
		return nil, fmt.Errorf("revision %s: %w", rev.Name, err)
	}
	if patch.Spec.Template == nil {
		return nil, fmt.Errorf("revision %s holds no spec.template", rev.Name)
	}
	return patch.Spec.Template, nil
}

// revisionHash hashes revision data with the collision count.
func revisionHash(data []byte, collisionCount int32) string {
	h := fnv.New32a()
	_, _ = h.Write(data)
	if collisionCount != 0 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(collisionCount))
		_, _ = h.Write(b[:])
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// newRevision returns the revision for the set's current template, with the
// given revision number and collision count.
func newRevision(set *kennelv1.PetSet, number int64, collisionCount int32) (*appsv1.ControllerRevision, error) {
	data, err := revisionData(&set.Spec.Template)
	if err != nil {
		return nil, err
	}
	hash := revisionHash(data, collisionCount)
	lbls := map[string]string{}
	for k, v := range set.Spec.Template.Labels {
		lbls[k] = v
	}
	lbls[appsv1.ControllerRevisionHashLabelKey] = hash
	lbls[PetSetLabel] = set.Name
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:      set.Name + "-" + hash,
			Namespace: set.Namespace,
			Labels:    lbls,
			// The set's annotations, as the upstream StatefulSet controller
			// copies them: kubernetes.io/change-cause is what rollout
			// history shows.
			Annotations:     maps.Clone(set.Annotations),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: number,
	}, nil
}

// equalRevisions reports whether two revisions hold the same pod template.
// Byte-equal data is equal; otherwise the templates are compared after
// filling in the defaults the API server gives pods, so a revision written
// by a StatefulSet (whose template was defaulted) equals a PetSet's
// template written without those defaults.
func equalRevisions(a, b *appsv1.ControllerRevision) bool {
	if a.Data.Raw != nil && bytes.Equal(a.Data.Raw, b.Data.Raw) {
		return true
	}
	ta, err := revisionTemplate(a)
	if err != nil {
		return false
	}
	tb, err := revisionTemplate(b)
	if err != nil {
		return false
	}
	return equalTemplates(ta, tb)
}

// equalTemplates compares two pod templates after defaulting both.
func equalTemplates(a, b *corev1.PodTemplateSpec) bool {
	return equality.Semantic.DeepEqual(normalizeTemplate(a), normalizeTemplate(b))
}

// normalizeTemplate returns a copy of the template with the pod defaults
// the API server applies (restart and DNS policy, scheduler, grace period,
// termination message, image pull policy, port protocol, empty security
// context) filled in, and empty maps and slices made nil.
func normalizeTemplate(in *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	t := in.DeepCopy()
	if len(t.Labels) == 0 {
		t.Labels = nil
	}
	if len(t.Annotations) == 0 {
		t.Annotations = nil
	}
	t.CreationTimestamp = metav1.Time{}
	s := &t.Spec
	if s.RestartPolicy == "" {
		s.RestartPolicy = corev1.RestartPolicyAlways
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = corev1.DNSClusterFirst
	}
	if s.SchedulerName == "" {
		s.SchedulerName = corev1.DefaultSchedulerName
	}
	if s.TerminationGracePeriodSeconds == nil {
		g := int64(corev1.DefaultTerminationGracePeriodSeconds)
		s.TerminationGracePeriodSeconds = &g
	}
	if s.SecurityContext == nil {
		s.SecurityContext = &corev1.PodSecurityContext{}
	}
	if s.EnableServiceLinks == nil {
		e := corev1.DefaultEnableServiceLinks
		s.EnableServiceLinks = &e
	}
	defaultContainers := func(cs []corev1.Container) {
		for i := range cs {
			c := &cs[i]
			if c.TerminationMessagePath == "" {
				c.TerminationMessagePath = corev1.TerminationMessagePathDefault
			}
			if c.TerminationMessagePolicy == "" {
				c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
			}
			if c.ImagePullPolicy == "" {
				c.ImagePullPolicy = defaultPullPolicy(c.Image)
			}
			for j := range c.Ports {
				if c.Ports[j].Protocol == "" {
					c.Ports[j].Protocol = corev1.ProtocolTCP
				}
			}
		}
	}
	defaultContainers(s.InitContainers)
	defaultContainers(s.Containers)
	for i := range s.Volumes {
		v := &s.Volumes[i]
		if v.EmptyDir != nil && v.EmptyDir.SizeLimit == nil && v.EmptyDir.Medium == "" {
			v.EmptyDir = &corev1.EmptyDirVolumeSource{}
		}
	}
	return t
}

// defaultPullPolicy is the API server's default image pull policy: Always for
// an image without a tag or with tag latest, IfNotPresent otherwise.
func defaultPullPolicy(image string) corev1.PullPolicy {
	if strings.Contains(image, "@") {
		return corev1.PullIfNotPresent
	}
	name := image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	i := strings.LastIndex(name, ":")
	if i < 0 || name[i+1:] == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// sortRevisions orders revisions by revision number, then name.
func sortRevisions(revs []*appsv1.ControllerRevision) {
	sort.SliceStable(revs, func(i, j int) bool {
		if revs[i].Revision != revs[j].Revision {
			return revs[i].Revision < revs[j].Revision
		}
		return revs[i].Name < revs[j].Name
	})
}

// nextRevisionNumber is one more than the highest revision number.
func nextRevisionNumber(revs []*appsv1.ControllerRevision) int64 {
	var n int64
	for _, r := range revs {
		if r.Revision > n {
			n = r.Revision
		}
	}
	return n + 1
}

// planRevisions decides the set's current and update revisions from the
// revisions it owns. An existing revision equal to the template is reused
// (renumbered if it is not the newest, so history order follows use); a new
// revision whose name is taken by a revision with other data gets a
// higher collision count until its name is free.
func planRevisions(set *kennelv1.PetSet, owned []*appsv1.ControllerRevision) (revisions, error) {
	revs := append([]*appsv1.ControllerRevision(nil), owned...)
	sortRevisions(revs)
	var plan revisions
	if set.Status.CollisionCount != nil {
		plan.collisionCount = *set.Status.CollisionCount
	}
	next := nextRevisionNumber(revs)
	candidate, err := newRevision(set, next, plan.collisionCount)
	if err != nil {
		return plan, err
	}
	var equal *appsv1.ControllerRevision
	for _, r := range revs {
		if equalRevisions(r, candidate) {
			equal = r // the newest equal one wins
		}
	}
	switch {
	case equal != nil && equal == revs[len(revs)-1]:
		plan.update = equal
	case equal != nil:
		plan.update = equal.DeepCopy()
		plan.update.Revision = next
		plan.renumber = true
	default:
		byName := make(map[string]*appsv1.ControllerRevision, len(revs))
		for _, r := range revs {
			byName[r.Name] = r
		}
		for byName[candidate.Name] != nil {
			plan.collisionCount++
			if candidate, err = newRevision(set, next, plan.collisionCount); err != nil {
				return plan, err
			}
		}
		plan.update = candidate
		plan.create = true
	}
	plan.current = plan.update
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			plan.current = r
		}
	}
	if plan.renumber && plan.current.Name == plan.update.Name {
		plan.current = plan.update
	}
	return plan, nil
}

// revisionsToTrim returns the revisions to delete so that at most limit
// revisions remain besides those in use: the current and update revisions
// and every revision a live pet runs. The oldest go first.
func revisionsToTrim(set *kennelv1.PetSet, owned []*appsv1.ControllerRevision, current, update string, pets []*corev1.Pod) []*appsv1.ControllerRevision {
	limit := defaultRevisionHistoryLimit
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	live := map[string]bool{current: true, update: true}
	for _, p := range pets {
		if rev := petRevision(p); rev != "" {
			live[rev] = true
		}
	}
	var unused []*appsv1.ControllerRevision
	for _, r := range owned {
		if !live[r.Name] {
			unused = append(unused, r)
		}
	}
	sortRevisions(unused)
	if len(unused) <= limit {
		return nil
	}
	return unused[:len(unused)-limit]
}

// setAtRevision returns a copy of the set whose template is the one held by
// the revision, for creating pets at that revision.
func setAtRevision(set *kennelv1.PetSet, rev *appsv1.ControllerRevision) (*kennelv1.PetSet, error) {
	tmpl, err := revisionTemplate(rev)
	if err != nil {
		return nil, err
	}
	cp := set.DeepCopy()
	cp.Spec.Template = *tmpl
	return cp, nil
}
