package integration

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valetkey/caddy-valet/caddymodule"
	"github.com/valetkey/caddy-valet/caddymodule/revocation"
)

// `caddy valet revoke` reaches a running Caddy through its admin address.
func TestRevocationCLI(t *testing.T) {
	k := newKeys(t)
	g := startRevGateway(t, k, fileRoot(t), "bolt {\n\t\t\tpath "+filepath.Join(t.TempDir(), "r.db")+"\n\t\t}")
	c := claims("/f/")
	c.Group = "batch-7"
	tok := mint(t, c, k.hs)
	if st, _ := g.get(t, tok); st != http.StatusOK {
		t.Fatalf("before: %d", st)
	}
	run := func(args ...string) error {
		cmd := caddymodule.RevokeCommand()
		cmd.SetArgs(append([]string{"--address", g.AdminAddr}, args...))
		return cmd.Execute()
	}
	if err := run("--group", "batch-7"); err != nil {
		t.Fatal(err)
	}
	if _, reason := g.get(t, tok); reason != "revoked" {
		t.Errorf("after revoke --group: %q", reason)
	}
	if err := run("--remove", "--group", "batch-7"); err != nil {
		t.Fatal(err)
	}
	if st, _ := g.get(t, tok); st != http.StatusOK {
		t.Errorf("after --remove: %d", st)
	}

	// --token reads the jti from the token; --remove takes it back.
	if err := run("--token", tok); err != nil {
		t.Fatal(err)
	}
	if _, reason := g.get(t, tok); reason != "revoked" {
		t.Errorf("after revoke --token: %q", reason)
	}
	if err := run("--remove", "--token", tok); err != nil {
		t.Fatal(err)
	}
	if st, _ := g.get(t, tok); st != http.StatusOK {
		t.Errorf("after --remove --token: %d", st)
	}

	// Nothing a token could not carry is stored: a flag taken as a value,
	// a jti outside 16 to 128 printable characters, an unprintable group,
	// something that is not a token.
	for _, args := range [][]string{
		{"--jti", "--remove"},
		{"--group", "--remove"},
		{"--jti", "--list=true"},
		{"--group", "-c"},
		{"--jti", "short-jti"},
		{"--jti", strings.Repeat("j", 129)},
		{"--jti", "sixteen-chars-\x01-x"},
		{"--jti", "sixteen-chars-\xff-x"},
		{"--group", "batch\n7"},
		{"--group", ""},
		{"--jti", ""},
		{"--token", "not-a-token"},
		{"--token", "e30.e30x.sig"}, // payload not base64url JSON
		{"--token", "e30.e30.sig"},  // no jti
		{"--token", tok, "--jti", c.ID},
	} {
		if err := run(args...); err == nil {
			t.Errorf("revoke %q was accepted", args)
		}
	}
	var entries []revocation.Entry
	if st := g.admin(t, http.MethodGet, "", nil, &entries); st != http.StatusOK || len(entries) != 0 {
		t.Errorf("after refused revocations: %d, %v", st, entries)
	}
	// The admin API refuses them too, whoever asks.
	for _, e := range []revocation.Entry{
		{Subject: revocation.Subject{Kind: revocation.JTI, ID: "--remove"}},
		{Subject: revocation.Subject{Kind: revocation.Group, ID: "batch\x007"}},
	} {
		if st := g.admin(t, http.MethodPost, "", e, nil); st != http.StatusBadRequest {
			t.Errorf("admin API revoke %v: %d, want 400", e.Subject, st)
		}
	}

	if err := run("--jti", "a", "--group", "b"); err == nil {
		t.Error("two subjects at once were accepted")
	}
	if err := run("--kid", "hs1", "--before", "yesterday"); err == nil {
		t.Error("a bad time was accepted")
	}
}
