package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientset "k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	"github.com/kennel-dev/kennel/pkg/ordinal"
)

// BlockedError says the set cannot make progress for a reason the user must
// fix (a claim being deleted, a Pod rejected by admission, a missing Service).
// Reason becomes the reason of the Progressing=False condition.
type BlockedError struct {
	Reason  string
	Message string
	Err     error
}

func (e *BlockedError) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *BlockedError) Unwrap() error { return e.Err }

// PetControl is the narrow object manager through which the ordering logic
// changes the cluster: pets and their claims.
type PetControl interface {
	// CreatePet creates the pet (its claims are EnsureClaims's) and
	// returns the pet as the API server stored it.
	CreatePet(ctx context.Context, set *kennelv1.PetSet, pod *corev1.Pod) (*corev1.Pod, error)
	// DeletePet deletes the pet, only if it still has the same UID.
	DeletePet(ctx context.Context, set *kennelv1.PetSet, pod *corev1.Pod) error
	// EnsureClaims creates any missing claim of the pet with the ordinal.
	EnsureClaims(ctx context.Context, set *kennelv1.PetSet, ord int) error
	// UpdatePetLabels rewrites the pet's labels (identity repair).
	UpdatePetLabels(ctx context.Context, set *kennelv1.PetSet, pod *corev1.Pod) error
	// GetPet reads a pod from the API server, bypassing the cache.
	GetPet(ctx context.Context, namespace, name string) (*corev1.Pod, error)
}

// realPetControl is the PetControl that talks to the API server.
type realPetControl struct {
	client      clientset.Interface
	claimLister corelisters.PersistentVolumeClaimLister
	recorder    record.EventRecorder
	metrics     *Metrics
}

// NewPetControl returns a PetControl that writes with client, reads claims
// from claimLister and records events on the set.
func NewPetControl(client clientset.Interface, claimLister corelisters.PersistentVolumeClaimLister,
	recorder record.EventRecorder, metrics *Metrics) PetControl {
	return &realPetControl{client: client, claimLister: claimLister, recorder: recorder, metrics: metrics}
}

func (c *realPetControl) CreatePet(ctx context.Context, set *kennelv1.PetSet, pod *corev1.Pod) (*corev1.Pod, error) {
	created, err := c.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	switch {
	case err == nil:
		c.metrics.petCreated()
		c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created pet %s", pod.Name)
		return created, nil
	case apierrors.IsAlreadyExists(err):
		// The deterministic name makes a second pod for the ordinal
		// impossible; the cache was behind. The next sync sees the pod.
		return nil, err
	case apierrors.IsForbidden(err) || apierrors.IsInvalid(err):
		c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedCreate, "Could not create pet %s: %v", pod.Name, err)
		return nil, &BlockedError{Reason: ReasonFailedCreate, Message: fmt.Sprintf("Pod %s rejected", pod.Name), Err: err}
	default:
		c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedCreate, "Could not create pet %s: %v", pod.Name, err)
		return nil, err
	}
}

func (c *realPetControl) DeletePet(ctx context.Context, set *kennelv1.PetSet, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, deleteIfSame(pod))
	switch {
	case err == nil:
		c.metrics.petDeleted()
		c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted pet %s", pod.Name)
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		// Already gone, or replaced by a pod with another UID: nothing of
		// ours left to delete. The next sync sees the current state.
		klog.FromContext(ctx).V(2).Info("Pet already gone", "pod", klog.KObj(pod), "err", err)
		return nil
	default:
		c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedDelete, "Could not delete pet %s: %v", pod.Name, err)
		return err
	}
}

func (c *realPetControl) GetPet(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return c.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (c *realPetControl) UpdatePetLabels(ctx context.Context, set *kennelv1.PetSet, pod *corev1.Pod) error {
	// A patch, not an Update: cached pods are partial (TrimForCache). The
	// resourceVersion makes it fail with a conflict if the pod changed.
	meta := map[string]any{"labels": pod.Labels}
	if pod.ResourceVersion != "" {
		meta["resourceVersion"] = pod.ResourceVersion
	}
	patch, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err := tolerate(err, apierrors.IsNotFound, apierrors.IsConflict); err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedUpdate, "Could not repair the identity labels of pet %s: %v", pod.Name, err)
		return err
	}
	return nil
}

// EnsureClaims creates each missing claim of the pet. An existing claim is
// reused whatever its state, except one being deleted: the pet must not
// start on storage that is going away, so that blocks the pet. Claims are
// taken in the order of the templates. A pending pet's claims are checked
// on every pass: a claim is looked up by name and built from its template
// only if it is missing.
func (c *realPetControl) EnsureClaims(ctx context.Context, set *kennelv1.PetSet, ord int) error {
	var errs []error
	for i := range set.Spec.VolumeClaimTemplates {
		tmpl := &set.Spec.VolumeClaimTemplates[i]
		name := ordinal.ClaimName(tmpl.Name, set.Name, ord)
		existing, err := c.claimLister.PersistentVolumeClaims(set.Namespace).Get(name)
		if err == nil && hasPodOwner(existing) {
			// A claim with a reference to a pet (whenScaled: Delete) is the
			// garbage collector's to delete once that pet is gone, and the
			// cache may not show the deletion yet: ask the API server
			// before a pet is made on it.
			existing, err = c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Get(ctx, name, metav1.GetOptions{})
		}
		switch {
		case err == nil:
			if existing.DeletionTimestamp != nil {
				errs = append(errs, c.claimTerminating(set, name))
			}
			continue
		case !apierrors.IsNotFound(err):
			errs = append(errs, err)
			continue
		}
		claim := newClaim(set, tmpl, ord)
		claim.OwnerReferences = claimOwnerReferences(set)
		klog.FromContext(ctx).Info("Creating claim", "claim", klog.KObj(claim), "pet", klog.KRef(set.Namespace, ordinal.PetName(set.Name, ord)))
		_, err = c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Create(ctx, claim, metav1.CreateOptions{})
		switch {
		case err == nil:
			c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created claim %s", claim.Name)
		case apierrors.IsAlreadyExists(err):
			// The cache was behind; read the claim itself to learn whether it is going away.
			live, getErr := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Get(ctx, claim.Name, metav1.GetOptions{})
			if getErr != nil {
				errs = append(errs, getErr)
			} else if live.DeletionTimestamp != nil {
				errs = append(errs, c.claimTerminating(set, claim.Name))
			}
		default:
			c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedCreateClaim, "Could not create claim %s: %v", claim.Name, err)
			errs = append(errs, &BlockedError{Reason: ReasonFailedCreateClaim, Message: fmt.Sprintf("cannot create Claim %s", claim.Name), Err: err})
		}
	}
	return errors.Join(errs...)
}

func (c *realPetControl) claimTerminating(set *kennelv1.PetSet, name string) error {
	c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonClaimTerminating, "Claim %s is being deleted; its pet waits until it is gone", name)
	return &BlockedError{Reason: ReasonClaimTerminating, Message: fmt.Sprintf("Claim %s is being deleted", name)}
}

// claimOwnerReferences returns the owner references a new claim gets: a
// controller reference to the set under whenDeleted: Delete (so the claim
// goes with the set), none otherwise. The retention logic (retention.go)
// keeps existing claims' references in line with the policy.
func claimOwnerReferences(set *kennelv1.PetSet) []metav1.OwnerReference {
	if whenDeleted, _ := retentionPolicy(set); whenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		return []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)}
	}
	return nil
}

// ClaimControl changes existing claims of a set: their owner references
// (retention) and their storage requests (resize), reading StorageClasses
// to know whether a claim may grow. Classes are read only when a claim
// needs expanding, so the controller does not watch them.
type ClaimControl interface {
	// SetClaimOwners writes the claim's owner references; it fails with a
	// conflict if the claim changed since it was read.
	SetClaimOwners(ctx context.Context, set *kennelv1.PetSet, claim *corev1.PersistentVolumeClaim, owners []metav1.OwnerReference) error
	// ExpandClaim raises the claim's storage request to the quantity.
	ExpandClaim(ctx context.Context, set *kennelv1.PetSet, claim *corev1.PersistentVolumeClaim, to resource.Quantity) error
	// GetStorageClass reads a StorageClass from the API server.
	GetStorageClass(ctx context.Context, name string) (*storagev1.StorageClass, error)
}

type realClaimControl struct{ client clientset.Interface }

// NewClaimControl returns a ClaimControl writing with client.
func NewClaimControl(client clientset.Interface) ClaimControl {
	return &realClaimControl{client: client}
}

func (c *realClaimControl) SetClaimOwners(ctx context.Context, _ *kennelv1.PetSet, claim *corev1.PersistentVolumeClaim, owners []metav1.OwnerReference) error {
	cp := claim.DeepCopy()
	cp.OwnerReferences = owners
	_, err := c.client.CoreV1().PersistentVolumeClaims(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	return tolerate(err, apierrors.IsNotFound)
}

func (c *realClaimControl) ExpandClaim(ctx context.Context, _ *kennelv1.PetSet, claim *corev1.PersistentVolumeClaim, to resource.Quantity) error {
	patch := fmt.Appendf(nil, `{"spec":{"resources":{"requests":{"storage":%q}}}}`, to.String())
	_, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Patch(ctx, claim.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	return tolerate(err, apierrors.IsNotFound)
}

// tolerate returns nil when err is of one of the kinds a write expects (the
// object is gone, was replaced, …), else err.
func tolerate(err error, expected ...func(error) bool) error {
	for _, is := range expected {
		if is(err) {
			return nil
		}
	}
	return err
}

func (c *realClaimControl) GetStorageClass(ctx context.Context, name string) (*storagev1.StorageClass, error) {
	return c.client.StorageV1().StorageClasses().Get(ctx, name, metav1.GetOptions{})
}

// hasPodOwner reports whether the claim has an owner reference to a pod.
func hasPodOwner(claim *corev1.PersistentVolumeClaim) bool {
	return slices.ContainsFunc(claim.OwnerReferences, func(r metav1.OwnerReference) bool {
		return r.Kind == "Pod" && r.APIVersion == "v1"
	})
}

// createPet creates the pet at the position, at the revision its position
// runs, after its missing claims unless claimsMade (the pass made them
// already), recording the create as expected until the cache shows it. why
// is logged.
func (c *defaultSetControl) createPet(ctx context.Context, set *kennelv1.PetSet, pos, ord int, revs *revisions, why string, claimsMade bool) error {
	if !claimsMade {
		if err := c.pets.EnsureClaims(ctx, set, ord); err != nil {
			return err
		}
	}
	from, revision := revs.forPosition(set, pos)
	pod := newPet(from, ord, revision)
	klog.FromContext(ctx).Info("Creating pet", "pet", klog.KObj(pod), "revision", revision, "reason", why)
	key := setKey(set)
	c.exp.ExpectCreate(key, pod.Name)
	created, err := c.pets.CreatePet(ctx, set, pod)
	if err != nil {
		c.exp.CreationObserved(key, pod.Name)
		if apierrors.IsAlreadyExists(err) {
			return c.nameTaken(ctx, set, pod.Name, err)
		}
		return err
	}
	c.exp.Created(key, created)
	return nil
}

// nameTaken explains an AlreadyExists on a pet's create. If the pod is the
// set's own (the cache was behind), the next pass sees it. If another pod
// holds the name (an orphan the set may not adopt, or a pod controlled by
// something else), the set is blocked on it and retried with backoff.
func (c *defaultSetControl) nameTaken(ctx context.Context, set *kennelv1.PetSet, name string, err error) error {
	live, getErr := c.pets.GetPet(ctx, set.Namespace, name)
	if getErr != nil || live == nil {
		return nil
	}
	if ref := metav1.GetControllerOf(live); ref != nil && ref.UID == set.UID {
		return nil
	}
	c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonPetNameTaken, "Pod %s already exists and this PetSet does not control it; delete it, or make it adoptable (labels matching the selector, no controller)", name)
	return &BlockedError{Reason: ReasonPetNameTaken, Message: fmt.Sprintf("Pod %s exists and is not controlled by this PetSet", name), Err: err}
}

// deletePet deletes the pet, recording the delete as expected until the
// cache shows it. why is logged.
func (c *defaultSetControl) deletePet(ctx context.Context, set *kennelv1.PetSet, pod *corev1.Pod, why string) error {
	klog.FromContext(ctx).Info("Deleting pet", "pet", klog.KObj(pod), "revision", petRevision(pod), "reason", why)
	key := setKey(set)
	c.exp.ExpectDelete(key, pod.Name, pod.UID)
	if err := c.pets.DeletePet(ctx, set, pod); err != nil {
		c.exp.DeletionObserved(key, pod.UID)
		return err
	}
	return nil
}

// repair fixes what can be fixed on a live pet: identity labels (pets
// adopted from elsewhere may lack them) and, while it is not yet scheduled,
// missing claims.
func (c *defaultSetControl) repair(ctx context.Context, set *kennelv1.PetSet, pod *corev1.Pod, ord int) error {
	if !hasIdentityLabels(set, pod, ord) {
		cp := pod.DeepCopy()
		if cp.Labels == nil {
			cp.Labels = map[string]string{}
		}
		maps.Copy(cp.Labels, identityLabels(set, cp.Name, ord))
		klog.FromContext(ctx).Info("Repairing pet's identity labels", "pet", klog.KObj(pod))
		if err := c.pets.UpdatePetLabels(ctx, set, cp); err != nil {
			return err
		}
	}
	if pod.Status.Phase == corev1.PodPending && pod.Spec.NodeName == "" && len(set.Spec.VolumeClaimTemplates) > 0 {
		return c.pets.EnsureClaims(ctx, set, ord)
	}
	return nil
}
