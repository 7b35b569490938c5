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
	// Use counts a use of a counted token atomically across every gateway
	// sharing the store (see Spend). It returns 0 when the client's session
	// is open (nothing spent), else the count including this use.
	Use(ctx context.Context, s Spend) (int64, error)
	// Watch registers a listener for changes made by any gateway and for
	// the state of that feed; it returns a function that unregisters it.
	Watch(l Listener) (stop func())
	// Close releases the store's connections and goroutines.
	Close() error
}

// Spend asks for one use of a counted token. A use is a client session:
// the first request from a client address spends one use and, while the
// count is within Limit, opens a session for that address; the address's
// later requests spend nothing while the session is open, and each one
// keeps it open for Window more. So a player's seeks and a download
// manager's parallel ranges cost one use, and a second client opening the
// link spends another (and is refused once Limit is passed). Nothing
// outlives Expires (the token's exp).
type Spend struct {
	JTI     string
	Client  string
	Window  time.Duration
	Limit   int64
	Expires time.Time
}

// sessionEnd is when a session opened or kept at now ends.
func (s Spend) sessionEnd(now time.Time) time.Time {
	end := now.Add(s.Window)
	if end.After(s.Expires) {
		return s.Expires
	}
	return end
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
