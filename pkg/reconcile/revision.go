package reconcile

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	clientset "k8s.io/client-go/kubernetes"

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
			Name:            set.Name + "-" + hash,
			Namespace:       set.Namespace,
			Labels:          lbls,
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

// revisionPlan is what syncing the set's revisions must do.
type revisionPlan struct {
	// Update is the revision of the set's current template. When Create is
	// true it does not exist yet and must be created; when Renumber is true
	// it exists and its Revision must be raised to Update.Revision (a
	// rollback onto an earlier template).
	Update   *appsv1.ControllerRevision
	Create   bool
	Renumber bool
	// Current is the revision pets below the partition run: the one named
	// by status.currentRevision, else Update.
	Current *appsv1.ControllerRevision
	// CollisionCount is the collision count to record in status.
	CollisionCount int32
}

// planRevisions decides the set's current and update revisions from the
// revisions it owns. An existing revision equal to the template is reused
// (renumbered if it is not the newest, so history order follows use); a new
// revision whose name is taken by a revision with other data gets a
// higher collision count until its name is free.
func planRevisions(set *kennelv1.PetSet, owned []*appsv1.ControllerRevision) (revisionPlan, error) {
	revs := append([]*appsv1.ControllerRevision(nil), owned...)
	sortRevisions(revs)
	var plan revisionPlan
	if set.Status.CollisionCount != nil {
		plan.CollisionCount = *set.Status.CollisionCount
	}
	next := nextRevisionNumber(revs)
	candidate, err := newRevision(set, next, plan.CollisionCount)
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
		plan.Update = equal
	case equal != nil:
		plan.Update = equal.DeepCopy()
		plan.Update.Revision = next
		plan.Renumber = true
	default:
		byName := make(map[string]*appsv1.ControllerRevision, len(revs))
		for _, r := range revs {
			byName[r.Name] = r
		}
		for byName[candidate.Name] != nil {
			plan.CollisionCount++
			if candidate, err = newRevision(set, next, plan.CollisionCount); err != nil {
				return plan, err
			}
		}
		plan.Update = candidate
		plan.Create = true
	}
	plan.Current = plan.Update
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			plan.Current = r
		}
	}
	if plan.Renumber && plan.Current.Name == plan.Update.Name {
		plan.Current = plan.Update
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

// revisionClaims sorts revisions the way pods are claimed: owned holds the
// revisions the set controls and keeps (plus orphans to adopt, listed in
// adopt too); release lists controlled revisions whose labels no longer
// match the selector. Revisions controlled by anything else are ignored.
// Orphans are adopted only while the set is not being deleted.
func revisionClaims(set *kennelv1.PetSet, selector labels.Selector, revs []*appsv1.ControllerRevision) (owned, adopt, release []*appsv1.ControllerRevision) {
	for _, r := range revs {
		matches := selector.Matches(labels.Set(r.Labels))
		ref := metav1.GetControllerOf(r)
		switch {
		case ref != nil && ref.UID == set.UID:
			if matches || set.DeletionTimestamp != nil {
				owned = append(owned, r)
			} else {
				release = append(release, r)
			}
		case ref != nil:
		case matches && set.DeletionTimestamp == nil && r.DeletionTimestamp == nil:
			adopt = append(adopt, r)
			owned = append(owned, r)
		}
	}
	return owned, adopt, release
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

// RevisionControl writes a set's ControllerRevisions.
type RevisionControl interface {
	// CreateRevision creates the revision. If one of the same name exists
	// it returns that one and an AlreadyExists error.
	CreateRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error)
	// RenumberRevision writes rev.Revision to the existing revision.
	RenumberRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error)
	// DeleteRevision deletes the revision.
	DeleteRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) error
	// AdoptRevision makes the set the revision's controller.
	AdoptRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error)
	// ReleaseRevision removes the set's reference from the revision.
	ReleaseRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) error
}

// revisionResult is the outcome of syncing revisions.
type revisionResult struct {
	Current, Update *appsv1.ControllerRevision
	CollisionCount  int32
}

// syncRevisions makes the revision of the set's template exist with the
// highest number and returns the current and update revisions. A create
// that finds the name taken by other data raises the collision count and
// fails; the caller records the count in status and retries.
func syncRevisions(ctx context.Context, rc RevisionControl, set *kennelv1.PetSet, owned []*appsv1.ControllerRevision) (revisionResult, error) {
	plan, err := planRevisions(set, owned)
	res := revisionResult{Current: plan.Current, Update: plan.Update, CollisionCount: plan.CollisionCount}
	if err != nil {
		return res, err
	}
	switch {
	case plan.Create:
		created, err := rc.CreateRevision(ctx, set, plan.Update)
		switch {
		case err == nil:
			res.Update = created
		case apierrors.IsAlreadyExists(err) && created != nil && equalRevisions(created, plan.Update):
			// The cache had not seen it yet.
			res.Update = created
		case apierrors.IsAlreadyExists(err):
			res.CollisionCount++
			return res, fmt.Errorf("revision name %s is taken by other data; collision count raised to %d", plan.Update.Name, res.CollisionCount)
		default:
			return res, err
		}
	case plan.Renumber:
		updated, err := rc.RenumberRevision(ctx, set, plan.Update)
		if err != nil {
			return res, err
		}
		res.Update = updated
	}
	if res.Current.Name == res.Update.Name {
		res.Current = res.Update
	}
	return res, nil
}

// realRevisionControl is the RevisionControl that talks to the API server.
type realRevisionControl struct {
	client clientset.Interface
}

// NewRevisionControl returns a RevisionControl writing with client.
func NewRevisionControl(client clientset.Interface) RevisionControl {
	return &realRevisionControl{client: client}
}

func (c *realRevisionControl) CreateRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	created, err := c.client.AppsV1().ControllerRevisions(set.Namespace).Create(ctx, rev, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		live, getErr := c.client.AppsV1().ControllerRevisions(set.Namespace).Get(ctx, rev.Name, metav1.GetOptions{})
		if getErr != nil {
			return nil, errors.Join(err, getErr)
		}
		return live, err
	}
	return created, err
}

func (c *realRevisionControl) RenumberRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	patch := fmt.Appendf(nil, `{"revision":%d}`, rev.Revision)
	return c.client.AppsV1().ControllerRevisions(set.Namespace).Patch(ctx, rev.Name, types.MergePatchType, patch, metav1.PatchOptions{})
}

func (c *realRevisionControl) DeleteRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) error {
	uid := rev.UID
	opts := metav1.DeleteOptions{}
	if uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err := c.client.AppsV1().ControllerRevisions(set.Namespace).Delete(ctx, rev.Name, opts)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

func (c *realRevisionControl) AdoptRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{
			"ownerReferences": []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
			"uid":             rev.UID,
		},
	})
	if err != nil {
		return nil, err
	}
	return c.client.AppsV1().ControllerRevisions(set.Namespace).Patch(ctx, rev.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
}

func (c *realRevisionControl) ReleaseRevision(ctx context.Context, set *kennelv1.PetSet, rev *appsv1.ControllerRevision) error {
	patch := fmt.Appendf(nil, `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":%q}],"uid":%q}}`, set.UID, rev.UID)
	_, err := c.client.AppsV1().ControllerRevisions(set.Namespace).Patch(ctx, rev.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
		return nil
	}
	return err
}
