// Package app is the PetSet controller process: flags, clients, leader
// election, metrics and health endpoints around pkg/reconcile.
package app

import (
	"errors"
	"flag"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

// Options are the controller's command-line settings.
type Options struct {
	Kubeconfig string
	Namespace  string
	Workers    int
	QPS        float32
	Burst      int

	LeaderElect          bool
	LeaderElectNamespace string
	LeaderElectID        string
	LeaseDuration        time.Duration
	RenewDeadline        time.Duration
	RetryPeriod          time.Duration

	MetricsAddr string
	HealthAddr  string
	Profiling   bool

	Version bool
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		Workers:       4,
		QPS:           20,
		Burst:         30,
		LeaderElect:   true,
		LeaderElectID: "kennel-controller",
		LeaseDuration: 15 * time.Second,
		RenewDeadline: 10 * time.Second,
		RetryPeriod:   2 * time.Second,
		MetricsAddr:   ":8080",
		HealthAddr:    ":8081",
	}
}

// AddFlags binds the options, and klog's flags, to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Path to a kubeconfig. Empty: in-cluster config, then $KUBECONFIG / ~/.kube/config.")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "Only manage PetSets in this namespace. Empty: all namespaces.")
	fs.IntVar(&o.Workers, "workers", o.Workers, "PetSets synced concurrently.")
	fs.Float32Var(&o.QPS, "kube-api-qps", o.QPS, "Queries per second to the API server.")
	fs.IntVar(&o.Burst, "kube-api-burst", o.Burst, "Burst of queries to the API server.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Hold a coordination.k8s.io Lease so that only one replica acts at a time.")
	fs.StringVar(&o.LeaderElectNamespace, "leader-elect-namespace", o.LeaderElectNamespace, "Namespace of the Lease. Empty: the pod's own namespace in-cluster, else \"default\".")
	fs.StringVar(&o.LeaderElectID, "leader-elect-id", o.LeaderElectID, "Name of the Lease.")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", o.LeaseDuration, "How long non-leaders wait before taking over an unrenewed Lease.")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", o.RenewDeadline, "How long the leader retries renewing before giving up leadership.")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", o.RetryPeriod, "Interval between attempts to acquire or renew the Lease.")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "Address of the Prometheus /metrics endpoint; \"0\" disables it.")
	fs.BoolVar(&o.Profiling, "profiling", o.Profiling, "Serve Go's profiles under /debug/pprof/ on the metrics address.")
	fs.StringVar(&o.HealthAddr, "health-probe-bind-address", o.HealthAddr, "Address of /healthz and /readyz; \"0\" disables it.")
	fs.BoolVar(&o.Version, "version", o.Version, "Print the version and exit.")
	gofs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(gofs)
	fs.AddGoFlagSet(gofs)
}

// Validate reports inconsistent settings.
func (o *Options) Validate() error {
	var errs []error
	if o.Workers < 1 {
		errs = append(errs, errors.New("--workers must be at least 1"))
	}
	if o.Profiling && (o.MetricsAddr == "0" || o.MetricsAddr == "") {
		errs = append(errs, errors.New("--profiling needs the metrics endpoint (--metrics-bind-address)"))
	}
	if o.QPS <= 0 || o.Burst < 1 {
		errs = append(errs, errors.New("--kube-api-qps must be positive and --kube-api-burst at least 1"))
	}
	if o.LeaderElect {
		if o.LeaderElectID == "" {
			errs = append(errs, errors.New("--leader-elect-id must not be empty"))
		}
		if o.RetryPeriod <= 0 || o.RenewDeadline <= o.RetryPeriod || o.LeaseDuration <= o.RenewDeadline {
			errs = append(errs, errors.New("need 0 < --leader-elect-retry-period < --leader-elect-renew-deadline < --leader-elect-lease-duration"))
		}
	}
	return errors.Join(errs...)
}
