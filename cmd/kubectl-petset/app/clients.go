package app

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
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

// kind is a kind of object a command takes by name.
type kind struct {
	// names are the TYPE words accepted in TYPE/NAME.
	names []string
	// prefix is put before the names completion offers.
	prefix string
	// list lists the objects of the kind in the clients' namespace.
	list func(context.Context, *Clients) (runtime.Object, error)
}

var (
	petSets = kind{names: petSetNames, list: func(ctx context.Context, c *Clients) (runtime.Object, error) {
		return c.Kennel.KennelV1().PetSets(c.Namespace).List(ctx, metav1.ListOptions{})
	}}
	statefulSets = kind{names: statefulSetNames, prefix: "statefulset/", list: func(ctx context.Context, c *Clients) (runtime.Object, error) {
		return c.Kube.AppsV1().StatefulSets(c.Namespace).List(ctx, metav1.ListOptions{})
	}}
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
	if typ != "" && !slices.Contains(types, strings.ToLower(typ)) {
		return "", fmt.Errorf("%q: expected %s/NAME or NAME", arg, types[0])
	}
	return name, nil
}

// takes makes cmd take one object of the kind as its argument, NAME or
// TYPE/NAME, completed from the cluster; run gets the name and the clients
// that reach the object.
func (env *Env) takes(cmd *cobra.Command, k kind, run func(ctx context.Context, c *Clients, name string) error) *cobra.Command {
	cmd.Args = cobra.ExactArgs(1)
	cmd.ValidArgsFunction = env.complete(k)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		name, err := objectName(args[0], k.names)
		if err != nil {
			return err
		}
		c, err := env.Clients()
		if err != nil {
			return err
		}
		return run(cmd.Context(), c, name)
	}
	return cmd
}

// complete offers, for the first argument, the kind's prefix and the name of
// each object of the kind in the namespace.
func (env *Env) complete(k kind) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := env.Clients()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		list, err := k.list(cmd.Context(), c)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []string
		err = meta.EachListItem(list, func(obj runtime.Object) error {
			m, err := meta.Accessor(obj)
			if err != nil {
				return err
			}
			if n := k.prefix + m.GetName(); strings.HasPrefix(n, prefix) {
				out = append(out, n)
			}
			return nil
		})
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
