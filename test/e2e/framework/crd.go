package framework

import (
	"context"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WaitForCRDEstablished polls the CustomResourceDefinition until its
// Established condition is True. Unlike `kubectl wait`, it does not fail when
// the API server has not written any condition yet, as happens right after
// the CRD is created.
func (f *Framework) WaitForCRDEstablished(ctx context.Context, name string) error {
	client, err := apiextensions.NewForConfig(f.Plane.RESTConfig())
	if err != nil {
		return err
	}
	return f.WaitFor(ctx, fmt.Sprintf("CRD %s Established", name), func(ctx context.Context) (bool, error) {
		crd, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, Retry(err)
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established {
				return c.Status == apiextensionsv1.ConditionTrue, nil
			}
		}
		return false, nil
	})
}
