package integration

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/revocation"
	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// storeTimeout is the gateways' revocation timeout in the failover tests;
// no request may take much longer, whatever the store does.
const storeTimeout = 250 * time.Millisecond

// failoverOptions are the revocation settings of the failover tests:
// cached answers serve for 30s while the store is down, and a write counts
// only once a replica has it.
var failoverOptions = []string{"timeout 250ms", "stale_for 30s", "wait_replicas 1"}

// failoverUnderLoad runs three gateways under load, measures propagation,
// revokes tokens just before calling fail, waits until every gateway
// admits fresh tokens again, calls restore (redundancy back), and checks
// and reports what the load saw.
func failoverUnderLoad(t *testing.T, fleet []*revGateway, k *keys, fail, restore func()) {
	phase := time.Now()
	lt := prepareLoad(t, fleet, k, 10)
	l := startLoad(t, fleet, k, lt, 2)
	stopped := false
	defer func() {
		if !stopped {
			l.Stop()
		}
	}()
	time.Sleep(500 * time.Millisecond)

	rounds := 30
	if n, err := strconv.Atoi(os.Getenv("VALET_FLEET_ROUNDS")); err == nil && n > 0 {
		rounds = n // a longer measurement, by hand
	}
	p50, p99, worst := measurePropagation(t, fleet, k, rounds)
	t.Logf("propagation under load, %d revocations x 3 gateways: p50 %v, p99 %v, max %v", rounds, p50, p99, worst)
	if p99 > 300*time.Millisecond { // the target is 100ms; CI machines are shared
		t.Errorf("p99 propagation under load %v", p99)
	}

	// Revoked just before the failure and never asked about: only the
	// store knows, so after the failover the promoted replica must.
	var late []string
	for range 5 {
		c := claims("/f/")
		late = append(late, mint(t, c, k.hs))
		fleet[0].revoke(t, revocation.Entry{Subject: revocation.Subject{Kind: revocation.JTI, ID: c.ID}})
	}

	failAt := l.since()
	fail()
	recovered := waitRecovered(t, l, fleet, k, failAt, 30*time.Second)
	time.Sleep(time.Second) // load on the recovered fleet
	stopAt := l.since()
	samples := l.Stop()
	stopped = true
	rep := checkFailover(t, samples, failAt, storeTimeout+750*time.Millisecond)
	t.Logf("failover under load: %v; every gateway admitted 20 fresh tokens in a row %dms after the failure", rep, recovered.Milliseconds())
	if rep.unavailable > 0 && failAt+rep.lastErr > stopAt-500*time.Millisecond {
		t.Errorf("503s until %v after the failure, within 500ms of the load's end: not recovered", rep.lastErr)
	}

	for i, g := range fleet {
		for _, tok := range late {
			if st, reason := g.get(t, tok); reason != "revoked" {
				t.Errorf("gateway %d after the failover: a token revoked before it answers %d %q", i, st, reason)
			}
		}
	}
	t.Logf("load phase took %v", time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	restore()
	t.Logf("redundancy restored in %v", time.Since(phase).Round(time.Millisecond))
	for i, g := range fleet {
		if failed := waitWritable(t, g); failed > 0 {
			t.Logf("gateway %d: %d revocations failed after redundancy was back", i, failed)
		}
	}
	p50, p99, worst = measurePropagation(t, fleet, k, 5)
	t.Logf("propagation after the failover: p50 %v, p99 %v, max %v", p50, p99, worst)
	usedOnce(t, fleet, k)
}

// usedOnce sends a single-use token to every gateway at once, from
// several client addresses (a use is a client's session): one admits it.
func usedOnce(t *testing.T, fleet []*revGateway, k *keys) {
	t.Helper()
	c := claims("/f/")
	c.Uses = 1
	tok := mint(t, c, k.hs)
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for i := range 3 {
		for j, g := range fleet {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if st, _, err := g.try(clientFrom(fmt.Sprintf("127.0.2.%d", 1+i*len(fleet)+j)), tok); err == nil && st == http.StatusOK {
					admitted.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	if admitted.Load() != 1 {
		t.Errorf("a single-use token was admitted %d times across the fleet", admitted.Load())
	}
}

// Redis Cluster: the primary serving the pub/sub channel's slot is killed
// (SIGKILL) under load and its replica takes over.
func TestFleetClusterFailoverUnderLoad(t *testing.T) {
	start := time.Now()
	cl := testenv.StartRedisCluster(t)
	t.Logf("cluster up in %v", time.Since(start).Round(time.Millisecond))
	k := newKeys(t)
	opts := append([]string{"cluster", "addresses " + strings.Join(cl.Addrs(), " ")}, failoverOptions...)
	fleet := startFleet(t, k, opts...)
	t.Logf("cluster and fleet up in %v", time.Since(start).Round(time.Millisecond))
	var victim *testenv.Redis
	failoverUnderLoad(t, fleet, k, func() {
		victim = cl.PrimaryFor(revocation.DefaultPrefix + "revocations")
		victim.Stop()
	}, func() {
		victim.Start() // rejoins as a replica of the promoted one
		cl.WaitHealthy(30 * time.Second)
	})
}

// Sentinel: the master hangs (DEBUG SLEEP) under load; requests must not
// hang with it, Sentinel promotes a replica and points the other one at
// it, and the gateways follow.
func TestFleetSentinelFailoverUnderLoad(t *testing.T) {
	start := time.Now()
	master := testenv.StartRedis(t)
	replicas := []*testenv.Redis{testenv.StartReplica(t, master), testenv.StartReplica(t, master)}
	sentinel := testenv.StartSentinelAfter(t, master, "valetmaster", time.Second)
	waitUntil(t, 15*time.Second, "sentinel sees both replicas", func() bool {
		known := testenv.RedisCommand(sentinel, "SENTINEL replicas valetmaster")
		return strings.Contains(known, replicas[0].Addr[10:]) && strings.Contains(known, replicas[1].Addr[10:])
	})
	t.Logf("sentinel set up in %v", time.Since(start).Round(time.Millisecond))
	k := newKeys(t)
	opts := append([]string{"addresses " + sentinel, "master_name valetmaster"}, failoverOptions...)
	fleet := startFleet(t, k, opts...)
	t.Logf("sentinel and fleet up in %v", time.Since(start).Round(time.Millisecond))
	failoverUnderLoad(t, fleet, k, func() {
		go testenv.RedisCommand(master.Addr, "DEBUG SLEEP 30")
	}, func() {
		waitUntil(t, 20*time.Second, "the new master has a replica online", func() bool {
			for _, r := range replicas {
				if r.Info("role") == "master" && strings.Contains(r.Info("slave0"), "state=online") {
					return true
				}
			}
			return false
		})
	})
}

// waitWritable revokes throwaway tokens through g until three in a row
// succeed (a replica that has just resynced can still be slow to
// acknowledge the next write) and returns how many failed.
func waitWritable(t *testing.T, g *revGateway) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	failed := 0
	for inRow := 0; inRow < 3; {
		e := revocation.Entry{Subject: revocation.Subject{Kind: revocation.JTI, ID: "probe-" + token.NewID()}}
		if g.admin(t, http.MethodPost, "", e, nil) == http.StatusOK {
			inRow++
			continue
		}
		inRow, failed = 0, failed+1
		if time.Now().After(deadline) {
			t.Fatalf("revocations did not succeed three times in a row within 10s after redundancy was back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return failed
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
