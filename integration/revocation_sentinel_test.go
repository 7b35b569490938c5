package integration

import (
	"net/http"
	"strings"
	"testing"

	"github.com/valetkey/caddy-valet/caddymodule/revocation"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// The Redis store reaches its master through Sentinel from the same config
// (master_name): revocations and use counts work through it.
func TestRevocationThroughSentinel(t *testing.T) {
	master := testenv.StartRedis(t)
	sentinel := testenv.StartSentinel(t, master, "valetmaster")
	k := newKeys(t)
	g := startRevGateway(t, k, fileRoot(t), "redis {\n\t\t\taddresses "+sentinel+"\n\t\t\tmaster_name valetmaster\n\t\t}")

	c := claims("/f/")
	tok := mint(t, c, k.hs)
	if st, reason := g.get(t, tok); st != http.StatusOK {
		t.Fatalf("before revocation: %d %s", st, reason)
	}
	g.revoke(t, revocation.Entry{Subject: revocation.Subject{Kind: revocation.JTI, ID: c.ID}})
	if st, reason := g.get(t, tok); st != http.StatusUnauthorized || reason != "revoked" {
		t.Fatalf("after revocation: %d %s", st, reason)
	}
	if reply := testenv.RedisCommand(master.Addr, "KEYS *"); !strings.Contains(reply, c.ID) {
		t.Fatalf("the revocation is not in the master behind Sentinel: %q", reply)
	}

	once := claims("/f/")
	once.Uses = 1
	single := mint(t, once, k.hs)
	if st, _ := g.get(t, single); st != http.StatusOK {
		t.Fatalf("single-use token, first use: %d", st)
	}
	if st, reason, err := g.try(clientFrom("127.0.0.2"), single); err != nil || st != http.StatusUnauthorized || reason != "uses_exhausted" {
		t.Fatalf("single-use token, second client: %d %s %v", st, reason, err)
	}
}
