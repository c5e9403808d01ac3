package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	clientset "k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	versioned "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
	kennelinformers "github.com/kennel-dev/kennel/pkg/generated/informers/externalversions/kennel/v1"
	kennellisters "github.com/kennel-dev/kennel/pkg/generated/listers/kennel/v1"
)

// QueueName names the controller's workqueue in metrics.
const QueueName = "petset"

// Controller watches PetSets, their pets, claims and governing Services and
// runs the ordering logic for each set whose state changed.
type Controller struct {
	kennelClient versioned.Interface
	kubeClient   clientset.Interface
	control      SetControl
	exp          *expectations
	pace         *pacer
	backlog      *claimBacklog
	clock        Clock

	setLister     kennellisters.PetSetLister
	podIndex      cache.Indexer // with Indexers (ownership.go)
	claimLister   corelisters.PersistentVolumeClaimLister
	serviceLister corelisters.ServiceLister
	synced        []cache.InformerSynced

	queue    workqueue.TypedRateLimitingInterface[cache.ObjectName]
	recorder record.EventRecorder
	metrics  *Metrics
}

// Options are the optional dependencies of a Controller.
type Options struct {
	// Clock defaults to the wall clock.
	Clock Clock
	// Metrics may be nil.
	Metrics *Metrics
	// RateLimiter defaults to an exponential per-item backoff from 50ms to 5 minutes.
	RateLimiter workqueue.TypedRateLimiter[cache.ObjectName]
}

// DefaultRateLimiter is the workqueue rate limiter used unless one is given.
func DefaultRateLimiter() workqueue.TypedRateLimiter[cache.ObjectName] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](50*time.Millisecond, 5*time.Minute)
}

// NewController wires the controller to its informers. recorder records
// events on PetSets; it must know the kennel.dev/v1 types.
func NewController(ctx context.Context, kubeClient clientset.Interface, kennelClient versioned.Interface,
	setInformer kennelinformers.PetSetInformer, podInformer coreinformers.PodInformer,
	claimInformer coreinformers.PersistentVolumeClaimInformer, serviceInformer coreinformers.ServiceInformer,
	revisionInformer appsinformers.ControllerRevisionInformer,
	recorder record.EventRecorder, opts Options) (*Controller, error) {
	logger := klog.FromContext(ctx)
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	if opts.RateLimiter == nil {
		opts.RateLimiter = DefaultRateLimiter()
	}
	for _, inf := range []cache.SharedIndexInformer{podInformer.Informer(), claimInformer.Informer(), revisionInformer.Informer()} {
		if err := inf.AddIndexers(Indexers()); err != nil {
			return nil, fmt.Errorf("adding the controller's indexes: %w", err)
		}
	}
	c := &Controller{
		kennelClient:  kennelClient,
		kubeClient:    kubeClient,
		exp:           newExpectations(opts.Clock),
		pace:          newPacer(opts.Clock),
		backlog:       &claimBacklog{},
		clock:         opts.Clock,
		setLister:     setInformer.Lister(),
		podIndex:      podInformer.Informer().GetIndexer(),
		claimLister:   claimInformer.Lister(),
		serviceLister: serviceInformer.Lister(),
		synced: []cache.InformerSynced{
			setInformer.Informer().HasSynced, podInformer.Informer().HasSynced,
			claimInformer.Informer().HasSynced, serviceInformer.Informer().HasSynced,
			revisionInformer.Informer().HasSynced,
		},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(opts.RateLimiter,
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: QueueName}),
		recorder: recorder,
		metrics:  opts.Metrics,
	}
	c.control = newSetControl(deps{
		pets:          NewPetControl(kubeClient, c.claimLister, recorder, opts.Metrics),
		claims:        NewClaimControl(kubeClient),
		revisions:     NewRevisionControl(kubeClient),
		status:        NewStatusUpdater(kennelClient),
		finalizers:    NewFinalizerControl(kennelClient),
		services:      c.serviceLister,
		claimIndex:    claimInformer.Informer().GetIndexer(),
		revisionIndex: revisionInformer.Informer().GetIndexer(),
		exp:           c.exp,
		revWrites:     newRevisionWrites(),
		clock:         opts.Clock,
		recorder:      recorder,
		holdAhead:     func() bool { return c.queue.Len() > 0 || c.backlog.busy() },
	})
	if err := c.addHandlers(logger, setInformer, podInformer, claimInformer, serviceInformer, revisionInformer); err != nil {
		return nil, err
	}
	return c, nil
}

// addHandlers routes each informer's events to the sets they concern.
func (c *Controller) addHandlers(logger klog.Logger, setInformer kennelinformers.PetSetInformer, podInformer coreinformers.PodInformer,
	claimInformer coreinformers.PersistentVolumeClaimInformer, serviceInformer coreinformers.ServiceInformer,
	revisionInformer appsinformers.ControllerRevisionInformer) error {

	handlers := []struct {
		informer cache.SharedIndexInformer
		h        cache.ResourceEventHandlerFuncs
	}{
		{setInformer.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueue,
			UpdateFunc: c.updateSet,
			DeleteFunc: c.deleteSet,
		}},
		{podInformer.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.deletePod,
		}},
		{claimInformer.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.claimAdded, UpdateFunc: c.claimUpdated, DeleteFunc: c.claimDeleted,
		}},
		{revisionInformer.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.revisionChanged, UpdateFunc: func(_, obj any) { c.revisionChanged(obj) }, DeleteFunc: c.revisionChanged,
		}},
		{serviceInformer.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.serviceChanged, UpdateFunc: func(_, obj any) { c.serviceChanged(obj) }, DeleteFunc: c.serviceChanged,
		}},
	}
	for _, h := range handlers {
		if _, err := h.informer.AddEventHandlerWithOptions(h.h, cache.HandlerOptions{Logger: &logger}); err != nil {
			return fmt.Errorf("adding event handler: %w", err)
		}
	}
	return nil
}

// HasSynced reports whether every informer cache has synced.
func (c *Controller) HasSynced() bool {
	for _, s := range c.synced {
		if !s() {
			return false
		}
	}
	return true
}

// Run waits for the caches, then runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting PetSet controller", "workers", workers)
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
		c.queue.ShutDown()
		return fmt.Errorf("caches did not sync")
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { wait.UntilWithContext(ctx, c.worker, time.Second) })
	}
	<-ctx.Done()
	logger.Info("Stopping PetSet controller")
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

func (c *Controller) worker(ctx context.Context) {
	for c.processNext(ctx) {
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	start, paceStart := time.Now(), c.clock.Now()
	c.pace.passStart(key)
	requeue, err := c.sync(ctx, key)
	c.metrics.observeSync(time.Since(start).Seconds(), err)
	c.pace.passDone(key, paceStart)
	if err != nil && namespaceTerminating(err) {
		// Nothing can be created in a namespace being deleted, and its
		// deletion removes the set too: a retry would only be refused again.
		klog.FromContext(ctx).V(2).Info("Namespace is being deleted; pass not retried", "key", key, "err", err)
		c.queue.Forget(key)
		return true
	}
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Syncing PetSet failed; requeued with backoff", "key", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	if requeue > 0 {
		c.queue.AddAfter(key, requeue)
	}
	return true
}

// namespaceTerminating reports whether err, or an error it wraps, is the API
// server refusing new objects in a namespace that is being deleted.
func namespaceTerminating(err error) bool {
	return apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}

// sync runs the ordering logic for the set with the key once.
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) (time.Duration, error) {
	ns := key.Namespace
	set, err := c.setLister.PetSets(ns).Get(key.Name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	ctx = klog.NewContext(ctx, setLogger(ctx, set))
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || set.Spec.Selector == nil || selector.Empty() {
		// The CRD should reject this; an empty selector would claim every pod.
		c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonInvalidSpec, "invalid selector: %v", err)
		return 0, nil
	}
	all, err := ownedAndOrphans[*corev1.Pod](c.podIndex, set)
	if err != nil {
		return 0, err
	}
	pets, err := c.claimPods(ctx, set, selector, all)
	if err != nil {
		return 0, err
	}
	return c.control.Sync(ctx, set, pets)
}

// claimPods returns the pods the set owns after adopting matching orphans
// and releasing owned pods that no longer match.
func (c *Controller) claimPods(ctx context.Context, set *kennelv1.PetSet, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	logger := klog.FromContext(ctx)
	var (
		owned    []*corev1.Pod
		errs     []error
		canAdopt *bool
	)
	for _, pod := range pods {
		switch ownershipOf(set, pod, selector.Matches(labels.Set(pod.Labels)) && isMember(set, pod)) {
		case owns:
			owned = append(owned, pod)
		case release:
			logger.Info("Releasing pod that no longer matches", "pod", klog.KObj(pod))
			if _, err := c.patchPod(ctx, pod, releasePatch(set, pod)); err != nil && !apierrors.IsInvalid(err) {
				errs = append(errs, fmt.Errorf("releasing pod %s: %w", pod.Name, err))
			}
		case adopt:
			if canAdopt == nil {
				ok := c.canAdopt(ctx, set)
				canAdopt = &ok
			}
			if !*canAdopt {
				continue
			}
			logger.Info("Adopting orphan pod", "pod", klog.KObj(pod))
			adopted, err := c.patchPod(ctx, pod, adoptPatch(set, pod))
			switch {
			case err == nil && adopted != nil:
				owned = append(owned, adopted)
			case err != nil:
				errs = append(errs, fmt.Errorf("adopting pod %s: %w", pod.Name, err))
			}
		}
	}
	return owned, errors.Join(errs...)
}

// canAdopt re-reads the set from the API server: adopting on behalf of a
// set that was deleted or replaced (same name, new UID) must not happen.
func (c *Controller) canAdopt(ctx context.Context, set *kennelv1.PetSet) bool {
	fresh, err := c.kennelClient.KennelV1().PetSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	if err != nil {
		klog.FromContext(ctx).V(2).Info("Not adopting: cannot re-read set", "err", err)
		return false
	}
	return fresh.UID == set.UID && fresh.DeletionTimestamp == nil
}

// patchPod applies an ownership patch to the pod; a pod that is gone is
// not an error (nil pod).
func (c *Controller) patchPod(ctx context.Context, pod *corev1.Pod, patch []byte) (*corev1.Pod, error) {
	patched, err := c.kubeClient.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return patched, err
}

// enqueue queues the set that obj is.
func (c *Controller) enqueue(obj any) {
	if key, ok := keyOfSet(obj); ok {
		c.queue.Add(key)
	}
}

// updateSet queues the set unless only its status changed: the controller
// writes the status itself, once per pass, and a pass for the event of its
// own write would find nothing to do.
func (c *Controller) updateSet(oldObj, newObj any) {
	old, okOld := oldObj.(*kennelv1.PetSet)
	set, okNew := newObj.(*kennelv1.PetSet)
	if okOld && okNew && !setChangeMatters(old, set) {
		return
	}
	c.enqueue(newObj)
}

// setChangeMatters reports whether the update changed the set's spec (its
// generation) or metadata (labels, annotations, finalizers, owners,
// deletion), not only its status.
func setChangeMatters(old, set *kennelv1.PetSet) bool {
	return old.Generation != set.Generation || metaChanged(old.ObjectMeta, set.ObjectMeta)
}

// metaChanged compares two versions of an object's metadata but for the
// resourceVersion, generation and managed fields, which every write
// changes. The arguments are copies: the maps they share are not written.
func metaChanged(old, cur metav1.ObjectMeta) bool {
	old.ResourceVersion, cur.ResourceVersion = "", ""
	old.Generation, cur.Generation = 0, 0
	old.ManagedFields, cur.ManagedFields = nil, nil
	return !equality.Semantic.DeepEqual(old, cur)
}

// deleteSet forgets what the controller expected of a deleted set and
// queues it one last time.
func (c *Controller) deleteSet(obj any) {
	if key, ok := keyOfSet(obj); ok {
		c.exp.Forget(key)
		c.pace.forget(key)
		c.queue.Add(key)
	}
}

// keyOfSet returns the key of the PetSet that obj is (or holds, as a
// tombstone); anything else is reported and skipped.
func keyOfSet(obj any) (cache.ObjectName, bool) {
	set, ok := objectOf[*kennelv1.PetSet](obj)
	if !ok {
		utilruntime.HandleError(fmt.Errorf("PetSet handler got a %T; skipped", obj))
		return cache.ObjectName{}, false
	}
	return setKey(set), true
}

// controllingSet returns the key of the PetSet that controls obj: its
// controller reference names a PetSet of the cache with the same UID (a
// reference to an earlier set of the same name does not count).
func (c *Controller) controllingSet(obj metav1.Object) (cache.ObjectName, bool) {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return cache.ObjectName{}, false
	}
	set, err := c.setLister.PetSets(obj.GetNamespace()).Get(ref.Name)
	if err != nil || set.UID != ref.UID {
		return cache.ObjectName{}, false
	}
	return setKey(set), true
}

// enqueueMatching enqueues every set in the namespace whose selector
// matches the labels: an orphan with them may be adopted by one of them.
func (c *Controller) enqueueMatching(namespace string, lbls map[string]string) {
	sets, err := c.setLister.PetSets(namespace).List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("listing PetSets in %s for an orphan: %w", namespace, err))
		return
	}
	for _, set := range sets {
		sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(lbls)) {
			c.queue.Add(setKey(set))
		}
	}
}

// podSeen tells the expectations of the set controlling the pod that the
// cache shows it (and its deletion, when terminating or gone), and queues
// the set.
func (c *Controller) podSeen(key cache.ObjectName, pod *corev1.Pod, gone bool) {
	c.exp.CreationObserved(key, pod.Name)
	if gone || pod.DeletionTimestamp != nil {
		c.exp.DeletionSeen(key, pod.UID)
	}
	if d := c.pace.delay(key); d > 0 && c.parallel(key) {
		c.queue.AddAfter(key, d)
		return
	}
	c.queue.Add(key)
}

// parallel reports whether the set with the key has the Parallel policy:
// only its pets change many at a time, so only its pod events are paced.
func (c *Controller) parallel(key cache.ObjectName) bool {
	set, err := c.setLister.PetSets(key.Namespace).Get(key.Name)
	return err == nil && isParallel(set)
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if key, ok := c.controllingSet(pod); ok {
		c.podSeen(key, pod, false)
		return
	}
	if metav1.GetControllerOf(pod) == nil {
		c.enqueueMatching(pod.Namespace, pod.Labels)
	}
}

func (c *Controller) updatePod(oldObj, newObj any) {
	oldPod, pod := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if oldPod.ResourceVersion == pod.ResourceVersion || !podChangeMatters(oldPod, pod) {
		return // periodic resync, or nothing the controller reads changed
	}
	oldKey, oldOwned := c.controllingSet(oldPod)
	key, owned := c.controllingSet(pod)
	if oldOwned && (!owned || oldKey != key) {
		c.queue.Add(oldKey)
	}
	if owned {
		c.podSeen(key, pod, false)
		return
	}
	if metav1.GetControllerOf(pod) == nil {
		c.enqueueMatching(pod.Namespace, pod.Labels)
		if !labels.Equals(oldPod.Labels, pod.Labels) {
			c.enqueueMatching(oldPod.Namespace, oldPod.Labels)
		}
	}
}

// podChangeMatters reports whether the update changed what the controller
// reads of a pod: its metadata, phase, start time or Ready condition. The
// scheduler's binding and kwok's or the kubelet's other status writes queue
// no pass: a bound pet needs nothing its unbound self did not.
func podChangeMatters(old, pod *corev1.Pod) bool {
	return old.Status.Phase != pod.Status.Phase ||
		!old.Status.StartTime.Equal(pod.Status.StartTime) ||
		!equality.Semantic.DeepEqual(readyCondition(old), readyCondition(pod)) ||
		metaChanged(old.ObjectMeta, pod.ObjectMeta)
}

func (c *Controller) deletePod(obj any) {
	pod, ok := objectOf[*corev1.Pod](obj)
	if !ok {
		return
	}
	if key, ok := c.controllingSet(pod); ok {
		c.podSeen(key, pod, true)
	}
}

// claimChanged queues the set a claim is labelled with, or every set whose
// selector matches it.
func (c *Controller) claimChanged(obj any) {
	claim, ok := objectOf[*corev1.PersistentVolumeClaim](obj)
	if !ok {
		return
	}
	if set := claim.Labels[PetSetLabel]; set != "" {
		c.queue.Add(cache.ObjectName{Namespace: claim.Namespace, Name: set})
		return
	}
	c.enqueueMatching(claim.Namespace, claim.Labels)
}

// claimAdded counts a new claim in the backlog and queues its set.
func (c *Controller) claimAdded(obj any) {
	if claim, ok := obj.(*corev1.PersistentVolumeClaim); ok {
		c.backlog.changed(nil, claim)
	}
	c.claimChanged(obj)
}

// claimDeleted takes a deleted claim out of the backlog and queues its set.
func (c *Controller) claimDeleted(obj any) {
	if claim, ok := objectOf[*corev1.PersistentVolumeClaim](obj); ok {
		c.backlog.changed(claim, nil)
	}
	c.claimChanged(obj)
}

// claimUpdated keeps the backlog and queues the claim's set when something
// the controller reads of a claim changed: the volume binder's and
// protection controller's own writes (volume name, annotations,
// finalizers) queue nothing.
func (c *Controller) claimUpdated(oldObj, newObj any) {
	old, okOld := oldObj.(*corev1.PersistentVolumeClaim)
	claim, okNew := newObj.(*corev1.PersistentVolumeClaim)
	if okOld && okNew {
		c.backlog.changed(old, claim)
		if !claimChangeMatters(old, claim) {
			return
		}
	}
	c.claimChanged(newObj)
}

// claimChangeMatters reports whether the update changed what the
// controller reads of a claim: labels, owners, deletion, the storage
// request, and the phase, capacity and conditions that resizing reports.
func claimChangeMatters(old, claim *corev1.PersistentVolumeClaim) bool {
	return !equality.Semantic.DeepEqual(old.Labels, claim.Labels) ||
		!equality.Semantic.DeepEqual(old.OwnerReferences, claim.OwnerReferences) ||
		!equality.Semantic.DeepEqual(old.DeletionTimestamp, claim.DeletionTimestamp) ||
		!equality.Semantic.DeepEqual(old.Spec.Resources, claim.Spec.Resources) ||
		old.Status.Phase != claim.Status.Phase ||
		!equality.Semantic.DeepEqual(old.Status.Capacity, claim.Status.Capacity) ||
		!equality.Semantic.DeepEqual(old.Status.Conditions, claim.Status.Conditions)
}

// serviceChanged queues the sets the Service governs.
func (c *Controller) serviceChanged(obj any) {
	svc, ok := objectOf[*corev1.Service](obj)
	if !ok {
		return
	}
	sets, err := c.setLister.PetSets(svc.Namespace).List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("listing PetSets in %s for Service %s: %w", svc.Namespace, svc.Name, err))
		return
	}
	for _, set := range sets {
		if set.Spec.ServiceName == svc.Name {
			c.queue.Add(setKey(set))
		}
	}
}

// revisionChanged enqueues the set controlling the revision, or every set
// whose selector matches an orphan revision (it may be adopted).
func (c *Controller) revisionChanged(obj any) {
	rev, ok := objectOf[*appsv1.ControllerRevision](obj)
	if !ok {
		return
	}
	if key, ok := c.controllingSet(rev); ok {
		c.queue.Add(key)
		return
	}
	if metav1.GetControllerOf(rev) == nil {
		c.enqueueMatching(rev.Namespace, rev.Labels)
	}
}

// objectOf returns obj as a T, unwrapping the tombstone an informer hands to
// a delete handler when it missed the object's final state.
func objectOf[T any](obj any) (T, bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	t, ok := obj.(T)
	return t, ok
}
