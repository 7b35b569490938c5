package integration

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// Caddyfile.example, the README's run config, adapts and provisions (keys
// load, modules validate) with our build.
func TestExampleCaddyfileValidates(t *testing.T) {
	cmd := exec.Command(testenv.CaddyBinary(t), "validate", "--config", "Caddyfile.example", "--adapter", "caddyfile")
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(cmd.Environ(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Valid configuration") {
		t.Fatalf("caddy validate Caddyfile.example: %v\n%s", err, out)
	}
}
