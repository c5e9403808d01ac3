package reconcile

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// TrimForCache is the informers' transform: it drops from each object what
// the controller never reads, before the object is cached. Every object
// loses its managedFields. A pod keeps its metadata, spec.nodeName and
// status phase and conditions; the rest of its spec and status go (for a
// pet they are most of its size).
//
// Cached pods are therefore partial: the controller never sends one back
// with Update; it changes pods with patches. Other kinds are kept whole
// but for managedFields, since claims and sets are updated from the cache.
func TrimForCache(obj any) (any, error) {
	if _, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return obj, nil
	}
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		trimPod(pod)
	}
	return obj, nil
}

// trimPod keeps what the controller reads of a pod: its metadata, the node
// it is bound to, its phase and its conditions.
func trimPod(pod *corev1.Pod) {
	pod.Spec = corev1.PodSpec{NodeName: pod.Spec.NodeName}
	pod.Status = corev1.PodStatus{Phase: pod.Status.Phase, Conditions: pod.Status.Conditions}
}
