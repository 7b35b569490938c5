package revocation

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

func newChecker(t testing.TB, s Store, o Options) *Checker {
	t.Helper()
	c, err := NewChecker(s, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestCheckerRevokes(t *testing.T) {
	for name, open := range storeKinds {
		t.Run(name, func(t *testing.T) {
			ch := newChecker(t, open(t), Options{})
			c := ctx(t)
			past := time.Now().Add(-time.Hour)
			later := time.Now().Add(time.Hour)
			byJTI := claims(t, "k1", &past, nil)
			inGroup := claims(t, "k1", &past, func(c *token.Claims) { c.Group = "user:42" })
			oldK2 := claims(t, "k2", &past, nil)
			newK2 := claims(t, "k2", &later, nil)
			noIatK2 := claims(t, "k2", nil, nil)
			oldAud := claims(t, "k1", &past, func(c *token.Claims) { c.Audience = []string{"app-a"} })
			bystander := claims(t, "k1", &past, nil)
			all := []*token.Claims{byJTI, inGroup, oldK2, newK2, noIatK2, oldAud, bystander}
			for _, tc := range all { // warm the cache with "not revoked"
				if r := ch.Check(c, tc, "203.0.113.1"); r != token.Allowed {
					t.Fatalf("before revocation: %s", r)
				}
			}
			for _, e := range []Entry{
				{Subject: Subject{JTI, byJTI.ID}},
				{Subject: Subject{Group, "user:42"}},
				{Subject: Subject{Key, "k2"}, Before: time.Now()},
				{Subject: Subject{Audience, "app-a"}, Before: time.Now()},
			} {
				if _, err := ch.Revoke(c, e); err != nil {
					t.Fatal(err)
				}
			}
			want := map[*token.Claims]token.Reason{
				byJTI: token.Revoked, inGroup: token.Revoked, oldK2: token.Revoked,
				newK2: token.Allowed, noIatK2: token.Revoked, oldAud: token.Revoked,
				bystander: token.Allowed,
			}
			for tc, w := range want {
				if r := ch.Check(c, tc, "203.0.113.1"); r != w {
					t.Errorf("token jti=%s kid=%s grp=%q: %q, want %q", tc.ID, tc.KeyID(), tc.Group, r, w)
				}
			}
			if _, err := ch.Remove(c, Subject{Group, "user:42"}); err != nil {
				t.Fatal(err)
			}
			if r := ch.Check(c, inGroup, "203.0.113.1"); r != token.Allowed {
				t.Errorf("after removing the group entry: %q", r)
			}
			if _, err := ch.Revoke(c, Entry{Subject: Subject{Key, "k2"}}); err == nil {
				t.Error("a key revocation without cutoff was accepted")
			}
		})
	}
}

func TestSingleUseUnderConcurrency(t *testing.T) {
	for name, open := range storeKinds {
		t.Run(name, func(t *testing.T) {
			ch := newChecker(t, open(t), Options{})
			c := ctx(t)
			now := time.Now()
			once := claims(t, "k1", &now, func(c *token.Claims) { c.Uses = 1 })
			thrice := claims(t, "k1", &now, func(c *token.Claims) { c.Uses = 3 })
			for _, tc := range []struct {
				c    *token.Claims
				want int64
			}{{once, 1}, {thrice, 3}} {
				var allowed, exhausted atomic.Int64
				var wg sync.WaitGroup
				for i := range 50 { // 50 clients, each a use
					wg.Add(1)
					go func() {
						defer wg.Done()
						switch r := ch.Check(c, tc.c, fmt.Sprint("203.0.113.", i)); r {
						case token.Allowed:
							allowed.Add(1)
						case token.UsesExhausted:
							exhausted.Add(1)
						default:
							t.Errorf("unexpected %q", r)
						}
					}()
				}
				wg.Wait()
				if allowed.Load() != tc.want || exhausted.Load() != 50-tc.want {
					t.Errorf("uses=%d: %d allowed, %d exhausted", tc.want, allowed.Load(), exhausted.Load())
				}
			}
		})
	}
}

// Two gateways on one Redis: a revocation on one reaches the other's cache
// through pub/sub, long before LiveTTL.
func TestRevocationPropagates(t *testing.T) {
	r := testenv.StartRedis(t)
	sa, sb := newRedisStore(r.Addr), newRedisStore(r.Addr)
	t.Cleanup(func() { sa.Close(); sb.Close() })
	a := newChecker(t, sa, Options{LiveTTL: time.Hour})
	b := newChecker(t, sb, Options{LiveTTL: time.Hour})
	c := ctx(t)
	waitFor(t, time.Second, func() bool { return a.Live() && b.Live() })
	var worst time.Duration
	for range 20 {
		now := time.Now()
		tc := claims(t, "k1", &now, nil)
		if r := a.Check(c, tc, "203.0.113.1"); r != token.Allowed {
			t.Fatalf("before: %s", r)
		}
		start := time.Now()
		if _, err := b.Revoke(c, Entry{Subject: Subject{JTI, tc.ID}}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Second, func() bool { return a.Check(c, tc, "203.0.113.1") == token.Revoked })
		worst = max(worst, time.Since(start))
	}
	t.Logf("worst propagation over 20 revocations: %v", worst)
}

// The fault test at package level: Redis stops, uncached tokens fail
// closed without waiting past the timeout, cached ones are served only
// within StaleFor, and everything recovers when Redis is back.
func TestStoreDownFailsClosedAndRecovers(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newRedisStore(r.Addr)
	t.Cleanup(func() { s.Close() })
	ch := newChecker(t, s, Options{Timeout: 300 * time.Millisecond, StaleFor: 2 * time.Second})
	c := ctx(t)
	now := time.Now()
	warm := claims(t, "k1", &now, nil)
	waitFor(t, time.Second, ch.Live)
	if got := ch.Check(c, warm, "203.0.113.1"); got != token.Allowed {
		t.Fatalf("warm: %s", got)
	}
	ch.cache.Wait()
	r.Stop()
	waitFor(t, 3*time.Second, func() bool { return !ch.Live() })

	start := time.Now()
	if got := ch.Check(c, claims(t, "k1", &now, nil), "203.0.113.1"); got != token.RevocationUnavailable {
		t.Errorf("uncached token with the store down: %q", got)
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("check took %v with a 300ms timeout", d)
	}
	if got := ch.Check(c, warm, "203.0.113.1"); got != token.Allowed {
		t.Errorf("cached token within stale_for: %q", got)
	}
	counted := claims(t, "k1", &now, func(c *token.Claims) { c.Uses = 5 })
	if got := ch.Check(c, counted, "203.0.113.1"); got != token.RevocationUnavailable {
		t.Errorf("counted token with the store down: %q", got)
	}
	time.Sleep(2100 * time.Millisecond)
	if got := ch.Check(c, warm, "203.0.113.1"); got != token.RevocationUnavailable {
		t.Errorf("cached token past stale_for: %q", got)
	}

	r.Start()
	waitFor(t, 5*time.Second, func() bool { return ch.Check(c, claims(t, "k1", &now, nil), "203.0.113.1") == token.Allowed })
	waitFor(t, 5*time.Second, ch.Live)
}

func TestEmbeddedStoreSurvivesRestart(t *testing.T) {
	path := t.TempDir() + "/rev.db"
	c := ctx(t)
	now := time.Now()
	tc := claims(t, "k1", &now, nil)
	s, err := OpenBolt(BoltOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := NewChecker(s, Options{})
	if _, err := ch.Revoke(c, Entry{Subject: Subject{JTI, tc.ID}}); err != nil {
		t.Fatal(err)
	}
	ch.Close()
	s.Close()
	s, err = OpenBolt(BoltOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ch = newChecker(t, s, Options{})
	if got := ch.Check(c, tc, "203.0.113.1"); got != token.Revoked {
		t.Errorf("after reopening: %q", got)
	}
}

func waitFor(t testing.TB, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
