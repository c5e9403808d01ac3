// Package v1 holds the kennel.dev/v1 API: the PetSet resource.
//
// +k8s:deepcopy-gen=package
// +groupName=kennel.dev
// +kubebuilder:object:generate=false
package v1
