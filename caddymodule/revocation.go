package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/valetkey/caddy-valet/caddymodule/revocation"
	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// Revocation configures the gate's revocation check: which store holds the
// list, and how long answers are cached. docs/revocation.md explains the
// staleness bounds.
type Revocation struct {
	// Name identifies this revocation list to the admin API (`caddy valet
	// revoke --name`). Gates naming the same store may share a name.
	// Default: default.
	Name string `json:"name,omitempty"`

	// Store is the store module (namespace valet.revocation): bolt, the
	// embedded default in Caddy's data directory, or redis for a fleet.
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=valet.revocation inline_key=backend"`

	// QuietTTL is how long a "not revoked" answer is trusted while changes
	// are not being announced (Redis pub/sub down). Default: 1s.
	QuietTTL caddy.Duration `json:"quiet_ttl,omitempty"`

	// LiveTTL is how long a "not revoked" answer is trusted while changes
	// are announced; it bounds the effect of a lost announcement. Default: 1m.
	LiveTTL caddy.Duration `json:"live_ttl,omitempty"`

	// StaleFor lets the gate answer from cached answers at most this old
	// while the store cannot be reached. Default 0: fail closed (503,
	// revocation_unavailable) for every token not answered by the cache.
	StaleFor caddy.Duration `json:"stale_for,omitempty"`

	// Timeout bounds every store call. Default: 500ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// MaxTTL is the lifetime given to entries revoked without an expiry.
	// Default: the gate's max_ttl plus its leeway.
	MaxTTL caddy.Duration `json:"max_ttl,omitempty"`

	// CacheSize is the most answers cached. Default: 100000.
	CacheSize int64 `json:"cache_size,omitempty"`

	checker *revocation.Checker
	poolKey string
}

// RevocationStore is implemented by the modules in the valet.revocation
// namespace.
type RevocationStore interface {
	// StoreKey names what the store connects to, so that configurations
	// naming the same file or servers share one open store.
	StoreKey() string
	// OpenStore opens the store; the pool closes it when unused.
	OpenStore() (revocation.Store, error)
}

// DefaultRevocationName is the name of a revocation list without one.
const DefaultRevocationName = "default"

// provision loads the store module and gets the shared checker for this
// configuration from the pool, making it on first use.
func (rv *Revocation) provision(ctx caddy.Context, gateMaxTTL time.Duration) error {
	if rv.Name == "" {
		rv.Name = DefaultRevocationName
	}
	if rv.StoreRaw == nil {
		rv.StoreRaw = json.RawMessage(`{"backend":"bolt"}`)
	}
	mod, err := ctx.LoadModule(rv, "StoreRaw")
	if err != nil {
		return fmt.Errorf("loading revocation store: %w", err)
	}
	store, ok := mod.(RevocationStore)
	if !ok {
		return fmt.Errorf("module %T is not a revocation store", mod)
	}
	opts := revocation.Options{
		QuietTTL:  time.Duration(rv.QuietTTL),
		LiveTTL:   time.Duration(rv.LiveTTL),
		StaleFor:  time.Duration(rv.StaleFor),
		Timeout:   time.Duration(rv.Timeout),
		MaxTTL:    time.Duration(rv.MaxTTL),
		CacheSize: rv.CacheSize,
		Observer:  revocationObserver{},
	}
	if opts.MaxTTL <= 0 {
		opts.MaxTTL = gateMaxTTL
	}
	rv.checker, rv.poolKey, err = loadChecker(rv.Name, store, opts)
	return err
}

// Check asks whether verified claims may still be used; a request that
// will be served spends a use of a counted token, one that only asks (a
// preflight) does not. A gate without a revocation block allows all but
// counted tokens, whose uses it cannot count: those it refuses with
// uses_unsupported, rather than admit them without limit.
func (rv *Revocation) Check(ctx context.Context, claims *token.Claims, spendUse bool) token.Reason {
	if rv == nil {
		if claims.Uses > 0 {
			return token.UsesUnsupported
		}
		return token.Allowed
	}
	check := rv.checker.Revoked
	if spendUse {
		check = rv.checker.Check
	}
	return check(ctx, claims)
}

// cleanup releases this configuration's hold on the shared checker.
func (rv *Revocation) cleanup() {
	if rv != nil && rv.poolKey != "" {
		_, _ = revocationCheckers.Delete(rv.poolKey)
	}
}

// Validate refuses settings that cannot work.
func (rv *Revocation) validate() error {
	for _, d := range []caddy.Duration{rv.QuietTTL, rv.LiveTTL, rv.StaleFor, rv.Timeout, rv.MaxTTL} {
		if d < 0 {
			return fmt.Errorf("revocation durations must not be negative")
		}
	}
	if rv.CacheSize < 0 {
		return fmt.Errorf("revocation cache_size must not be negative")
	}
	return nil
}
