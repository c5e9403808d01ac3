package v1

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +genclient:method=GetScale,verb=get,subresource=scale,result=k8s.io/api/autoscaling/v1.Scale
// +genclient:method=UpdateScale,verb=update,subresource=scale,input=k8s.io/api/autoscaling/v1.Scale,result=k8s.io/api/autoscaling/v1.Scale
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// PetSet is a set of pets: pods with stable names <set>-<i>, stable hostnames
// under a governing headless Service, and stable storage, started in order and
// stopped in reverse order. Its spec mirrors apps/v1 StatefulSet field for field.
type PetSet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PetSetSpec   `json:"spec,omitempty"`
	Status PetSetStatus `json:"status,omitempty"`
}

// PetSetSpec is the desired state of a PetSet. Every field has the meaning of
// the apps/v1 StatefulSetSpec field of the same name.
type PetSetSpec struct {
	// Replicas is the desired number of pets. Defaults to 1.
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Selector is a label query over pods that should match the replica count.
	// It must match the pod template's labels.
	Selector *metav1.LabelSelector `json:"selector"`

	// Template is the pod template each pet is created from.
	Template corev1.PodTemplateSpec `json:"template"`

	// VolumeClaimTemplates lists claims each pet may reference. One claim
	// <template>-<set>-<ordinal> is created per pet per template.
	// +optional
	VolumeClaimTemplates []corev1.PersistentVolumeClaim `json:"volumeClaimTemplates,omitempty"`

	// ServiceName is the governing headless Service that gives each pet its
	// DNS name <pet>.<serviceName>.<namespace>.svc.<cluster domain>.
	ServiceName string `json:"serviceName"`

	// PodManagementPolicy is OrderedReady (default) or Parallel.
	// +optional
	PodManagementPolicy appsv1.PodManagementPolicyType `json:"podManagementPolicy,omitempty"`

	// UpdateStrategy is RollingUpdate (default) or OnDelete.
	// +optional
	UpdateStrategy appsv1.StatefulSetUpdateStrategy `json:"updateStrategy,omitempty"`

	// RevisionHistoryLimit is the number of ControllerRevisions kept. Defaults to 10.
	// +optional
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`

	// MinReadySeconds is how long a new pet must be Ready, without any of its
	// containers crashing, to count as available.
	// +optional
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`

	// PersistentVolumeClaimRetentionPolicy says what happens to claims when the
	// set is deleted or scaled down. Retain unless set.
	// +optional
	PersistentVolumeClaimRetentionPolicy *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy `json:"persistentVolumeClaimRetentionPolicy,omitempty"`

	// Ordinals sets the first ordinal of the set. Defaults to 0.
	// +optional
	Ordinals *appsv1.StatefulSetOrdinals `json:"ordinals,omitempty"`
}

// PetSetStatus is the observed state of a PetSet. It mirrors apps/v1
// StatefulSetStatus and adds conditions that the controller maintains.
type PetSetStatus struct {
	// ObservedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Replicas is the number of pets the controller has created.
	Replicas int32 `json:"replicas"`

	// ReadyReplicas is the number of pets with a Ready condition.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// CurrentReplicas is the number of pets at CurrentRevision.
	// +optional
	CurrentReplicas int32 `json:"currentReplicas,omitempty"`

	// UpdatedReplicas is the number of pets at UpdateRevision.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`

	// CurrentRevision is the revision that pets below the partition run.
	// +optional
	CurrentRevision string `json:"currentRevision,omitempty"`

	// UpdateRevision is the revision built from the current template.
	// +optional
	UpdateRevision string `json:"updateRevision,omitempty"`

	// CollisionCount counts hash collisions of revision names.
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`

	// AvailableReplicas is the number of pets Ready for at least MinReadySeconds.
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`

	// Selector is the serialized label selector, for the scale subresource.
	// +optional
	Selector string `json:"selector,omitempty"`

	// Conditions are Ready (every desired pet is Ready and current) and
	// Progressing (the set is converging, or why it is stuck), among others.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Condition types maintained by the controller.
const (
	// PetSetReady is True when every desired pet exists, is Ready and runs the update revision.
	PetSetReady = "Ready"
	// PetSetProgressing is True while the controller can make progress and False with a reason when it cannot.
	PetSetProgressing = "Progressing"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// PetSetList is a list of PetSets.
type PetSetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []PetSet `json:"items"`
}
