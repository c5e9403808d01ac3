package reconcile

import (
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// TrimForCache is the informers' transform: it drops from each object what
// the controller never reads, before the object is cached. Every object
// loses its managedFields. A pod keeps its metadata (of its annotations,
// only the pause annotation), spec.nodeName, and of its status the phase,
// the start time and the Ready condition's type, status and last
// transition; the rest of its spec and status go (for a pet they are most
// of its size).
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
		internMeta(m)
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		trimPod(pod)
	}
	return obj, nil
}

// trimPod keeps what the controller reads of a pod: its metadata, the node
// it is bound to, its phase, start time and Ready condition.
func trimPod(pod *corev1.Pod) {
	if v, ok := pod.Annotations[InitializedAnnotation]; ok {
		pod.Annotations = map[string]string{InitializedAnnotation: v}
	} else {
		pod.Annotations = nil
	}
	pod.Spec = corev1.PodSpec{NodeName: pod.Spec.NodeName}
	pod.Status = corev1.PodStatus{Phase: pod.Status.Phase, StartTime: pod.Status.StartTime,
		Conditions: readyOnly(pod.Status.Conditions)}
}

// readyOnly returns, in a slice of its own, the Ready condition's type,
// status and last transition: the rest of a pod's conditions is four more
// of the same size, and their messages, that nothing reads.
func readyOnly(conds []corev1.PodCondition) []corev1.PodCondition {
	for _, c := range conds {
		if c.Type != corev1.PodReady {
			continue
		}
		status := corev1.ConditionStatus(intern(string(c.Status)))
		return []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: c.LastTransitionTime}}
	}
	return nil
}

// internMeta makes the strings that repeat from object to object (the
// namespace, label keys, owner kinds) share one copy: the decoder gives
// every object copies of its own.
func internMeta(m metav1.Object) {
	m.SetNamespace(intern(m.GetNamespace()))
	if l := m.GetLabels(); len(l) > 0 {
		shared := make(map[string]string, len(l))
		for k, v := range l {
			shared[intern(k)] = v
		}
		m.SetLabels(shared)
	}
	refs := m.GetOwnerReferences()
	for i := range refs {
		refs[i].APIVersion, refs[i].Kind = intern(refs[i].APIVersion), intern(refs[i].Kind)
	}
}

func intern(s string) string { return unique.Make(s).Value() }
