package app

import (
	"fmt"
	"strings"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
)

// Clients are the typed clients of one cluster and the namespace the
// flags chose.
type Clients struct {
	Kube      kubernetes.Interface
	Kennel    versioned.Interface
	Namespace string
}

// clientsFromFlags builds the clients from kubectl's connection flags.
func clientsFromFlags(flags *genericclioptions.ConfigFlags) func() (*Clients, error) {
	return func() (*Clients, error) {
		cfg, err := flags.ToRESTConfig()
		if err != nil {
			return nil, err
		}
		ns, _, err := flags.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return nil, err
		}
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		kennel, err := versioned.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		return &Clients{Kube: kube, Kennel: kennel, Namespace: ns}, nil
	}
}

// Resource names the plugin accepts for PetSets and StatefulSets.
var (
	petSetNames      = []string{"petset", "petsets", "pets", "petset.kennel.dev", "petsets.kennel.dev"}
	statefulSetNames = []string{"statefulset", "statefulsets", "sts", "statefulset.apps", "statefulsets.apps"}
)

// objectName accepts NAME or TYPE/NAME where TYPE is one of types.
func objectName(arg string, types []string) (string, error) {
	typ, name, found := strings.Cut(arg, "/")
	if !found {
		name, typ = arg, ""
	}
	if name == "" {
		return "", fmt.Errorf("%q: the name is empty", arg)
	}
	if typ != "" && !contains(types, strings.ToLower(typ)) {
		return "", fmt.Errorf("%q: expected %s/NAME or NAME", arg, types[0])
	}
	return name, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
