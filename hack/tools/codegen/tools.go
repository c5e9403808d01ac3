//go:build tools

// Package tools pins the code generators used by hack/update-codegen.sh:
// k8s.io/code-generator (deepcopy, clientset, listers, informers) and
// controller-gen (the CRD manifest).
package tools

import (
	_ "k8s.io/code-generator/cmd/client-gen"
	_ "k8s.io/code-generator/cmd/deepcopy-gen"
	_ "k8s.io/code-generator/cmd/informer-gen"
	_ "k8s.io/code-generator/cmd/lister-gen"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
