package readpath

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// The read path's collectors are process-wide and registered into each
// config's registry, like the gate's.
var (
	lookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "valet_files", Name: "requests_total",
		Help: "Requests the read path answered, by result: hit (from memory), miss (read from disk, then cached), " +
			"stream (served from disk, not cacheable) or pass (handed to file_server).",
	}, []string{"result"})
	evictions = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "valet_files", Name: "evictions_total",
		Help: "Cached files evicted to stay within the cache size.",
	})
	cachedBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "valet_files", Name: "cache_bytes",
		Help: "Memory held by cached files (content plus a fixed overhead per entry), over all sites.",
	})
)

func registerMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{lookups, evictions, cachedBytes} {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return fmt.Errorf("registering metrics: %w", err)
		}
	}
	return nil
}

// metrics is one handler's view of the collectors: the counters bound once
// (they count every request), and the handler's share of the byte gauge.
type metrics struct {
	hit, miss, stream, pass prometheus.Counter
	bytes                   int64 // this cache's last reported size, under the cache lock
}

func newMetrics() *metrics {
	return &metrics{
		hit: lookups.WithLabelValues("hit"), miss: lookups.WithLabelValues("miss"),
		stream: lookups.WithLabelValues("stream"), pass: lookups.WithLabelValues("pass"),
	}
}

func (m *metrics) evicted() { evictions.Inc() }

// setBytes moves the gauge by this cache's change (callers hold its lock).
func (m *metrics) setBytes(n int64) {
	cachedBytes.Add(float64(n - m.bytes))
	m.bytes = n
}
