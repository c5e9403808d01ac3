package reconcile

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientset "k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

// Event reasons the controller records.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedCreate     = "FailedCreate"
	ReasonFailedDelete     = "FailedDelete"
	ReasonRecreatePet      = "RecreatingFailedPet"
	ReasonClaimTerminating = "ClaimTerminating"
	ReasonFailedClaim      = "FailedCreateClaim"
	ReasonServiceNotFound  = "ServiceNotFound"
	ReasonPetNotReady      = "PetNotReady"
	ReasonPaused           = "Paused"
	ReasonInvalidSpec      = "InvalidSpec"
	ReasonFailedUpdate     = "FailedUpdate"
	ReasonPetNameTaken     = "PetNameTaken"
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
	// CreatePet creates the pet's missing claims, then the pet.
	CreatePet(ctx context.Context, set *kennelv1.PetSet, pod *corev1.Pod) error
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

func (c *realPetControl) CreatePet(ctx context.Context, set *kennelv1.PetSet, pod *corev1.Pod) error {
	ord, ok := petOrdinal(set, pod)
	if !ok {
		return fmt.Errorf("pod %s is not a pet of %s", pod.Name, set.Name)
	}
	if err := c.EnsureClaims(ctx, set, ord); err != nil {
		return err
	}
	_, err := c.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	switch {
	case err == nil:
		c.metrics.petCreated()
		c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonSuccessfulCreate, "create Pod %s in PetSet %s successful", pod.Name, set.Name)
		return nil
	case apierrors.IsAlreadyExists(err):
		// The deterministic name makes a second pod for the ordinal
		// impossible; the cache was behind. The next sync sees the pod.
		return err
	case apierrors.IsForbidden(err) || apierrors.IsInvalid(err):
		c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedCreate, "create Pod %s in PetSet %s failed: %v", pod.Name, set.Name, err)
		return &BlockedError{Reason: ReasonFailedCreate, Message: fmt.Sprintf("Pod %s rejected", pod.Name), Err: err}
	default:
		c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedCreate, "create Pod %s in PetSet %s failed: %v", pod.Name, set.Name, err)
		return err
	}
}

func (c *realPetControl) DeletePet(ctx context.Context, set *kennelv1.PetSet, pod *corev1.Pod) error {
	uid := pod.UID
	opts := metav1.DeleteOptions{}
	if uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, opts)
	switch {
	case err == nil:
		c.metrics.petDeleted()
		c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonSuccessfulDelete, "delete Pod %s in PetSet %s successful", pod.Name, set.Name)
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		// Already gone, or replaced by a pod with another UID: nothing of
		// ours left to delete. The next sync sees the current state.
		klog.FromContext(ctx).V(2).Info("Pet already gone", "pod", klog.KObj(pod), "err", err)
		return nil
	default:
		c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedDelete, "delete Pod %s in PetSet %s failed: %v", pod.Name, set.Name, err)
		return err
	}
}

func (c *realPetControl) GetPet(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return c.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (c *realPetControl) UpdatePetLabels(ctx context.Context, set *kennelv1.PetSet, pod *corev1.Pod) error {
	_, err := c.client.CoreV1().Pods(pod.Namespace).Update(ctx, pod, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedUpdate, "update Pod %s in PetSet %s failed: %v", pod.Name, set.Name, err)
		return err
	}
	return nil
}

// EnsureClaims creates each missing claim of the pet. An existing claim is
// reused whatever its state, except one being deleted: the pet must not
// start on storage that is going away, so that blocks the pet.
func (c *realPetControl) EnsureClaims(ctx context.Context, set *kennelv1.PetSet, ord int) error {
	var errs []error
	for _, claim := range sortedClaims(newClaims(set, ord)) {
		existing, err := c.claimLister.PersistentVolumeClaims(claim.Namespace).Get(claim.Name)
		switch {
		case err == nil:
			if existing.DeletionTimestamp != nil {
				errs = append(errs, c.claimTerminating(set, claim.Name))
			}
			continue
		case !apierrors.IsNotFound(err):
			errs = append(errs, err)
			continue
		}
		claim.OwnerReferences = claimOwnerReferences(set)
		_, err = c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Create(ctx, claim, metav1.CreateOptions{})
		switch {
		case err == nil:
			c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonSuccessfulCreate, "create Claim %s for PetSet %s successful", claim.Name, set.Name)
		case apierrors.IsAlreadyExists(err):
			// The cache was behind; read the claim itself to learn whether it is going away.
			live, getErr := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Get(ctx, claim.Name, metav1.GetOptions{})
			if getErr != nil {
				errs = append(errs, getErr)
			} else if live.DeletionTimestamp != nil {
				errs = append(errs, c.claimTerminating(set, claim.Name))
			}
		default:
			c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedClaim, "create Claim %s for PetSet %s failed: %v", claim.Name, set.Name, err)
			errs = append(errs, &BlockedError{Reason: ReasonFailedClaim, Message: fmt.Sprintf("cannot create Claim %s", claim.Name), Err: err})
		}
	}
	return joinErrors(errs)
}

func (c *realPetControl) claimTerminating(set *kennelv1.PetSet, name string) error {
	c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonClaimTerminating, "Claim %s for PetSet %s is being deleted; waiting before creating its pet", name, set.Name)
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

// sortedClaims returns the claims ordered by name, for deterministic call order.
func sortedClaims(m map[string]*corev1.PersistentVolumeClaim) []*corev1.PersistentVolumeClaim {
	out := make([]*corev1.PersistentVolumeClaim, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Name < out[j-1].Name; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// joinErrors returns nil, the single error, or a joined error; a
// BlockedError among them stays reachable with errors.As.
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}
