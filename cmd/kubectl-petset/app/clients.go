package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
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

// petSetTarget resolves a command's PetSet argument (NAME or
// petset/NAME) and the clients to reach it.
func (env *Env) petSetTarget(arg string) (string, *Clients, error) {
	name, err := objectName(arg, petSetNames)
	if err != nil {
		return "", nil, err
	}
	c, err := env.Clients()
	if err != nil {
		return "", nil, err
	}
	return name, c, nil
}

// completePetSets completes the first argument with the names of the
// PetSets in the namespace.
func completePetSets(env *Env) cobra.CompletionFunc {
	return completeNames(env, "", func(ctx context.Context, c *Clients) ([]string, error) {
		list, err := c.Kennel.KennelV1().PetSets(c.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return namesOf(list.Items, func(s kennelv1.PetSet) string { return s.Name }), nil
	})
}

// completeStatefulSets completes the first argument with statefulset/NAME
// for the StatefulSets in the namespace.
func completeStatefulSets(env *Env) cobra.CompletionFunc {
	return completeNames(env, "statefulset/", func(ctx context.Context, c *Clients) ([]string, error) {
		list, err := c.Kube.AppsV1().StatefulSets(c.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return namesOf(list.Items, func(s appsv1.StatefulSet) string { return s.Name }), nil
	})
}

// completeNames offers typePrefix+name for the names list returns.
func completeNames(env *Env, typePrefix string, list func(context.Context, *Clients) ([]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := env.Clients()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		names, err := list(cmd.Context(), c)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []string
		for _, n := range names {
			if n = typePrefix + n; strings.HasPrefix(n, prefix) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// namesOf returns the names of the listed objects.
func namesOf[T any](items []T, name func(T) string) []string {
	names := make([]string, 0, len(items))
	for _, it := range items {
		names = append(names, name(it))
	}
	return names
}
