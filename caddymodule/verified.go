package caddymodule

import (
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// verifiedCache remembers tokens whose signature and shape were verified,
// keyed by the exact token text, so a hot token skips the signature check.
// Time claims are still checked on every request, and a hit is only
// trusted after comparing the stored token text: ristretto keys by hash,
// and a collision must never admit a forged token.
type verifiedCache struct {
	c *ristretto.Cache[string, *verifiedToken]
}

type verifiedToken struct {
	raw    string
	claims *token.Claims
}

func newVerifiedCache(maxEntries int64) (*verifiedCache, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, *verifiedToken]{
		NumCounters: 10 * maxEntries,
		MaxCost:     maxEntries,
		BufferItems: 64,
	})
	if err != nil {
		return nil, err
	}
	return &verifiedCache{c: c}, nil
}

// get returns the verified claims of raw, if cached.
func (vc *verifiedCache) get(raw string) (*token.Claims, bool) {
	v, ok := vc.c.Get(raw)
	if !ok || v.raw != raw {
		return nil, false
	}
	return v.claims, true
}

// put caches verified claims until the token expires (leeway included).
func (vc *verifiedCache) put(raw string, c *token.Claims, until time.Time) {
	if ttl := time.Until(until); ttl > 0 {
		vc.c.SetWithTTL(raw, &verifiedToken{raw: raw, claims: c}, 1, ttl)
	}
}

func (vc *verifiedCache) close() { vc.c.Close() }
