package caddymodule

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/valetkey/caddy-valet/caddymodule/revocation"
	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// The gate's metrics. The collectors are process-wide (checkers outlive
// config loads) and registered into each config's registry; every label
// takes a handful of values (reasons are a closed set).
var (
	gateDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "valet", Name: "decisions_total",
		Help: "Gate decisions, by result (allow, deny) and reason.",
	}, []string{"result", "reason"})
	revocationCache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "valet_revocation", Name: "cache_lookups_total",
		Help: "Revocation cache lookups, by result (hit, miss).",
	}, []string{"result"})
	revocationStoreSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "valet_revocation", Name: "store_duration_seconds",
		Help:    "Latency of revocation store calls, by operation.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"op"})
	revocationStoreErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "valet_revocation", Name: "store_errors_total",
		Help: "Failed revocation store calls, by operation.",
	}, []string{"op"})
	revocationShared = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "valet_revocation", Name: "lookups_shared_total",
		Help: "Requests whose store lookup was shared with concurrent requests for the same token.",
	})
	revocationFeedUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "valet_revocation", Name: "pubsub_up",
		Help: "1 while the Redis pub/sub feed of revocations is subscribed, else 0.",
	})
	revocationFeedReconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "valet_revocation", Name: "pubsub_reconnects_total",
		Help: "Redis pub/sub resubscriptions after the feed was lost.",
	})
	revocationLastInvalidation = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "valet_revocation", Name: "last_invalidation_timestamp_seconds",
		Help: "Unix time of the last change announced on the Redis pub/sub feed (0: none yet); its age is time() minus this.",
	})
)

func registerMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{gateDecisions, revocationCache, revocationStoreSeconds, revocationStoreErrors,
		revocationShared, revocationFeedUp, revocationFeedReconnects, revocationLastInvalidation} {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return fmt.Errorf("registering metrics: %w", err)
		}
	}
	return nil
}

// gateAllowed is the allow counter, bound once: it counts every request.
var gateAllowed = gateDecisions.WithLabelValues("allow", "none")

func countDecision(r token.Reason) {
	if r == token.Allowed {
		gateAllowed.Inc()
	} else {
		gateDecisions.WithLabelValues("deny", string(r)).Inc()
	}
}

// revocationObserver feeds the checker's and the Redis feed's events into
// the metrics.
type revocationObserver struct{}

var (
	_ revocation.Observer     = revocationObserver{}
	_ revocation.FeedObserver = revocationObserver{}
)

func (revocationObserver) LookupShared() { revocationShared.Inc() }

func (revocationObserver) FeedUp(reconnect bool) {
	revocationFeedUp.Set(1)
	if reconnect {
		revocationFeedReconnects.Inc()
	}
}

func (revocationObserver) FeedDown() { revocationFeedUp.Set(0) }

func (revocationObserver) FeedMessage() {
	revocationLastInvalidation.Set(float64(time.Now().UnixNano()) / 1e9)
}

func (revocationObserver) CacheLookup(hit bool) {
	if hit {
		revocationCache.WithLabelValues("hit").Inc()
	} else {
		revocationCache.WithLabelValues("miss").Inc()
	}
}

func (revocationObserver) StoreCall(op string, took time.Duration, err error) {
	revocationStoreSeconds.WithLabelValues(op).Observe(took.Seconds())
	if err != nil {
		revocationStoreErrors.WithLabelValues(op).Inc()
	}
}
