package caddymodule

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// verifiedCache remembers tokens whose signature and shape were verified,
// keyed by the exact token text, so a hot token skips the signature check.
// Time claims are still checked on every request, and a hit is only
// trusted after comparing the stored token text: ristretto keys by hash,
// and a collision must never admit a forged token.
//
// A token is cached from its second verification on: a doorkeeper, one
// hash per slot, remembers tokens verified once. Links used once (most of
// a cold load) then never pay for a cache insert, nor push hot tokens out;
// a token used again pays one more verification before it is cached.
type verifiedCache struct {
	c    *ristretto.Cache[string, *verifiedToken]
	seed maphash.Seed
	seen []atomic.Uint64 // the doorkeeper; its length is a power of two
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
	// As many slots as entries (a power of two from 1024 to 1M, 8 MB): a
	// token must come back before about that many other new tokens went by.
	slots := 1 << min(20, max(10, bits.Len64(uint64(maxEntries-1))))
	return &verifiedCache{c: c, seed: maphash.MakeSeed(), seen: make([]atomic.Uint64, slots)}, nil
}

// get returns the verified claims of raw, if cached.
func (vc *verifiedCache) get(raw string) (*token.Claims, bool) {
	v, ok := vc.c.Get(raw)
	if !ok || v.raw != raw {
		return nil, false
	}
	return v.claims, true
}

// put caches verified claims until the token expires (leeway included),
// if the doorkeeper saw the token before.
func (vc *verifiedCache) put(raw string, c *token.Claims, until time.Time) {
	h := maphash.String(vc.seed, raw)
	if slot := &vc.seen[h&uint64(len(vc.seen)-1)]; slot.Swap(h) != h {
		return // first sighting
	}
	if ttl := time.Until(until); ttl > 0 {
		vc.c.SetWithTTL(raw, &verifiedToken{raw: raw, claims: c}, 1, ttl)
	}
}

func (vc *verifiedCache) close() { vc.c.Close() }
