package revocation

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	revokedBucket = []byte("revoked") // "kind:id" -> boltEntry as JSON
	usesBucket    = []byte("uses")    // jti -> count (8 bytes) + expiry in unix ms (8 bytes)
	// sessionsBucket: jti NUL client -> session end + expiry, unix ms (8+8 bytes)
	sessionsBucket = []byte("sessions")
)

type boltEntry struct {
	Before  int64 `json:"before,omitempty"` // unix seconds
	Expires int64 `json:"expires"`          // unix milliseconds
}

// BoltStore keeps revocations in a bbolt file: the embedded default,
// persistent across restarts, for a single gateway. Only one process can
// open the file; other gateways cannot share it.
type BoltStore struct {
	db        *bolt.DB
	listeners listeners
	stop      chan struct{}
	done      sync.WaitGroup
	now       func() time.Time
}

// BoltOptions configure OpenBolt.
type BoltOptions struct {
	// Path is the database file; its directory is created if needed.
	Path string
	// OpenTimeout bounds the wait for the file lock another process holds.
	OpenTimeout time.Duration
	// SweepEvery is how often expired entries and counters are deleted.
	SweepEvery time.Duration
}

// OpenBolt opens (or creates) a bbolt revocation store.
func OpenBolt(o BoltOptions) (*BoltStore, error) {
	if o.Path == "" {
		return nil, fmt.Errorf("bolt revocation store: no path")
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = 5 * time.Second
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = time.Minute
	}
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o700); err != nil {
		return nil, fmt.Errorf("bolt revocation store: %w", err)
	}
	db, err := bolt.Open(o.Path, 0o600, &bolt.Options{Timeout: o.OpenTimeout})
	if err != nil {
		return nil, fmt.Errorf("bolt revocation store %s: %w", o.Path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{revokedBucket, usesBucket, sessionsBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt revocation store %s: %w", o.Path, err)
	}
	s := &BoltStore{db: db, stop: make(chan struct{}), now: time.Now}
	// Nobody else writes the file, so every change is seen: always live.
	s.listeners.setLive(true)
	s.done.Add(1)
	go s.sweepLoop(o.SweepEvery)
	return s, nil
}

// Lookup implements Store. bbolt calls cannot be interrupted; they are
// local file reads, so only the context's state on entry is checked.
func (s *BoltStore) Lookup(ctx context.Context, subjects []Subject) ([]*Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]*Entry, len(subjects))
	now := s.now()
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(revokedBucket)
		for i, sub := range subjects {
			v := b.Get([]byte(sub.String()))
			if v == nil {
				continue
			}
			e, err := decodeBolt(sub, v)
			if err != nil {
				return err
			}
			if e.Live(now) {
				out[i] = e
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt lookup: %w", err)
	}
	return out, nil
}

// Revoke implements Store.
func (s *BoltStore) Revoke(ctx context.Context, e Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v, err := json.Marshal(boltEntry{Before: unixOrZero(e.Before), Expires: e.Expires.UnixMilli()})
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(revokedBucket).Put([]byte(e.Subject.String()), v)
	})
	if err != nil {
		return fmt.Errorf("bolt revoke: %w", err)
	}
	s.listeners.invalidate(e.Subject)
	return nil
}

// Remove implements Store.
func (s *BoltStore) Remove(ctx context.Context, sub Subject) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var found bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(revokedBucket)
		k := []byte(sub.String())
		found = b.Get(k) != nil
		return b.Delete(k)
	})
	if err != nil {
		return false, fmt.Errorf("bolt remove: %w", err)
	}
	s.listeners.invalidate(sub)
	return found, nil
}

// List implements Store.
func (s *BoltStore) List(ctx context.Context) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Entry
	now := s.now()
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(revokedBucket).ForEach(func(k, v []byte) error {
			sub, err := ParseSubject(string(k))
			if err != nil {
				return nil // not ours to judge; never written by this store
			}
			e, err := decodeBolt(sub, v)
			if err != nil {
				return err
			}
			if e.Live(now) {
				out = append(out, *e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("bolt list: %w", err)
	}
	return out, nil
}

// Use implements Store: the session and the count are read and written in
// one bbolt write transaction, and bbolt runs one at a time.
func (s *BoltStore) Use(ctx context.Context, sp Spend) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	now := s.now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		sessions, uses := tx.Bucket(sessionsBucket), tx.Bucket(usesBucket)
		sk := []byte(sp.JTI + "\x00" + sp.Client)
		session := pair(sp.sessionEnd(now).UnixMilli(), sp.Expires.UnixMilli())
		if v := sessions.Get(sk); len(v) == 16 && now.UnixMilli() < int64(binary.BigEndian.Uint64(v[:8])) {
			n = 0
			return sessions.Put(sk, session)
		}
		k := []byte(sp.JTI)
		if v := uses.Get(k); len(v) == 16 && now.UnixMilli() < int64(binary.BigEndian.Uint64(v[8:])) {
			n = int64(binary.BigEndian.Uint64(v[:8]))
		}
		n++
		if n <= sp.Limit {
			if err := sessions.Put(sk, session); err != nil {
				return err
			}
		}
		return uses.Put(k, pair(n, sp.Expires.UnixMilli()))
	})
	if err != nil {
		return 0, fmt.Errorf("bolt use: %w", err)
	}
	return n, nil
}

// pair is two big-endian 64-bit numbers, the form of both use buckets.
func pair(a, b int64) []byte {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v[:8], uint64(a))
	binary.BigEndian.PutUint64(v[8:], uint64(b))
	return v
}

// Watch implements Store; changes come only from this process.
func (s *BoltStore) Watch(l Listener) func() { return s.listeners.add(l) }

// Close implements Store.
func (s *BoltStore) Close() error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	close(s.stop)
	s.done.Wait()
	return s.db.Close()
}

func (s *BoltStore) sweepLoop(every time.Duration) {
	defer s.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// sweep deletes expired entries and counters, so the file never grows
// without bound; Lookup ignores them already before they are swept.
func (s *BoltStore) sweep() {
	now := s.now()
	_ = s.db.Update(func(tx *bolt.Tx) error {
		var dead [][]byte
		c := tx.Bucket(revokedBucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var be boltEntry
			if json.Unmarshal(v, &be) == nil && be.Expires != 0 && now.UnixMilli() >= be.Expires {
				dead = append(dead, bytes.Clone(k))
			}
		}
		for _, k := range dead {
			tx.Bucket(revokedBucket).Delete(k)
		}
		for _, bucket := range [][]byte{usesBucket, sessionsBucket} {
			dead = dead[:0]
			c = tx.Bucket(bucket).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if len(v) != 16 || now.UnixMilli() >= int64(binary.BigEndian.Uint64(v[8:])) {
					dead = append(dead, bytes.Clone(k))
				}
			}
			for _, k := range dead {
				tx.Bucket(bucket).Delete(k)
			}
		}
		return nil
	})
}

func decodeBolt(sub Subject, v []byte) (*Entry, error) {
	var be boltEntry
	if err := json.Unmarshal(v, &be); err != nil {
		return nil, fmt.Errorf("entry %s: %w", sub, err)
	}
	e := &Entry{Subject: sub}
	if be.Before != 0 {
		e.Before = time.Unix(be.Before, 0)
	}
	if be.Expires != 0 {
		e.Expires = time.UnixMilli(be.Expires)
	}
	return e, nil
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
