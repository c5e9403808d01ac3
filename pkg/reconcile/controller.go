package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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

	setLister     kennellisters.PetSetLister
	podLister     corelisters.PodLister
	claimLister   corelisters.PersistentVolumeClaimLister
	serviceLister corelisters.ServiceLister
	synced        []cache.InformerSynced

	queue    workqueue.TypedRateLimitingInterface[string]
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
	RateLimiter workqueue.TypedRateLimiter[string]
}

// DefaultRateLimiter is the workqueue rate limiter used unless one is given.
func DefaultRateLimiter() workqueue.TypedRateLimiter[string] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 5*time.Minute)
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
	c := &Controller{
		kennelClient:  kennelClient,
		kubeClient:    kubeClient,
		exp:           newExpectations(opts.Clock),
		setLister:     setInformer.Lister(),
		podLister:     podInformer.Lister(),
		claimLister:   claimInformer.Lister(),
		serviceLister: serviceInformer.Lister(),
		synced: []cache.InformerSynced{
			setInformer.Informer().HasSynced, podInformer.Informer().HasSynced,
			claimInformer.Informer().HasSynced, serviceInformer.Informer().HasSynced,
			revisionInformer.Informer().HasSynced,
		},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(opts.RateLimiter,
			workqueue.TypedRateLimitingQueueConfig[string]{Name: QueueName}),
		recorder: recorder,
		metrics:  opts.Metrics,
	}
	petControl := NewPetControl(kubeClient, c.claimLister, recorder, opts.Metrics)
	status := NewStatusUpdater(kennelClient, c.setLister)
	control := newSetControl(petControl, status, c.serviceLister, c.exp, opts.Clock, recorder)
	control.life = newLifecycle(kubeClient, kennelClient, revisionInformer.Lister(), c.claimLister)
	c.control = control

	handlers := []struct {
		informer cache.SharedIndexInformer
		h        cache.ResourceEventHandlerFuncs
	}{
		{setInformer.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueue,
			UpdateFunc: func(_, obj any) { c.enqueue(obj) },
			DeleteFunc: c.deleteSet,
		}},
		{podInformer.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.deletePod,
		}},
		{claimInformer.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.claimChanged, UpdateFunc: func(_, obj any) { c.claimChanged(obj) }, DeleteFunc: c.claimChanged,
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
			return nil, fmt.Errorf("adding event handler: %w", err)
		}
	}
	return c, nil
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
	start := time.Now()
	requeue, err := c.sync(ctx, key)
	c.metrics.observeSync(time.Since(start).Seconds(), err)
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

// sync runs the ordering logic for the set with the key once.
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	set, err := c.setLister.PetSets(ns).Get(name)
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
	all, err := c.podLister.Pods(ns).List(labels.Everything())
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
	adoptable := func() bool {
		if canAdopt == nil {
			ok := c.canAdopt(ctx, set)
			canAdopt = &ok
		}
		return *canAdopt
	}
	for _, pod := range pods {
		matches := selector.Matches(labels.Set(pod.Labels)) && isMember(set, pod)
		ref := metav1.GetControllerOf(pod)
		switch {
		case ref != nil && ref.UID == set.UID:
			if matches || set.DeletionTimestamp != nil {
				owned = append(owned, pod)
				continue
			}
			logger.Info("Releasing pod that no longer matches", "pod", klog.KObj(pod))
			if err := c.patchOwner(ctx, pod, releasePatch(set, pod)); err != nil {
				errs = append(errs, err)
			}
		case ref != nil:
			// Controlled by something else.
		case matches && set.DeletionTimestamp == nil && pod.DeletionTimestamp == nil:
			if !adoptable() {
				continue
			}
			logger.Info("Adopting orphan pod", "pod", klog.KObj(pod))
			patch, err := adoptPatch(set, pod)
			if err != nil {
				return nil, err
			}
			adopted, err := c.kubeClient.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			switch {
			case err == nil:
				owned = append(owned, adopted)
			case apierrors.IsNotFound(err):
			default:
				errs = append(errs, fmt.Errorf("adopting pod %s: %w", pod.Name, err))
			}
		}
	}
	return owned, joinErrors(errs)
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

func (c *Controller) patchOwner(ctx context.Context, pod *corev1.Pod, patch []byte) error {
	_, err := c.kubeClient.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
		return fmt.Errorf("patching owner of pod %s: %w", pod.Name, err)
	}
	return nil
}

// adoptPatch adds a controller reference to the set; the uid makes the
// patch fail if the pod was replaced meanwhile.
func adoptPatch(set *kennelv1.PetSet, pod *corev1.Pod) ([]byte, error) {
	ref := metav1.NewControllerRef(set, controllerKind)
	return json.Marshal(map[string]any{
		"metadata": map[string]any{
			"ownerReferences": []metav1.OwnerReference{*ref},
			"uid":             pod.UID,
		},
	})
}

// releasePatch removes the set's reference from the pod.
func releasePatch(set *kennelv1.PetSet, pod *corev1.Pod) []byte {
	return fmt.Appendf(nil, `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":%q}],"uid":%q}}`, set.UID, pod.UID)
}

func (c *Controller) enqueue(obj any) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) deleteSet(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.exp.Forget(key)
	c.queue.Add(key)
}

// ownerKey returns the key of the PetSet controlling the pod, if any.
func ownerKey(pod *corev1.Pod) (string, bool) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return "", false
	}
	return pod.Namespace + "/" + ref.Name, true
}

// enqueueMatching enqueues every set in the pod's namespace whose selector
// matches the pod: an orphan may be adopted by one of them.
func (c *Controller) enqueueMatching(namespace string, lbls map[string]string) {
	sets, err := c.setLister.PetSets(namespace).List(labels.Everything())
	if err != nil {
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

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if key, ok := ownerKey(pod); ok {
		c.exp.CreationObserved(key, pod.Name)
		if pod.DeletionTimestamp != nil {
			c.exp.DeletionObserved(key, pod.UID)
		}
		c.queue.Add(key)
		return
	}
	if metav1.GetControllerOf(pod) == nil {
		c.enqueueMatching(pod.Namespace, pod.Labels)
	}
}

func (c *Controller) updatePod(oldObj, newObj any) {
	oldPod, pod := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if oldPod.ResourceVersion == pod.ResourceVersion {
		return // periodic resync
	}
	oldKey, oldOwned := ownerKey(oldPod)
	key, owned := ownerKey(pod)
	if oldOwned && (!owned || oldKey != key) {
		c.queue.Add(oldKey)
	}
	if owned {
		c.exp.CreationObserved(key, pod.Name)
		if pod.DeletionTimestamp != nil {
			c.exp.DeletionObserved(key, pod.UID)
		}
		c.queue.Add(key)
		return
	}
	if metav1.GetControllerOf(pod) == nil {
		c.enqueueMatching(pod.Namespace, pod.Labels)
		if !labels.Equals(oldPod.Labels, pod.Labels) {
			c.enqueueMatching(oldPod.Namespace, oldPod.Labels)
		}
	}
}

func (c *Controller) deletePod(obj any) {
	pod, ok := objectOf[*corev1.Pod](obj)
	if !ok {
		return
	}
	if key, ok := ownerKey(pod); ok {
		c.exp.CreationObserved(key, pod.Name)
		c.exp.DeletionObserved(key, pod.UID)
		c.queue.Add(key)
	}
}

func (c *Controller) claimChanged(obj any) {
	claim, ok := objectOf[*corev1.PersistentVolumeClaim](obj)
	if !ok {
		return
	}
	if set := claim.Labels[PetSetLabel]; set != "" {
		c.queue.Add(claim.Namespace + "/" + set)
		return
	}
	c.enqueueMatching(claim.Namespace, claim.Labels)
}

func (c *Controller) serviceChanged(obj any) {
	svc, ok := objectOf[*corev1.Service](obj)
	if !ok {
		return
	}
	sets, err := c.setLister.PetSets(svc.Namespace).List(labels.Everything())
	if err != nil {
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
	ref := metav1.GetControllerOf(rev)
	switch {
	case ref == nil:
		c.enqueueMatching(rev.Namespace, rev.Labels)
	case ref.Kind == controllerKind.Kind && ref.APIVersion == controllerKind.GroupVersion().String():
		c.queue.Add(rev.Namespace + "/" + ref.Name)
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
