package integration

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// redisCalls counts the GET and PTTL commands a Redis has run (INFO
// commandstats): what revocation lookups send, and nothing else does.
func redisCalls(t *testing.T, addr string) int64 {
	t.Helper()
	var n int64
	for _, line := range strings.Split(testenv.RedisCommand(addr, "INFO commandstats"), "\r\n") {
		for _, cmd := range []string{"cmdstat_get:", "cmdstat_pttl:"} {
			if rest, ok := strings.CutPrefix(line, cmd); ok {
				calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
				c, err := strconv.ParseInt(calls, 10, 64)
				if err != nil {
					t.Fatalf("INFO commandstats line %q", line)
				}
				n += c
			}
		}
	}
	return n
}

// burst sends one request per token, all at once, and wants 200 for each.
func burst(t *testing.T, g *revGateway, toks []string) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, tok := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if st, reason, err := g.try(revClient, tok); err != nil || st != http.StatusOK {
				t.Errorf("burst request: %d %q %v", st, reason, err)
			}
		}()
	}
	close(start)
	wg.Wait()
}

// A burst of concurrent requests for one new token costs one store lookup
// (one PTTL: the key's entry is cached), counted on the real Redis. The
// server is paused (CLIENT PAUSE) while the burst arrives, so every
// request is in flight at once; without coalescing each would send its own.
// A burst of distinct new tokens costs one command per request.
func TestRevocationBurstCoalesces(t *testing.T) {
	r := testenv.StartRedis(t)
	k := newKeys(t)
	g := startRevGateway(t, k, fileRoot(t), "redis {\n\t\t\taddresses "+r.Addr+"\n\t\t\ttimeout 3s\n\t\t}")
	if st, reason := g.get(t, mint(t, claims("/f/"), k.hs)); st != http.StatusOK { // caches kid:hs1
		t.Fatalf("warm-up: %d %s", st, reason)
	}
	time.Sleep(100 * time.Millisecond)

	// Distinct new tokens first: pausing Redis below also pauses the
	// pub/sub feed's pong, which makes every cached answer stale.
	const n = 50
	distinct := make([]string, n)
	for i := range distinct {
		distinct[i] = mint(t, claims("/f/"), k.hs)
	}
	before := redisCalls(t, r.Addr)
	burst(t, g, distinct)
	distinctCalls := redisCalls(t, r.Addr) - before

	same := make([]string, n)
	tok := mint(t, claims("/f/"), k.hs)
	for i := range same {
		same[i] = tok
	}
	before = redisCalls(t, r.Addr)
	if reply := testenv.RedisCommand(r.Addr, "CLIENT PAUSE 1500 ALL"); reply != "+OK\r\n" {
		t.Fatalf("CLIENT PAUSE: %q", reply)
	}
	burst(t, g, same)
	sameCalls := redisCalls(t, r.Addr) - before

	t.Logf("Redis lookup commands: %d for %d concurrent requests with one new token (%.2f per request); %d for %d requests with distinct new tokens (%.2f per request)",
		sameCalls, n, float64(sameCalls)/n, distinctCalls, n, float64(distinctCalls)/n)
	if sameCalls != 1 {
		t.Errorf("%d concurrent requests for one new token sent %d lookup commands, want 1", n, sameCalls)
	}
	if distinctCalls != n {
		t.Errorf("%d requests with distinct new tokens sent %d lookup commands, want %d (one PTTL each)", n, distinctCalls, n)
	}
}
