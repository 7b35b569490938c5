package testenv

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard" // the directives a Caddyfile may use beside ours
)

// Adapt turns a Caddyfile into Caddy's JSON, as `caddy adapt` does, for
// golden tests of Caddyfile parsing.
func Adapt(t testing.TB, input string) (string, error) {
	t.Helper()
	out, _, err := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}.Adapt([]byte(input), nil)
	return string(out), err
}
