package revocation

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Store keeps the revocation list and the use counters. Every method must
// honour the context's deadline: the gateway never waits on a store longer
// than its timeout.
type Store interface {
	// Lookup returns, for each subject in order, its live entry or nil.
	Lookup(ctx context.Context, subjects []Subject) ([]*Entry, error)
	// Revoke stores a normalized entry, replacing one for the same subject,
	// and announces the change.
	Revoke(ctx context.Context, e Entry) error
	// Remove deletes the entry for a subject and announces the change; it
	// reports whether there was one.
	Remove(ctx context.Context, s Subject) (bool, error)
	// List returns every live entry.
	List(ctx context.Context) ([]Entry, error)
	// Use counts one use of a token atomically across every gateway sharing
	// the store and returns the count including this one. The counter
	// disappears after expires (the token's exp).
	Use(ctx context.Context, jti string, expires time.Time) (int64, error)
	// Watch registers a listener for changes made by any gateway and for
	// the state of that feed; it returns a function that unregisters it.
	Watch(l Listener) (stop func())
	// Close releases the store's connections and goroutines.
	Close() error
}

// Listener hears about changes to a store, so caches can drop what they
// hold. A listener must not block.
type Listener interface {
	// Invalidate says the entry for one subject changed.
	Invalidate(s Subject)
	// InvalidateAll says anything may have changed (changes announced while
	// the feed was down are lost).
	InvalidateAll()
	// SetLive says whether changes are being announced right now. While not
	// live, a cache may keep "not revoked" answers only briefly.
	SetLive(live bool)
}

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("revocation store is closed")

// listeners is the fan-out both stores use to tell their listeners.
type listeners struct {
	mu   sync.Mutex
	set  map[*Listener]struct{}
	live bool
}

func (ls *listeners) add(l Listener) func() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.set == nil {
		ls.set = make(map[*Listener]struct{})
	}
	p := &l
	ls.set[p] = struct{}{}
	l.SetLive(ls.live)
	return func() {
		ls.mu.Lock()
		defer ls.mu.Unlock()
		delete(ls.set, p)
	}
}

func (ls *listeners) each(f func(Listener)) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for p := range ls.set {
		f(*p)
	}
}

func (ls *listeners) invalidate(s Subject) { ls.each(func(l Listener) { l.Invalidate(s) }) }

func (ls *listeners) invalidateAll() { ls.each(func(l Listener) { l.InvalidateAll() }) }

// setLive tells listeners only about changes of state.
func (ls *listeners) setLive(live bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.live == live {
		return
	}
	ls.live = live
	for p := range ls.set {
		(*p).SetLive(live)
	}
}
