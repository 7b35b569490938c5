package revocation

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// newClusterStore opens a store on a real Redis Cluster under its own key
// prefix, so that several stores can share one cluster without seeing
// each other's entries.
func newClusterStore(t testing.TB, cl *testenv.RedisCluster, prefix string) *RedisStore {
	t.Helper()
	return newClusterStoreWaiting(t, cl, prefix, 0)
}

func newClusterStoreWaiting(t testing.TB, cl *testenv.RedisCluster, prefix string, replicas int) *RedisStore {
	t.Helper()
	s := NewRedis(redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 cl.Addrs(),
		IsClusterMode:         true,
		ContextTimeoutEnabled: true,
		DialTimeout:           200 * time.Millisecond,
		MaxRetries:            -1,
		DialerRetries:         1,
	}), RedisOptions{Prefix: prefix, PingEvery: 200 * time.Millisecond, WaitReplicas: replicas})
	t.Cleanup(func() { s.Close() })
	return s
}

// The store contract, revocation checks and pub/sub on a real Redis
// Cluster of three primaries with a replica each. No operation may fail
// with CROSSSLOT: every Lua script touches one key, and Lookup is a
// pipeline (not a transaction) that the client splits by node.
func TestRedisCluster(t *testing.T) {
	cl := testenv.StartRedisCluster(t)
	n := 0
	open := func(t testing.TB) Store {
		n++
		return newClusterStore(t, cl, "valet"+strconv.Itoa(n)+":")
	}
	t.Run("RevokeLookupRemoveList", func(t *testing.T) { testRevokeLookup(t, open(t)) })
	t.Run("EntriesExpire", func(t *testing.T) { testExpiry(t, open(t)) })
	t.Run("UseIsAtomic", func(t *testing.T) { testUse(t, open(t)) })

	// A key_prefix with a hash tag puts every key and the channel in one
	// slot: still no multi-key operation, so it works the same.
	t.Run("HashTaggedPrefix", func(t *testing.T) {
		s := newClusterStore(t, cl, "{valet}:")
		if cl.PrimaryFor(s.Key(Subject{JTI, "a"})) != cl.PrimaryFor(s.UsesKey("b")) {
			t.Fatal("hash-tagged keys on different primaries")
		}
		testRevokeLookup(t, s)
		testUse(t, s)
	})

	t.Run("LookupSpansShards", func(t *testing.T) {
		s := open(t).(*RedisStore)
		c := ctx(t)
		// Subjects whose keys live on every primary, in one Lookup.
		owners := map[string]bool{}
		var subs []Subject
		for i := 0; len(owners) < 3 && i < 100; i++ {
			sub := Subject{Group, "g" + strconv.Itoa(i)}
			owners[cl.PrimaryFor(s.Key(sub)).Addr] = true
			subs = append(subs, sub)
		}
		if len(owners) != 3 {
			t.Fatalf("subjects cover %d primaries", len(owners))
		}
		revoked := Entry{Subject: subs[len(subs)-1], Before: time.Now()}
		if err := revoked.Normalize(time.Now(), time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := s.Revoke(c, revoked); err != nil {
			t.Fatal(err)
		}
		got, err := s.Lookup(c, append(subs, Subject{JTI, "not-revoked-token"}))
		if err != nil {
			t.Fatalf("Lookup across %d primaries: %v", len(owners), err)
		}
		for i, e := range got {
			if (e != nil) != (i == len(subs)-1) {
				t.Errorf("Lookup(%s) = %v", subs[i], e)
			}
		}
	})

	// With WaitReplicas, a write is done once the replica of the key's
	// primary has it; asking for more replicas than exist fails the write.
	t.Run("WritesWaitForReplicas", func(t *testing.T) {
		c, cc := ctx(t), context.Background()
		one := newClusterStoreWaiting(t, cl, "wait1:", 1)
		testRevokeLookup(t, one)
		if n, err := one.Use(c, "counted-token", time.Now().Add(time.Minute)); n != 1 || err != nil {
			t.Fatalf("Use = %d, %v", n, err)
		}
		e := Entry{Subject: Subject{JTI, "replicated-token"}}
		if err := e.Normalize(time.Now(), time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := one.Revoke(c, e); err != nil {
			t.Fatal(err)
		}
		replica := cl.Replicas(cl.PrimaryFor(one.Key(e.Subject)))[0]
		if reply := testenv.RedisCommand(replica.Addr, "READONLY\r\nEXISTS "+one.Key(e.Subject)); !strings.HasSuffix(reply, ":1\r\n") {
			t.Errorf("the replica does not have the acknowledged revocation: %q", reply)
		}

		two := newClusterStoreWaiting(t, cl, "wait2:", 2)
		tctx, cancel := context.WithTimeout(cc, 300*time.Millisecond)
		defer cancel()
		if err := two.Revoke(tctx, e); err == nil || !strings.Contains(err.Error(), "1 of 2 replicas") {
			t.Errorf("Revoke waiting for 2 replicas of 1: %v", err)
		}
		tctx, cancel = context.WithTimeout(cc, 300*time.Millisecond)
		defer cancel()
		if _, err := two.Use(tctx, "counted-token", time.Now().Add(time.Minute)); err == nil {
			t.Error("Use waiting for 2 replicas of 1 succeeded")
		}
	})

	t.Run("ChangesReachEveryStore", func(t *testing.T) {
		prefix := "fleet:"
		a, b := newClusterStore(t, cl, prefix), newClusterStore(t, cl, prefix)
		ca := newChecker(t, a, Options{LiveTTL: time.Hour})
		cb := newChecker(t, b, Options{LiveTTL: time.Hour})
		c := ctx(t)
		waitFor(t, 5*time.Second, func() bool { return ca.Live() && cb.Live() })
		now := time.Now()

		// A gateway's revocation (SPUBLISH) reaches the other's cache.
		tc := claims(t, "k1", &now, nil)
		if r := cb.Check(c, tc); r != token.Allowed {
			t.Fatalf("before: %s", r)
		}
		cb.Wait()
		if _, err := ca.Revoke(c, Entry{Subject: Subject{JTI, tc.ID}}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Second, func() bool { return cb.Check(c, tc) == token.Revoked })

		// An application's hand-written SET and PUBLISH, sent to a primary
		// that does not serve the channel's slot, reaches it too (the
		// cluster bus carries a global PUBLISH to every node).
		owner := cl.PrimaryFor(a.Channel())
		var other *testenv.Redis
		for _, p := range cl.Primaries() {
			if p != owner {
				other = p
			}
		}
		tc2 := claims(t, "k1", &now, nil)
		if r := cb.Check(c, tc2); r != token.Allowed {
			t.Fatalf("before: %s", r)
		}
		cb.Wait()
		key := a.Key(Subject{JTI, tc2.ID})
		keyOwner := cl.PrimaryFor(key)
		if reply := testenv.RedisCommand(keyOwner.Addr, "SET "+key+" 1 EX 600"); reply != "+OK\r\n" {
			t.Fatalf("SET on the key's primary: %q", reply)
		}
		if reply := testenv.RedisCommand(other.Addr, "PUBLISH "+a.Channel()+" jti:"+tc2.ID); !strings.HasPrefix(reply, ":") {
			t.Fatalf("PUBLISH: %q", reply)
		}
		waitFor(t, time.Second, func() bool { return cb.Check(c, tc2) == token.Revoked })
	})
}
