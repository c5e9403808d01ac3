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
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=petsets,singular=petset,shortName=pets,categories=all,scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.spec.replicas`,description="Desired number of pets"
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyReplicas`,description="Pets with a Ready condition"
// +kubebuilder:printcolumn:name="Current-Revision",type=string,JSONPath=`.status.currentRevision`,description="Revision the pets below the partition run"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
//
// Pet names <set>-<ordinal> are pod names, hostnames and the value of the
// statefulset.kubernetes.io/pod-name label, so they must be DNS labels: the set
// name has no dots, and with the highest ordinal (ordinals.start+replicas-1)
// appended it fits in 63 characters. Claim names <template>-<set>-<ordinal> are
// held to the same 63 characters.
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label (lowercase letters, digits and '-', no dots): it is the prefix of every pet's hostname",fieldPath=".metadata.name",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) + 1 + size(string(self.spec.?ordinals.?start.orValue(0) + (self.spec.?replicas.orValue(1) > 0 ? self.spec.?replicas.orValue(1) - 1 : 0))) <= 63",message="metadata.name is too long: the pet name <metadata.name>-<highest ordinal> (highest ordinal = spec.ordinals.start + spec.replicas - 1) must be at most 63 characters",fieldPath=".metadata.name",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.spec.volumeClaimTemplates) || self.spec.volumeClaimTemplates.all(t, size(t.?metadata.?name.orValue('')) + 1 + size(self.metadata.name) + 1 + size(string(self.spec.?ordinals.?start.orValue(0) + (self.spec.?replicas.orValue(1) > 0 ? self.spec.?replicas.orValue(1) - 1 : 0))) <= 63)",message="metadata.name or spec.volumeClaimTemplates[].metadata.name is too long: the claim name <template>-<metadata.name>-<highest ordinal> must be at most 63 characters",fieldPath=".metadata.name",reason=FieldValueInvalid

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
//
// The selector must select the template's labels (matchLabels and
// matchExpressions are both checked), as StatefulSet requires. The claim
// templates are immutable except each one's storage request, which may only
// grow. Transition rules sit here, on spec, because they must also see a
// field being added or removed.
//
// Rules that iterate or compare test presence with has() chains rather
// than optionals (.?x.orValue(...)): the API server's cost estimator
// cannot bound the size of an orValue result and would reject the CRD.
// hack/tools/codegen/crd-bounds.yaml adds the size limits these rules need
// inside the embedded upstream types.
//
// The API server runs every rule on every write of a PetSet, the
// controller's status writes included. The two claim-template transition
// rules first compare the templates whole: unchanged templates, nearly
// every write, are then accepted without walking each field of each
// template (that walk was the larger part of a status write's cost to the
// API server).
// +kubebuilder:validation:XValidation:rule="!has(self.selector) || self.selector.?matchLabels.orValue({}).size() + self.selector.?matchExpressions.orValue([]).size() > 0",message="spec.selector must not be empty: it must select the pets by their template labels",fieldPath=".selector",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.selector) || !has(self.selector.matchLabels) || has(self.template.metadata) && has(self.template.metadata.labels) && self.selector.matchLabels.all(k, k in self.template.metadata.labels && self.template.metadata.labels[k] == self.selector.matchLabels[k])",message="spec.selector.matchLabels does not match spec.template.metadata.labels: every matchLabels entry must be a template label with the same value",fieldPath=".selector.matchLabels",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.selector) || !has(self.selector.matchExpressions) || self.selector.matchExpressions.all(e, e.operator == 'In' ? (has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels && has(e.values) && self.template.metadata.labels[e.key] in e.values) : e.operator == 'NotIn' ? !(has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels && has(e.values) && self.template.metadata.labels[e.key] in e.values) : e.operator == 'Exists' ? (has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels) : e.operator == 'DoesNotExist' ? !(has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels) : false)",message="spec.selector.matchExpressions does not match spec.template.metadata.labels (operators: In, NotIn, Exists, DoesNotExist)",fieldPath=".selector.matchExpressions",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.template.spec.restartPolicy) || self.template.spec.restartPolicy == 'Always'",message="spec.template.spec.restartPolicy must be Always",fieldPath=".template.spec.restartPolicy",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.template.spec.activeDeadlineSeconds)",message="spec.template.spec.activeDeadlineSeconds is not allowed: pets run until deleted",fieldPath=".template.spec.activeDeadlineSeconds",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.volumeClaimTemplates) || self.volumeClaimTemplates.all(t, has(t.metadata) && has(t.metadata.name) && t.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))",message="spec.volumeClaimTemplates[].metadata.name is required and must be a DNS label",fieldPath=".volumeClaimTemplates",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="(has(self.volumeClaimTemplates) ? has(oldSelf.volumeClaimTemplates) && self.volumeClaimTemplates == oldSelf.volumeClaimTemplates : !has(oldSelf.volumeClaimTemplates)) || ((has(self.volumeClaimTemplates) ? size(self.volumeClaimTemplates) : 0) == (has(oldSelf.volumeClaimTemplates) ? size(oldSelf.volumeClaimTemplates) : 0) && (!has(self.volumeClaimTemplates) || self.volumeClaimTemplates.all(i, t, ((has(t.metadata)) == (has(oldSelf.volumeClaimTemplates[i].metadata)) && (!(has(t.metadata)) || t.metadata == oldSelf.volumeClaimTemplates[i].metadata)) && ((has(t.spec) && has(t.spec.accessModes)) == (has(oldSelf.volumeClaimTemplates[i].spec) && has(oldSelf.volumeClaimTemplates[i].spec.accessModes)) && (!(has(t.spec) && has(t.spec.accessModes)) || t.spec.accessModes == oldSelf.volumeClaimTemplates[i].spec.accessModes)) && ((has(t.spec) && has(t.spec.selector)) == (has(oldSelf.volumeClaimTemplates[i].spec) && has(oldSelf.volumeClaimTemplates[i].spec.selector)) && (!(has(t.spec) && has(t.spec.selector)) || t.spec.selector == oldSelf.volumeClaimTemplates[i].spec.selector)) && ((has(t.spec) && has(t.spec.storageClassName)) == (has(oldSelf.volumeClaimTemplates[i].spec) && has(oldSelf.volumeClaimTemplates[i].spec.storageClassName)) && (!(has(t.spec) && has(t.spec.storageClassName)) || t.spec.storageClassName == oldSelf.volumeClaimTemplates[i].spec.storageClassName)) && ((has(t.spec) && has(t.spec.volumeMode)) == (has(oldSelf.volumeClaimTemplates[i].spec) && has(oldSelf.volumeClaimTemplates[i].spec.volumeMode)) && (!(has(t.spec) && has(t.spec.volumeMode)) || t.spec.volumeMode == oldSelf.volumeClaimTemplates[i].spec.volumeMode)) && ((has(t.spec) && has(t.spec.volumeName)) == (has(oldSelf.volumeClaimTemplates[i].spec) && has(oldSelf.volumeClaimTemplates[i].spec.volumeName)) && (!(has(t.spec) && has(t.spec.volumeName)) || t.spec.volumeName == oldSelf.volumeClaimTemplates[i].spec.volumeName)) && ((has(t.spec) && has(t.spec.dataSource)) == (has(oldSelf.volumeClaimTemplates[i].spec) && has(oldSelf.volumeClaimTemplates[i].spec.dataSource)) && (!(has(t.spec) && has(t.spec.dataSource)) || t.spec.dataSource == oldSelf.volumeClaimTemplates[i].spec.dataSource)) && ((has(t.spec) && has(t.spec.dataSourceRef)) == (has(oldSelf.volumeClaimTemplates[i].spec) && has(oldSelf.volumeClaimTemplates[i].spec.dataSourceRef)) && (!(has(t.spec) && has(t.spec.dataSourceRef)) || t.spec.dataSourceRef == oldSelf.volumeClaimTemplates[i].spec.dataSourceRef)) && ((has(t.spec) && has(t.spec.volumeAttributesClassName)) == (has(oldSelf.volumeClaimTemplates[i].spec) && has(oldSelf.volumeClaimTemplates[i].spec.volumeAttributesClassName)) && (!(has(t.spec) && has(t.spec.volumeAttributesClassName)) || t.spec.volumeAttributesClassName == oldSelf.volumeClaimTemplates[i].spec.volumeAttributesClassName)) && ((has(t.spec) && has(t.spec.resources) && has(t.spec.resources.limits)) == (has(oldSelf.volumeClaimTemplates[i].spec) && has(oldSelf.volumeClaimTemplates[i].spec.resources) && has(oldSelf.volumeClaimTemplates[i].spec.resources.limits)) && (!(has(t.spec) && has(t.spec.resources) && has(t.spec.resources.limits)) || t.spec.resources.limits == oldSelf.volumeClaimTemplates[i].spec.resources.limits)) && (!(has(t.spec) && has(t.spec.resources) && has(t.spec.resources.requests)) || t.spec.resources.requests.all(k, (has(oldSelf.volumeClaimTemplates[i].spec) && has(oldSelf.volumeClaimTemplates[i].spec.resources) && has(oldSelf.volumeClaimTemplates[i].spec.resources.requests)) && k in oldSelf.volumeClaimTemplates[i].spec.resources.requests && (k == 'storage' || oldSelf.volumeClaimTemplates[i].spec.resources.requests[k] == t.spec.resources.requests[k]))) && (!(has(oldSelf.volumeClaimTemplates[i].spec) && has(oldSelf.volumeClaimTemplates[i].spec.resources) && has(oldSelf.volumeClaimTemplates[i].spec.resources.requests)) || oldSelf.volumeClaimTemplates[i].spec.resources.requests.all(k, (has(t.spec) && has(t.spec.resources) && has(t.spec.resources.requests)) && k in t.spec.resources.requests)))))",message="spec.volumeClaimTemplates is immutable except spec.resources.requests.storage of each template",fieldPath=".volumeClaimTemplates",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="(has(self.volumeClaimTemplates) ? has(oldSelf.volumeClaimTemplates) && self.volumeClaimTemplates == oldSelf.volumeClaimTemplates : !has(oldSelf.volumeClaimTemplates)) || (!has(self.volumeClaimTemplates) || !has(oldSelf.volumeClaimTemplates) || size(self.volumeClaimTemplates) != size(oldSelf.volumeClaimTemplates) || self.volumeClaimTemplates.all(i, t, !(has(t.spec) && has(t.spec.resources) && has(t.spec.resources.requests) && 'storage' in t.spec.resources.requests) || !(has(oldSelf.volumeClaimTemplates[i].spec) && has(oldSelf.volumeClaimTemplates[i].spec.resources) && has(oldSelf.volumeClaimTemplates[i].spec.resources.requests) && 'storage' in oldSelf.volumeClaimTemplates[i].spec.resources.requests) || !isQuantity(string(t.spec.resources.requests['storage'])) || !isQuantity(string(oldSelf.volumeClaimTemplates[i].spec.resources.requests['storage'])) || quantity(string(t.spec.resources.requests['storage'])).compareTo(quantity(string(oldSelf.volumeClaimTemplates[i].spec.resources.requests['storage']))) >= 0))",message="spec.volumeClaimTemplates[].spec.resources.requests.storage may only grow: claims cannot shrink",fieldPath=".volumeClaimTemplates",reason=FieldValueForbidden
type PetSetSpec struct {
	// Replicas is the desired number of pets. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`

	// Selector is a label query over pods that should match the replica count.
	// It must match the pod template's labels. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.selector is immutable"
	Selector *metav1.LabelSelector `json:"selector"`

	// Template is the pod template each pet is created from.
	Template corev1.PodTemplateSpec `json:"template"`

	// VolumeClaimTemplates lists claims each pet may reference. One claim
	// <template>-<set>-<ordinal> is created per pet per template.
	// At most 64 templates (a bound that lets the API server's CEL cost
	// estimate accept the rules on them); immutable except each template's
	// spec.resources.requests.storage.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	VolumeClaimTemplates []corev1.PersistentVolumeClaim `json:"volumeClaimTemplates,omitempty"`

	// ServiceName is the governing headless Service that gives each pet its
	// DNS name <pet>.<serviceName>.<namespace>.svc.<cluster domain>. It must
	// be a DNS label. Immutable.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.serviceName is immutable"
	ServiceName string `json:"serviceName"`

	// PodManagementPolicy is OrderedReady (default) or Parallel. Unlike
	// StatefulSet's, it may be changed on a live set.
	// +optional
	// +kubebuilder:default=OrderedReady
	// +kubebuilder:validation:Enum=OrderedReady;Parallel
	PodManagementPolicy appsv1.PodManagementPolicyType `json:"podManagementPolicy,omitempty"`

	// UpdateStrategy is RollingUpdate (default) or OnDelete.
	// +optional
	// +kubebuilder:default={type: RollingUpdate, rollingUpdate: {partition: 0}}
	// +kubebuilder:validation:XValidation:rule="!has(self.type) || self.type in ['RollingUpdate', 'OnDelete']",message="spec.updateStrategy.type must be RollingUpdate or OnDelete"
	// +kubebuilder:validation:XValidation:rule="!has(self.rollingUpdate) || !has(self.type) || self.type == 'RollingUpdate'",message="spec.updateStrategy.rollingUpdate is only allowed when spec.updateStrategy.type is RollingUpdate"
	// +kubebuilder:validation:XValidation:rule="self.?rollingUpdate.?partition.orValue(0) >= 0",message="spec.updateStrategy.rollingUpdate.partition must be >= 0"
	// +kubebuilder:validation:XValidation:rule="!has(self.rollingUpdate) || !has(self.rollingUpdate.maxUnavailable) || (type(self.rollingUpdate.maxUnavailable) == int ? int(self.rollingUpdate.maxUnavailable) >= 1 : string(self.rollingUpdate.maxUnavailable).matches('^(100|[1-9][0-9]?)%$'))",message="spec.updateStrategy.rollingUpdate.maxUnavailable must be an integer >= 1 or a percentage from 1% to 100%"
	UpdateStrategy appsv1.StatefulSetUpdateStrategy `json:"updateStrategy,omitempty"`

	// RevisionHistoryLimit is the number of ControllerRevisions kept. Defaults to 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`

	// MinReadySeconds is how long a new pet must be Ready, without any of its
	// containers crashing, to count as available.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`

	// PersistentVolumeClaimRetentionPolicy says what happens to claims when the
	// set is deleted or scaled down. Retain unless set.
	// +optional
	// +kubebuilder:default={whenDeleted: Retain, whenScaled: Retain}
	// +kubebuilder:validation:XValidation:rule="self.?whenDeleted.orValue('Retain') in ['Retain', 'Delete']",message="spec.persistentVolumeClaimRetentionPolicy.whenDeleted must be Retain or Delete"
	// +kubebuilder:validation:XValidation:rule="self.?whenScaled.orValue('Retain') in ['Retain', 'Delete']",message="spec.persistentVolumeClaimRetentionPolicy.whenScaled must be Retain or Delete"
	PersistentVolumeClaimRetentionPolicy *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy `json:"persistentVolumeClaimRetentionPolicy,omitempty"`

	// Ordinals sets the first ordinal of the set. Defaults to 0.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.?start.orValue(0) >= 0",message="spec.ordinals.start must be >= 0"
	Ordinals *appsv1.StatefulSetOrdinals `json:"ordinals,omitempty"`

	// ReserveOrdinals lists ordinals that get no pet (a kennel extension; not
	// in StatefulSet). The other pets keep their ordinals and replicas counts
	// the pets actually run, so the set's ordinals extend past the reserved
	// ones: replicas 3 with ordinal 1 reserved runs pets 0, 2 and 3. A pet on
	// a newly reserved ordinal is removed like one scaled away; its claims
	// are kept unless persistentVolumeClaimRetentionPolicy.whenScaled is Delete.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:Minimum=0
	ReserveOrdinals []int32 `json:"reserveOrdinals,omitempty"`
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
	// PetSetVolumeClaimsResized reports whether every claim made from a
	// template has reached the template's storage request. It is present
	// on a set with claims whose templates request storage.
	PetSetVolumeClaimsResized = "VolumeClaimsResized"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// PetSetList is a list of PetSets.
type PetSetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []PetSet `json:"items"`
}
