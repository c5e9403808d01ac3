package chaos

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// recorder keeps every pod, claim and set event of the namespace in the
// order its watches deliver them: one informer per kind, whose reflector
// resumes the watch after an outage and relists when it must.
type recorder struct {
	sets []string

	mu     sync.Mutex
	events []event
}

func startRecorder(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, k kindInfo, ns string, sets []string) (*recorder, error) {
	r := &recorder{sets: sets}
	f := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(ns))
	d := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, ns, nil)
	handlers := []struct {
		inf cache.SharedIndexInformer
		fn  func(obj any, gone bool) *event
	}{
		{f.Core().V1().Pods().Informer(), r.podEvent},
		{f.Core().V1().PersistentVolumeClaims().Informer(), r.claimEvent},
		{d.ForResource(k.gvr).Informer(), r.setEvent},
	}
	for _, h := range handlers {
		fn := h.fn
		if _, err := h.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { r.add(fn(obj, false)) },
			UpdateFunc: func(_, obj any) { r.add(fn(obj, false)) },
			DeleteFunc: func(obj any) {
				if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = t.Obj
				}
				r.add(fn(obj, true))
			},
		}); err != nil {
			return nil, err
		}
	}
	f.Start(ctx.Done())
	d.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	d.WaitForCacheSync(ctx.Done())
	return r, ctx.Err()
}

func (r *recorder) add(e *event) {
	if e == nil {
		return
	}
	r.mu.Lock()
	e.At = time.Now() // under the lock: events stay in time order
	r.events = append(r.events, *e)
	r.mu.Unlock()
}

// take returns and forgets the events recorded before t.
func (r *recorder) take(t time.Time) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := 0
	for i < len(r.events) && r.events[i].At.Before(t) {
		i++
	}
	out := append([]event(nil), r.events[:i]...)
	r.events = append(r.events[:0], r.events[i:]...)
	return out
}

func (r *recorder) setOf(name string, prefix string) (string, int, bool) {
	for _, s := range r.sets {
		if n, ok := parseOrdinal(name, prefix+s); ok {
			return s, n, true
		}
	}
	return "", 0, false
}

func (r *recorder) podEvent(obj any, gone bool) *event {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	setName, ord, ok := r.setOf(p.Name, "")
	if !ok {
		return nil
	}
	o := observePod(p, setName, ord, gone)
	return &event{Pod: &o}
}

// observePod is what the checks know of a pet.
func observePod(p *corev1.Pod, setName string, ord int, gone bool) pod {
	o := pod{
		Name: p.Name, UID: string(p.UID), Set: setName, Ordinal: ord, Phase: p.Status.Phase,
		Terminating: p.DeletionTimestamp != nil, Revision: p.Labels[appsv1.ControllerRevisionHashLabelKey], Gone: gone,
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			o.Ready = c.Status == corev1.ConditionTrue
		}
	}
	if ref := metav1.GetControllerOf(p); ref != nil {
		o.Owner = ref.Kind + "/" + ref.Name
	}
	return o
}

func (r *recorder) claimEvent(obj any, gone bool) *event {
	c, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil
	}
	setName, ord, ok := r.setOf(c.Name, claimTemplate+"-")
	if !ok {
		return nil
	}
	return &event{Claim: &claim{Name: c.Name, UID: string(c.UID), Set: setName, Ordinal: ord, Terminating: c.DeletionTimestamp != nil, Gone: gone}}
}

func (r *recorder) setEvent(obj any, gone bool) *event {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || gone {
		return nil
	}
	ss, err := toStatefulSet(u)
	if err != nil {
		return nil
	}
	s := observeSet(ss)
	return &event{Set: &s}
}

// toStatefulSet reads a PetSet or a StatefulSet into the StatefulSet type:
// both have the same JSON shape for every field the harness uses.
func toStatefulSet(u *unstructured.Unstructured) (*appsv1.StatefulSet, error) {
	b, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	ss := &appsv1.StatefulSet{}
	return ss, json.Unmarshal(b, ss)
}

func observeSet(ss *appsv1.StatefulSet) set {
	s := set{
		Name: ss.Name, Generation: ss.Generation, Replicas: 1,
		Parallel:       ss.Spec.PodManagementPolicy == appsv1.ParallelPodManagement,
		MaxUnavailable: 1, Status: ss.Status,
	}
	if ss.Spec.Replicas != nil {
		s.Replicas = int(*ss.Spec.Replicas)
	}
	if ru := ss.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.Partition != nil {
			s.Partition = int(*ru.Partition)
		}
		if ru.MaxUnavailable != nil {
			s.MaxUnavailable = ru.MaxUnavailable.IntValue()
		}
	}
	if rp := ss.Spec.PersistentVolumeClaimRetentionPolicy; rp != nil {
		s.DeleteOnScale = rp.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}
	return s
}
