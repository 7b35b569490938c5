package integration

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/revocation"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// startFleet starts three gateways sharing one Redis store, configured by
// the lines of its redis block (addresses, cluster, timeout, ...).
func startFleet(t *testing.T, k *keys, options ...string) []*revGateway {
	t.Helper()
	root := fileRoot(t)
	block := "redis {\n\t\t\t" + strings.Join(options, "\n\t\t\t") + "\n\t\t}"
	fleet := make([]*revGateway, 3)
	for i := range fleet {
		fleet[i] = startRevGateway(t, k, root, block)
	}
	return fleet
}

// A revocation made through one node's admin API is enforced by all three,
// and fast: the test measures the delay from the admin call to the first
// denial on each node.
func TestFleetRevocationPropagates(t *testing.T) {
	r := testenv.StartRedis(t)
	k := newKeys(t)
	fleet := startFleet(t, k, "addresses "+r.Addr, "timeout 300ms")
	const rounds = 100
	p50, p99, worst := measurePropagation(t, fleet, k, rounds)
	t.Logf("propagation over %d revocations x 3 nodes: p50 %v, p99 %v, max %v", rounds, p50, p99, worst)
	if p99 > 100*time.Millisecond {
		t.Errorf("p99 propagation %v exceeds 100ms", p99)
	}
}

// Redis stops under load: no request with an uncached token is admitted,
// none hangs; Redis comes back and the fleet serves again without restart.
func TestFleetFailsClosedAndRecovers(t *testing.T) {
	r := testenv.StartRedis(t)
	k := newKeys(t)
	fleet := startFleet(t, k, "addresses "+r.Addr, "timeout 300ms")
	for _, g := range fleet {
		if st, reason := g.get(t, mint(t, claims("/f/"), k.hs)); st != http.StatusOK {
			t.Fatalf("warm-up: %d %s", st, reason)
		}
	}

	var down atomic.Bool
	var admitted, refused, total atomic.Int64
	var slowest atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 12 { // load: fresh tokens, never cached
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := fleet[i%3]
			for {
				select {
				case <-stop:
					return
				default:
				}
				wasDown := down.Load()
				tok := mint(t, claims("/f/"), k.hs)
				start := time.Now()
				st, reason := g.get(t, tok)
				if d := int64(time.Since(start)); d > slowest.Load() && wasDown {
					slowest.Store(d)
				}
				if !wasDown {
					continue
				}
				total.Add(1)
				switch {
				case st == http.StatusOK:
					admitted.Add(1)
				case st == http.StatusServiceUnavailable && reason == "revocation_unavailable":
					refused.Add(1)
				default:
					t.Errorf("with Redis down: %d %q", st, reason)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	r.Stop()
	down.Store(true)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("Redis down: %d requests, %d refused 503, %d admitted; slowest %v",
		total.Load(), refused.Load(), admitted.Load(), time.Duration(slowest.Load()))
	if admitted.Load() != 0 || total.Load() == 0 {
		t.Errorf("%d of %d requests with uncached tokens were admitted while Redis was down", admitted.Load(), total.Load())
	}
	if time.Duration(slowest.Load()) > time.Second {
		t.Errorf("a request took %v with a 300ms store timeout", time.Duration(slowest.Load()))
	}

	r.Start()
	for _, g := range fleet {
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, _ := g.get(t, mint(t, claims("/f/"), k.hs))
			if st == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a node did not recover within 10s of Redis returning")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Revocation works again across the fleet, pub/sub included.
	c := claims("/f/")
	tok := mint(t, c, k.hs)
	for _, g := range fleet {
		g.get(t, tok)
	}
	// A node whose subscription is still in its reconnect backoff (at most
	// 1s) serves a "not revoked" answer for at most quiet_ttl (1s) more.
	start := time.Now()
	fleet[0].revoke(t, revocation.Entry{Subject: revocation.Subject{Kind: revocation.JTI, ID: c.ID}})
	for i, g := range fleet {
		for {
			if _, reason := g.get(t, tok); reason == "revoked" {
				break
			}
			if time.Since(start) > 2500*time.Millisecond {
				t.Fatalf("node %d still admits a revoked token 2.5s after recovery", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("revocation right after recovery enforced fleet-wide in %v", time.Since(start))
}
