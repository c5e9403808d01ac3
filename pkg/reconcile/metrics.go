package reconcile

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the controller's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	syncs        prometheus.Counter
	syncErrors   prometheus.Counter
	syncDuration prometheus.Histogram
	petsCreated  prometheus.Counter
	petsDeleted  prometheus.Counter
}

// NewMetrics creates the controller's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		syncs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "kennel", Subsystem: "petset", Name: "syncs_total",
			Help: "PetSet syncs run.",
		}),
		syncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "kennel", Subsystem: "petset", Name: "sync_errors_total",
			Help: "PetSet syncs that returned an error and were requeued with backoff.",
		}),
		syncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "kennel", Subsystem: "petset", Name: "sync_duration_seconds",
			Help:    "Duration of one PetSet sync.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		petsCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "kennel", Subsystem: "petset", Name: "pets_created_total",
			Help: "Pets (pods) created.",
		}),
		petsDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "kennel", Subsystem: "petset", Name: "pets_deleted_total",
			Help: "Pets (pods) deleted.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.syncs, m.syncErrors, m.syncDuration, m.petsCreated, m.petsDeleted)
	}
	return m
}

func (m *Metrics) petCreated() {
	if m != nil {
		m.petsCreated.Inc()
	}
}

func (m *Metrics) petDeleted() {
	if m != nil {
		m.petsDeleted.Inc()
	}
}

func (m *Metrics) observeSync(seconds float64, err error) {
	if m == nil {
		return
	}
	m.syncs.Inc()
	m.syncDuration.Observe(seconds)
	if err != nil {
		m.syncErrors.Inc()
	}
}
