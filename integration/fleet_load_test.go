package integration

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/revocation"
)

// A bounded, closed-loop load on a fleet from Go, on loopback only: each
// worker sends one request after another to its gateway, cycling through
// three kinds of token, until stopped or until maxLoadRequests were sent.
const maxLoadRequests = 200_000

type loadKind int

const (
	freshToken   loadKind = iota // never seen before: the gateway must ask the store
	cachedToken                  // warmed into every gateway's cache, not revoked
	revokedToken                 // revoked before the load began
)

type loadSample struct {
	at     time.Duration // when the request was sent, since the load began
	took   time.Duration
	gw     int
	kind   loadKind
	status int
	reason string
	err    error
}

type fleetLoad struct {
	start   time.Time
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	samples []loadSample
}

// loadTokens are the tokens a load sends besides fresh ones.
type loadTokens struct {
	cached, revoked []string
}

// prepareLoad mints n cached and n revoked tokens: the cached ones are
// fetched once on every gateway, the revoked ones revoked through the
// first gateway and seen revoked on every gateway.
func prepareLoad(t *testing.T, fleet []*revGateway, k *keys, n int) loadTokens {
	t.Helper()
	var lt loadTokens
	for range n {
		tok := mint(t, claims("/f/"), k.hs)
		for _, g := range fleet {
			if st, reason := g.get(t, tok); st != http.StatusOK {
				t.Fatalf("warming a token: %d %s", st, reason)
			}
		}
		lt.cached = append(lt.cached, tok)
		c := claims("/f/")
		tok = mint(t, c, k.hs)
		fleet[0].revoke(t, revocation.Entry{Subject: revocation.Subject{Kind: revocation.JTI, ID: c.ID}})
		for _, g := range fleet {
			if st, reason := g.get(t, tok); reason != "revoked" {
				t.Fatalf("a revoked token: %d %s", st, reason)
			}
		}
		lt.revoked = append(lt.revoked, tok)
	}
	return lt
}

// startLoad starts perGateway workers on each gateway.
func startLoad(t *testing.T, fleet []*revGateway, k *keys, lt loadTokens, perGateway int) *fleetLoad {
	l := &fleetLoad{start: time.Now(), stop: make(chan struct{})}
	budget := make(chan struct{}, maxLoadRequests)
	for range maxLoadRequests {
		budget <- struct{}{}
	}
	close(budget)
	for w := range perGateway * len(fleet) {
		gi := w % len(fleet)
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer client.CloseIdleConnections()
			for n := w; ; n++ {
				select {
				case <-l.stop:
					return
				case _, ok := <-budget:
					if !ok {
						return
					}
				}
				s := loadSample{gw: gi, kind: loadKind(n % 3)}
				var tok string
				switch s.kind {
				case freshToken:
					tok = mint(t, claims("/f/"), k.hs)
				case cachedToken:
					tok = lt.cached[n%len(lt.cached)]
				case revokedToken:
					tok = lt.revoked[n%len(lt.revoked)]
				}
				sent := time.Now()
				s.at = sent.Sub(l.start)
				s.status, s.reason, s.err = fleet[gi].try(client, tok)
				s.took = time.Since(sent)
				l.mu.Lock()
				l.samples = append(l.samples, s)
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// since is the load's clock.
func (l *fleetLoad) since() time.Duration { return time.Since(l.start) }

// Stop ends the load and returns what every request got.
func (l *fleetLoad) Stop() []loadSample {
	close(l.stop)
	l.wg.Wait()
	return l.samples
}

// failoverReport is what a load saw around a store failure at failAt.
type failoverReport struct {
	requests, unavailable int
	firstErr, lastErr     time.Duration // of 503s, relative to failAt
	slowest               time.Duration
	perGateway            [3]int // 503s
}

func (r failoverReport) String() string {
	if r.unavailable == 0 {
		return fmt.Sprintf("%d requests, no 503, slowest %v", r.requests, r.slowest.Round(time.Millisecond))
	}
	return fmt.Sprintf("%d requests, %d answered 503 revocation_unavailable (per gateway %v) from %+dms to %+dms after the failure: error window %dms; slowest request %v",
		r.requests, r.unavailable, r.perGateway, r.firstErr.Milliseconds(), r.lastErr.Milliseconds(),
		(r.lastErr - r.firstErr).Milliseconds(), r.slowest.Round(time.Millisecond))
}

// checkFailover asserts the fleet's promises under a store failure: no
// revoked token admitted, ever; fresh tokens admitted or refused with 503
// revocation_unavailable (a revoked one refused either way); cached tokens
// served (from cache, within stale_for); no request slower than maxTook.
func checkFailover(t *testing.T, samples []loadSample, failAt, maxTook time.Duration) failoverReport {
	t.Helper()
	var r failoverReport
	r.firstErr = time.Duration(1 << 62)
	for _, s := range samples {
		r.requests++
		r.slowest = max(r.slowest, s.took)
		if s.err != nil {
			t.Errorf("request at %v on gateway %d: %v", s.at, s.gw, s.err)
			continue
		}
		unavailable := s.status == http.StatusServiceUnavailable && s.reason == "revocation_unavailable"
		switch {
		case s.kind == revokedToken && s.status == http.StatusUnauthorized && s.reason == "revoked":
		case s.kind == revokedToken && !unavailable:
			t.Errorf("revoked token at %v on gateway %d: %d %q", s.at-failAt, s.gw, s.status, s.reason)
		case s.kind == cachedToken && s.status == http.StatusOK:
		case s.kind == freshToken && s.status == http.StatusOK:
		case s.kind != cachedToken && unavailable: // a revoked token is refused either way
			r.unavailable++
			r.perGateway[s.gw]++
			r.firstErr = min(r.firstErr, s.at-failAt)
			r.lastErr = max(r.lastErr, s.at+s.took-failAt)
		default:
			t.Errorf("%v token at %v on gateway %d: %d %q", s.kind, s.at-failAt, s.gw, s.status, s.reason)
		}
	}
	if r.unavailable == 0 {
		r.firstErr = 0
	}
	if r.slowest > maxTook {
		t.Errorf("a request took %v (limit %v)", r.slowest, maxTook)
	}
	return r
}

func (k loadKind) String() string { return [...]string{"fresh", "cached", "revoked"}[k] }

// waitRecovered waits until every gateway admits fresh tokens again, 20
// in a row (on a Cluster only a third of new tokens have their jti on the
// failed shard), and returns how long that took from failAt on the load
// clock.
func waitRecovered(t *testing.T, l *fleetLoad, fleet []*revGateway, k *keys, failAt, limit time.Duration) time.Duration {
	t.Helper()
	deadline := time.Now().Add(limit)
	for i, g := range fleet {
		ok := 0
		for ok < 20 {
			if time.Now().After(deadline) {
				t.Fatalf("gateway %d did not recover within %v of the failure", i, limit)
			}
			if st, _ := g.get(t, mint(t, claims("/f/"), k.hs)); st == http.StatusOK {
				ok++
			} else {
				ok = 0
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	return l.since() - failAt
}

// measurePropagation revokes a fresh token through each gateway in turn,
// rounds times, and measures from the admin call's start until each
// gateway denies it. Every gateway has cached "not revoked" first.
func measurePropagation(t *testing.T, fleet []*revGateway, k *keys, rounds int) (p50, p99, worst time.Duration) {
	t.Helper()
	var (
		mu     sync.Mutex
		delays []time.Duration
	)
	for i := range rounds {
		c := claims("/f/")
		tok := mint(t, c, k.hs)
		for _, g := range fleet {
			if st, reason := g.get(t, tok); st != http.StatusOK {
				t.Fatalf("before revocation: %d %s", st, reason)
			}
		}
		start := time.Now()
		fleet[i%len(fleet)].revoke(t, revocation.Entry{Subject: revocation.Subject{Kind: revocation.JTI, ID: c.ID}})
		var wg sync.WaitGroup
		for _, g := range fleet {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Since(start) < 5*time.Second {
					if _, reason, err := g.try(revClient, tok); err == nil && reason == "revoked" {
						mu.Lock()
						delays = append(delays, time.Since(start))
						mu.Unlock()
						return
					}
				}
				t.Errorf("round %d: a gateway still admits the token 5s after its revocation", i)
			}()
		}
		wg.Wait()
	}
	if len(delays) != len(fleet)*rounds {
		t.Fatalf("%d of %d propagations measured", len(delays), len(fleet)*rounds)
	}
	slices.Sort(delays)
	return delays[len(delays)/2], delays[len(delays)*99/100], delays[len(delays)-1]
}
