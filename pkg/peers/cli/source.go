package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kennel-dev/kennel/pkg/peers"
	"github.com/kennel-dev/kennel/pkg/peers/kubeapi"
	"github.com/kennel-dev/kennel/pkg/version"
)

// Values of --source.
const (
	SourceDNS  = "dns"
	SourceAPI  = "api"
	SourceAuto = "auto"
)

// probeTimeout bounds the list with which --source=auto tries the API.
const probeTimeout = 5 * time.Second

// setSource gives f its Resolver (DNS) or Watcher (API) and the domain.
func setSource(ctx context.Context, o *Options, env Env, f *peers.Finder) error {
	if o.Source == SourceDNS {
		return setDNS(o, env, f)
	}
	_, domain, derived, err := dnsSetup(o, env, false)
	if err != nil {
		return err
	}
	f.Domain, f.DomainDerived = domain, derived
	client, err := apiClient(o, env)
	if err == nil && o.Source == SourceAuto {
		err = probe(ctx, client, f.Namespace, f.Service)
	}
	if err != nil {
		if o.Source == SourceAPI {
			return err
		}
		fmt.Fprintf(env.Stderr, "peer-finder: --source=auto: using DNS: %v\n", firstLine(err.Error()))
		return setDNS(o, env, f)
	}
	if o.Source == SourceAuto {
		fmt.Fprintf(env.Stderr, "peer-finder: --source=auto: using the Kubernetes API (%s)\n", client.Server())
	}
	f.Watcher = &peers.APISource{
		Client: client, Service: f.Service, Namespace: f.Namespace, Domain: f.Domain,
		Logf: func(format string, args ...any) {
			fmt.Fprintf(env.Stderr, "peer-finder: "+format+"\n", args...)
		},
	}
	return nil
}

func setDNS(o *Options, env Env, f *peers.Finder) error {
	servers, domain, derived, err := dnsSetup(o, env, true)
	if err != nil {
		return err
	}
	f.Domain, f.DomainDerived = domain, derived
	f.Resolver = &peers.DNSResolver{Nameservers: servers, Timeout: o.QueryTimeout}
	return nil
}

// apiClient connects with --kubeconfig, else with the pod's service account.
func apiClient(o *Options, env Env) (*kubeapi.Client, error) {
	var cfg *kubeapi.Config
	var err error
	if o.Kubeconfig != "" {
		if cfg, err = kubeapi.LoadKubeconfig(o.Kubeconfig); err != nil {
			return nil, usagef("--kubeconfig: %v", err)
		}
	} else if cfg, err = kubeapi.InCluster(env.Getenv, env.ServiceAccountDir); err != nil {
		if errors.Is(err, kubeapi.ErrNotInCluster) {
			return nil, usagef("%v; pass --kubeconfig outside a pod", err)
		}
		return nil, usagef("in-cluster configuration: %v", err)
	}
	cfg.UserAgent = "peer-finder/" + version.Version
	return kubeapi.NewClient(cfg), nil
}

// probe lists the slices once: --source=auto uses the API only if that works.
func probe(ctx context.Context, c *kubeapi.Client, namespace, service string) error {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	_, err := c.ListSlices(pctx, namespace, service)
	if kubeapi.IsForbidden(err) {
		return fmt.Errorf("this pod may not list EndpointSlices in namespace %q (grant the Role shown by --source=api)", namespace)
	}
	if err != nil {
		return fmt.Errorf("the API server at %s did not answer: %v", c.Server(), err)
	}
	return nil
}

func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
