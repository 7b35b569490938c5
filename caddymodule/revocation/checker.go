package revocation

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// Options tune a Checker. Zero values take the defaults named.
type Options struct {
	// QuietTTL is how long a "not revoked" answer is trusted while changes
	// are not being announced (pub/sub down): the staleness bound for a
	// revocation made on another gateway. Default 1s.
	QuietTTL time.Duration
	// LiveTTL is how long a "not revoked" answer is trusted while changes
	// are announced: a revocation reaches this gateway as soon as its
	// announcement does, and LiveTTL bounds a lost one. Default 1m.
	LiveTTL time.Duration
	// StaleFor, when positive, lets the gateway answer from answers cached
	// at most this long ago while the store cannot be reached. Zero fails
	// closed: every uncached decision is RevocationUnavailable.
	StaleFor time.Duration
	// Timeout bounds every store call. Default 500ms.
	Timeout time.Duration
	// MaxTTL gives entries without an expiry one (see Entry.Normalize).
	// Default 24h.
	MaxTTL time.Duration
	// CacheSize is the most answers cached. Default 100000.
	CacheSize int64
	// UseWindow is how long a client's session of a counted token stays
	// open after its last request (see Spend). Default 10m.
	UseWindow time.Duration
	// Observer, if set, hears about cache and store use (metrics).
	Observer Observer
}

// Observer hears what a Checker does, for metrics. It must not block.
type Observer interface {
	CacheLookup(hit bool)
	StoreCall(op string, took time.Duration, err error)
	// LookupShared says a request's store lookup was answered by a
	// concurrent request's lookup for the same token.
	LookupShared()
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.QuietTTL, time.Second)
	def(&o.UseWindow, 10*time.Minute)
	def(&o.LiveTTL, time.Minute)
	def(&o.Timeout, 500*time.Millisecond)
	def(&o.MaxTTL, 24*time.Hour)
	if o.CacheSize <= 0 {
		o.CacheSize = 100_000
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
}

// answer is what the cache remembers about one subject (or, under a "uses"
// key, that a token has no uses left).
type answer struct {
	entry   *Entry    // nil: not revoked
	fetched time.Time // when the store said so
	epoch   uint64    // the feed's epoch then
}

// Checker answers "may this token still be used?" from a store, through a
// ristretto cache. The cache is only a cache: an answer it drops is asked
// again, so it never decides anything the store would not.
type Checker struct {
	store   Store
	opts    Options
	cache   *ristretto.Cache[string, *answer]
	unwatch func()

	flights singleflight.Group // concurrent lookups of the same subjects

	live  atomic.Bool
	epoch atomic.Uint64 // bumped whenever cached answers may be outdated
	gen   atomic.Uint64 // bumped on every invalidation: guards in-flight lookups
}

// NewChecker makes a checker over a store. The store stays the caller's:
// several checkers may share one, and Close leaves it open.
func NewChecker(store Store, o Options) (*Checker, error) {
	o.defaults()
	cache, err := ristretto.NewCache(&ristretto.Config[string, *answer]{
		NumCounters: 10 * o.CacheSize,
		MaxCost:     o.CacheSize,
		BufferItems: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("revocation cache: %w", err)
	}
	c := &Checker{store: store, opts: o, cache: cache}
	c.unwatch = store.Watch(c)
	return c, nil
}

// Store is the store the checker asks.
func (c *Checker) Store() Store { return c.store }

// Options are the checker's settings, defaults filled in.
func (c *Checker) Options() Options { return c.opts }

// Live reports whether changes made elsewhere are being announced.
func (c *Checker) Live() bool { return c.live.Load() }

// Close stops watching the store and releases the cache.
func (c *Checker) Close() {
	c.unwatch()
	c.cache.Close()
}

// Invalidate implements Listener.
func (c *Checker) Invalidate(s Subject) {
	c.gen.Add(1)
	c.cache.Del(cacheKey(s))
}

// InvalidateAll implements Listener: answers from before now are not
// trusted as fresh, but may still serve as stale ones (StaleFor).
func (c *Checker) InvalidateAll() {
	c.gen.Add(1)
	c.epoch.Add(1)
}

// SetLive implements Listener.
func (c *Checker) SetLive(live bool) {
	c.gen.Add(1)
	c.epoch.Add(1)
	c.live.Store(live)
}

func cacheKey(s Subject) string { return string(s.Kind) + "\x00" + s.ID }

func usesKey(jti string) string { return "uses\x00" + jti }

// fresh tells whether a cached answer may be used without asking the store.
func (c *Checker) fresh(a *answer, now time.Time) bool {
	if a.epoch != c.epoch.Load() {
		return false
	}
	if a.entry != nil {
		return a.entry.Live(now) // removals are announced like revocations
	}
	ttl := c.opts.QuietTTL
	if c.live.Load() {
		ttl = max(ttl, c.opts.LiveTTL)
	}
	return now.Sub(a.fetched) < ttl
}

// Check decides whether a verified token may be used by the client at
// address client: Allowed, Revoked, UsesExhausted, or
// RevocationUnavailable when the store cannot tell. A token with a use
// count spends a use when the client has no open session (see Spend).
func (c *Checker) Check(ctx context.Context, claims *token.Claims, client string) token.Reason {
	if reason := c.Revoked(ctx, claims); reason != token.Allowed || claims.Uses == 0 {
		return reason
	}
	return c.use(ctx, claims, client)
}

// Revoked is Check without spending a use: for requests that only ask,
// such as a CORS preflight.
func (c *Checker) Revoked(ctx context.Context, claims *token.Claims) token.Reason {
	now := time.Now()
	var subjectsBuf [4]Subject // jti, group, key, one audience: on the stack
	var answersBuf [4]*answer
	var missingBuf [4]int
	subjects := AppendSubjects(subjectsBuf[:0], claims)
	answers := answersBuf[:0]
	if len(subjects) > len(answersBuf) {
		answers = make([]*answer, 0, len(subjects))
	}
	answers = answers[:len(subjects)]
	missing := missingBuf[:0]
	for i, s := range subjects {
		a, ok := c.cache.Get(cacheKey(s))
		hit := ok && c.fresh(a, now)
		c.opts.Observer.CacheLookup(hit)
		if ok {
			answers[i] = a // even a stale answer serves if the store is down
		}
		if !hit {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		if reason := c.fetch(ctx, now, subjects, answers, missing); reason != token.Allowed {
			return reason
		}
	}
	for _, a := range answers {
		if a.entry != nil && a.entry.Covers(claims) {
			return token.Revoked
		}
	}
	return token.Allowed
}

// fetch asks the store about the subjects not answered by the cache and
// caches what it says, unless an invalidation arrived meanwhile.
func (c *Checker) fetch(ctx context.Context, now time.Time, subjects []Subject, answers []*answer, missing []int) token.Reason {
	ask := make([]Subject, len(missing))
	for j, i := range missing {
		ask[j] = subjects[i]
	}
	got, err := c.lookup(ctx, ask)
	if err != nil {
		for _, i := range missing {
			a := answers[i]
			if a == nil || c.opts.StaleFor <= 0 || now.Sub(a.fetched) > c.opts.StaleFor {
				return token.RevocationUnavailable
			}
		}
		return token.Allowed // every answer comes from the cache, stale but allowed
	}
	for j, i := range missing {
		answers[i] = got[j]
	}
	return token.Allowed
}

// lookup asks the store once for concurrent requests asking about the same
// subjects (a burst of requests for one new token costs one round trip).
// The flight is keyed by the invalidation generation too: a request that
// starts after an invalidation never takes an answer read before it. The
// flight runs under the store timeout, whatever happens to the request
// that started it; each request stops waiting when its own context ends.
func (c *Checker) lookup(ctx context.Context, ask []Subject) ([]*answer, error) {
	gen := c.gen.Load()
	var key strings.Builder
	key.WriteString(strconv.FormatUint(gen, 10))
	for _, s := range ask {
		k := cacheKey(s)
		key.WriteString("\x00" + strconv.Itoa(len(k)) + ":" + k)
	}
	flight := c.flights.DoChan(key.String(), func() (any, error) {
		epoch := c.epoch.Load()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.Timeout)
		defer cancel()
		start := time.Now()
		entries, err := c.store.Lookup(fctx, ask)
		c.opts.Observer.StoreCall("lookup", time.Since(start), err)
		if err != nil {
			return nil, err
		}
		got := make([]*answer, len(ask))
		for j, e := range entries {
			got[j] = &answer{entry: e, fetched: start, epoch: epoch}
			if c.gen.Load() == gen {
				c.cache.SetWithTTL(cacheKey(ask[j]), got[j], 1, c.keep(got[j], start))
			}
		}
		return got, nil
	})
	select {
	case r := <-flight:
		if r.Shared {
			c.opts.Observer.LookupShared()
		}
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]*answer), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// keep is how long ristretto holds an answer: a revocation until it
// expires, a "not revoked" answer as long as it could be fresh or serve as
// a stale one.
func (c *Checker) keep(a *answer, now time.Time) time.Duration {
	d := max(c.opts.QuietTTL, c.opts.LiveTTL, c.opts.StaleFor)
	if a.entry != nil && !a.entry.Expires.IsZero() {
		d = max(a.entry.Expires.Sub(now), time.Millisecond)
	}
	return d
}

// use spends a use of a counted token, or finds the client's session
// open. Counting cannot be done from a cache, so it always fails closed;
// only "no uses left for this client" is cached.
func (c *Checker) use(ctx context.Context, claims *token.Claims, client string) token.Reason {
	key := usesKey(claims.ID) + "\x00" + client
	if _, ok := c.cache.Get(key); ok {
		return token.UsesExhausted
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	start := time.Now()
	n, err := c.store.Use(ctx, Spend{JTI: claims.ID, Client: client, Window: c.opts.UseWindow,
		Limit: claims.Uses, Expires: claims.ExpiresAt.Time})
	c.opts.Observer.StoreCall("use", time.Since(start), err)
	if err != nil {
		return token.RevocationUnavailable
	}
	if n > claims.Uses {
		if d := time.Until(claims.ExpiresAt.Time); d > 0 {
			c.cache.SetWithTTL(key, &answer{}, 1, d)
		}
		return token.UsesExhausted
	}
	return token.Allowed
}

// Revoke normalizes and stores an entry, and drops this gateway's cached
// answer at once (others hear through the store's announcement).
func (c *Checker) Revoke(ctx context.Context, e Entry) (Entry, error) {
	if err := e.Normalize(time.Now(), c.opts.MaxTTL); err != nil {
		return e, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	start := time.Now()
	err := c.store.Revoke(ctx, e)
	c.opts.Observer.StoreCall("revoke", time.Since(start), err)
	c.Invalidate(e.Subject)
	return e, err
}

// Remove deletes the entry for a subject.
func (c *Checker) Remove(ctx context.Context, s Subject) (bool, error) {
	if err := s.Validate(); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	start := time.Now()
	found, err := c.store.Remove(ctx, s)
	c.opts.Observer.StoreCall("remove", time.Since(start), err)
	c.Invalidate(s)
	return found, err
}

// List returns the active revocations.
func (c *Checker) List(ctx context.Context) ([]Entry, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	start := time.Now()
	entries, err := c.store.List(ctx)
	c.opts.Observer.StoreCall("list", time.Since(start), err)
	return entries, err
}

type nopObserver struct{}

func (nopObserver) CacheLookup(bool)                       {}
func (nopObserver) StoreCall(string, time.Duration, error) {}
func (nopObserver) LookupShared()                          {}

// Wait blocks until the cache has applied pending writes (tests and
// benchmarks: ristretto applies Sets asynchronously).
func (c *Checker) Wait() { c.cache.Wait() }
