package integration

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/valetkey/caddy-valet/caddymodule"
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
	if err := run("--jti", "a", "--group", "b"); err == nil {
		t.Error("two subjects at once were accepted")
	}
	if err := run("--kid", "hs1", "--before", "yesterday"); err == nil {
		t.Error("a bad time was accepted")
	}
}
