package revocation

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestStores runs the same contract against every store kind.
func TestStores(t *testing.T) {
	for name, open := range storeKinds {
		t.Run(name, func(t *testing.T) {
			t.Run("RevokeLookupRemoveList", func(t *testing.T) { testRevokeLookup(t, open(t)) })
			t.Run("EntriesExpire", func(t *testing.T) { testExpiry(t, open(t)) })
			t.Run("UseIsAtomic", func(t *testing.T) { testUse(t, open(t)) })
			t.Run("UseSessions", func(t *testing.T) { testSessions(t, open(t)) })
		})
	}
}

func testRevokeLookup(t *testing.T, s Store) {
	c := ctx(t)
	now := time.Now()
	cut := now.Add(-time.Minute).Truncate(time.Second)
	revoked := []Entry{
		{Subject: Subject{JTI, "token-0123456789ab"}},
		{Subject: Subject{Group, "user:42"}},
		{Subject: Subject{Key, "k1"}, Before: cut},
	}
	for i := range revoked {
		if err := revoked[i].Normalize(now, time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := s.Revoke(c, revoked[i]); err != nil {
			t.Fatal(err)
		}
	}
	subs := []Subject{{JTI, "token-0123456789ab"}, {JTI, "other-0123456789ab"}, {Group, "user:42"}, {Key, "k1"}, {Audience, "x"}}
	got, err := s.Lookup(c, subs)
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{true, false, true, true, false}
	for i := range subs {
		if (got[i] != nil) != want[i] {
			t.Errorf("Lookup(%s) = %v, want revoked=%v", subs[i], got[i], want[i])
		}
	}
	if !got[3].Before.Equal(cut) {
		t.Errorf("cutoff = %v, want %v", got[3].Before, cut)
	}
	if d := got[0].Expires.Sub(revoked[0].Expires); d < -100*time.Millisecond || d > 2*time.Millisecond {
		t.Errorf("expiry = %v, want %v", got[0].Expires, revoked[0].Expires)
	}

	list, err := s.List(c)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Subject.String())
	}
	sort.Strings(names)
	if len(names) != 3 || names[0] != "grp:user:42" || names[1] != "jti:token-0123456789ab" || names[2] != "kid:k1" {
		t.Errorf("List = %v", names)
	}

	found, err := s.Remove(c, Subject{Group, "user:42"})
	if err != nil || !found {
		t.Fatalf("Remove = %v, %v", found, err)
	}
	if found, _ := s.Remove(c, Subject{Group, "user:42"}); found {
		t.Error("second Remove found an entry")
	}
	got, _ = s.Lookup(c, []Subject{{Group, "user:42"}})
	if got[0] != nil {
		t.Error("removed entry still revokes")
	}
}

func testExpiry(t *testing.T, s Store) {
	c := ctx(t)
	e := Entry{Subject: Subject{JTI, "short-lived-token-id"}, Expires: time.Now().Add(300 * time.Millisecond)}
	if err := e.Normalize(time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(c, e); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Lookup(c, []Subject{e.Subject})
	if got[0] == nil {
		t.Fatal("entry not there before its expiry")
	}
	time.Sleep(400 * time.Millisecond)
	got, err := s.Lookup(c, []Subject{e.Subject})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != nil {
		t.Error("entry still revokes after its expiry")
	}
	if list, _ := s.List(c); len(list) != 0 {
		t.Errorf("List after expiry = %v", list)
	}
	// A counter expires with its token too.
	if n, _ := s.Use(c, spend("counted", "a", 5, time.Now().Add(200*time.Millisecond))); n != 1 {
		t.Fatalf("first use = %d", n)
	}
	time.Sleep(300 * time.Millisecond)
	if n, _ := s.Use(c, spend("counted", "a", 5, time.Now().Add(time.Hour))); n != 1 {
		t.Errorf("use after the counter expired = %d, want 1", n)
	}
	if b, ok := s.(*BoltStore); ok { // the sweeper really deletes
		b.sweep()
		n := 0
		b.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(revokedBucket).Stats().KeyN; return nil })
		if n != 0 {
			t.Errorf("%d entries left after sweep", n)
		}
	}
}

func spend(jti, client string, limit int64, exp time.Time) Spend {
	return Spend{JTI: jti, Client: client, Window: time.Minute, Limit: limit, Expires: exp}
}

func testUse(t *testing.T, s Store) {
	c := ctx(t)
	exp := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	seen := make([]bool, 51)
	var mu sync.Mutex
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := s.Use(c, spend("single-use-token-id", fmt.Sprint("client-", i), 1, exp))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if n < 1 || n > 50 || seen[n] {
				t.Errorf("count %d out of range or seen twice", n)
				return
			}
			seen[n] = true
		}()
	}
	wg.Wait()
	for n := 1; n <= 50; n++ {
		if !seen[n] {
			t.Errorf("count %d never returned", n)
		}
	}
}

// testSessions: one client's concurrent first requests spend one use; its
// later requests within the window spend none; a second client past the
// limit opens no session, so each of its requests is refused; after the
// window the first client spends again.
func testSessions(t *testing.T, s Store) {
	c := ctx(t)
	exp := time.Now().Add(time.Minute)
	sp := spend("session-token-id", "198.51.100.1", 1, exp)
	sp.Window = 300 * time.Millisecond
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int64]int{}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := s.Use(c, sp)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			counts[n]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counts[1] != 1 || counts[0] != 19 {
		t.Fatalf("20 concurrent first requests of one client: counts %v, want one 1 and nineteen 0", counts)
	}
	other := sp
	other.Client = "203.0.113.9"
	for want := int64(2); want <= 3; want++ {
		if n, _ := s.Use(c, other); n != want {
			t.Fatalf("second client: %d, want %d (past the limit, no session)", n, want)
		}
	}
	for range 3 {
		time.Sleep(150 * time.Millisecond) // each request keeps the session open
		if n, _ := s.Use(c, sp); n != 0 {
			t.Fatalf("first client within its window: %d, want 0", n)
		}
	}
	time.Sleep(400 * time.Millisecond)
	if n, _ := s.Use(c, sp); n != 4 {
		t.Fatalf("first client after its window: %d, want a new use (4)", n)
	}
}
