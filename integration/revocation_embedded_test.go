package integration

import (
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/revocation"
)

// The embedded store: revocations by jti, group and key cutoff are
// enforced, listed and removable through the admin API, and survive a
// restart of the gateway.
func TestRevocationEmbeddedSurvivesRestart(t *testing.T) {
	k := newKeys(t)
	root := fileRoot(t)
	db := filepath.Join(t.TempDir(), "revocations.db")
	block := "bolt {\n\t\t\tpath " + db + "\n\t\t}"
	g := startRevGateway(t, k, root, block)

	jtiClaims := claims("/f/")
	byJTI := mint(t, jtiClaims, k.hs)
	grpClaims := claims("/f/")
	grpClaims.Group = "user:42"
	byGroup := mint(t, grpClaims, k.hs)
	old := mint(t, claims("/f/"), k.ed)
	for _, tok := range []string{byJTI, byGroup, old} {
		if st, r := g.get(t, tok); st != http.StatusOK {
			t.Fatalf("before revocation: %d %s", st, r)
		}
	}
	jti := jtiClaims.ID // Mint filled it in
	g.revoke(t, revocation.Entry{Subject: revocation.Subject{Kind: revocation.JTI, ID: jti}})
	g.revoke(t, revocation.Entry{Subject: revocation.Subject{Kind: revocation.Group, ID: "user:42"}})
	time.Sleep(1100 * time.Millisecond) // a new second: tokens minted after the cutoff are later than it
	g.revoke(t, revocation.Entry{Subject: revocation.Subject{Kind: revocation.Key, ID: "ed1"}, Before: time.Now().Add(-time.Second)})
	time.Sleep(1100 * time.Millisecond)
	fresh := mint(t, claims("/f/"), k.ed)

	check := func(g *revGateway) {
		t.Helper()
		for name, tok := range map[string]string{"jti": byJTI, "group": byGroup, "key cutoff": old} {
			if st, r := g.get(t, tok); st != http.StatusUnauthorized || r != "revoked" {
				t.Errorf("%s-revoked token: %d %q", name, st, r)
			}
		}
		if st, r := g.get(t, fresh); st != http.StatusOK {
			t.Errorf("token minted after the cutoff: %d %q", st, r)
		}
	}
	check(g)
	var list []revocation.Entry
	if g.admin(t, http.MethodGet, "", nil, &list); len(list) != 3 {
		t.Errorf("listed %d revocations, want 3: %+v", len(list), list)
	}

	stopAt := time.Now()
	g.Stop()
	t.Logf("stop took %v", time.Since(stopAt))
	g = startRevGateway(t, k, root, block)
	check(g)

	var removed map[string]bool
	g.admin(t, http.MethodDelete, "?kind=grp&id=user:42", nil, &removed)
	if !removed["removed"] {
		t.Error("DELETE did not find the group entry")
	}
	if st, r := g.get(t, byGroup); st != http.StatusOK {
		t.Errorf("after removing the group entry: %d %q", st, r)
	}
	if st := g.admin(t, http.MethodPost, "", map[string]string{"kind": "kid", "id": "x", "bogus": "1"}, nil); st != http.StatusBadRequest {
		t.Errorf("unknown field: %d, want 400", st)
	}
}

// A single-use token under 50 concurrent requests from 50 client
// addresses is served to exactly one (a use is a client's session).
func TestRevocationSingleUseConcurrent(t *testing.T) {
	k := newKeys(t)
	g := startRevGateway(t, k, fileRoot(t), "bolt {\n\t\t\tpath "+filepath.Join(t.TempDir(), "r.db")+"\n\t\t}")
	c := claims("/f/")
	c.Uses = 1
	tok := mint(t, c, k.hs)
	var ok, exhausted atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(i+1))}}
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: from.DialContext}}
			resp, err := client.Get("http://" + g.site + "/f/a.txt?vk=" + tok)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			switch st, r := resp.StatusCode, resp.Header.Get("Valet-Reason"); {
			case st == http.StatusOK:
				ok.Add(1)
			case r == "uses_exhausted":
				exhausted.Add(1)
			default:
				t.Errorf("unexpected %d %q", st, r)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || exhausted.Load() != 49 {
		t.Errorf("%d served, %d exhausted; want 1 and 49", ok.Load(), exhausted.Load())
	}
}
