package revocation

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// slowStore counts Lookups and holds each until released, as a slow or
// busy store would.
type slowStore struct {
	Store
	lookups atomic.Int64
	release chan struct{}
}

func (s *slowStore) Lookup(ctx context.Context, subs []Subject) ([]*Entry, error) {
	s.lookups.Add(1)
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.Lookup(ctx, subs)
}

// A burst of concurrent requests for one uncached token costs one store
// lookup; all of them get its answer.
func TestConcurrentMissesShareOneLookup(t *testing.T) {
	s := &slowStore{Store: storeKinds["bolt"](t), release: make(chan struct{})}
	ch := newChecker(t, s, Options{})
	c := ctx(t)
	now := time.Now()
	tc := claims(t, "k1", &now, nil)
	const burst = 100
	var wg sync.WaitGroup
	var allowed atomic.Int64
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ch.Check(c, tc) == token.Allowed {
				allowed.Add(1)
			}
		}()
	}
	waitFor(t, 5*time.Second, func() bool { return s.lookups.Load() >= 1 })
	time.Sleep(100 * time.Millisecond) // let the burst arrive while the lookup is out
	close(s.release)
	wg.Wait()
	if n := s.lookups.Load(); n != 1 || allowed.Load() != burst {
		t.Fatalf("%d requests: %d store lookups, %d allowed; want 1 lookup, all allowed", burst, n, allowed.Load())
	}
}

// A request that starts after an invalidation does not take the answer of
// a lookup that started before it: it may predate the revocation.
func TestLookupAfterInvalidationIsNotShared(t *testing.T) {
	s := &slowStore{Store: storeKinds["bolt"](t), release: make(chan struct{})}
	ch := newChecker(t, s, Options{})
	c := ctx(t)
	now := time.Now()
	tc := claims(t, "k1", &now, nil)
	first := make(chan token.Reason)
	go func() { first <- ch.Check(c, tc) }()
	waitFor(t, 5*time.Second, func() bool { return s.lookups.Load() == 1 })

	// Revoked in the store while the first lookup is out (as if its read
	// happened before the write), then announced.
	e := Entry{Subject: Subject{JTI, tc.ID}}
	if err := e.Normalize(time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.Revoke(c, e); err != nil {
		t.Fatal(err)
	}
	ch.Invalidate(e.Subject)
	second := make(chan token.Reason)
	go func() { second <- ch.Check(c, tc) }()
	waitFor(t, 5*time.Second, func() bool { return s.lookups.Load() == 2 })
	close(s.release)
	<-first
	if r := <-second; r != token.Revoked {
		t.Fatalf("a check after the invalidation answered %q", r)
	}
}

// A request that gives up (its client left) does not fail the others
// waiting on the same lookup.
func TestSharedLookupOutlivesItsFirstCaller(t *testing.T) {
	s := &slowStore{Store: storeKinds["bolt"](t), release: make(chan struct{})}
	ch := newChecker(t, s, Options{})
	now := time.Now()
	tc := claims(t, "k1", &now, nil)
	gone, cancel := context.WithCancel(context.Background())
	first := make(chan token.Reason)
	go func() { first <- ch.Check(gone, tc) }()
	waitFor(t, 5*time.Second, func() bool { return s.lookups.Load() == 1 })
	second := make(chan token.Reason)
	go func() { second <- ch.Check(ctx(t), tc) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if r := <-first; r != token.RevocationUnavailable {
		t.Errorf("the cancelled request answered %q", r)
	}
	close(s.release)
	if r := <-second; r != token.Allowed || s.lookups.Load() != 1 {
		t.Fatalf("the waiting request answered %q after %d lookups", r, s.lookups.Load())
	}
}
