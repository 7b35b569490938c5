package caddymodule

import (
	"time"

	"encoding/json"
	"github.com/caddyserver/caddy/v2"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func adapt(t *testing.T, input string) (string, error) {
	t.Helper()
	out, _, err := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}.Adapt([]byte(input), nil)
	return string(out), err
}

// The Caddyfile adapts to the JSON documented for the module, and the gate
// lands before file_server and reverse_proxy whatever order it was written in.
func TestCaddyfileAdaptsToJSON(t *testing.T) {
	out, err := adapt(t, `:8080 {
	file_server
	valet {
		key k1 hs256 {file./etc/valet/k1.key}
		key k2 EdDSA {env.VALET_K2}
		param token
		audience files.example
		leeway 10s
		max_ttl 2h
		no_token pass
		use_error_routes
		verified_cache_size 5000
		bearer
		path_marker ~vk
		cookie vkc {
			set
			same_site strict
		}
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"apps":{"http":{"servers":{"srv0":{"listen":[":8080"],"routes":[{"handle":[{"audience":"files.example","bearer":true,"cookie":{"name":"vkc","same_site":"strict","set":true},"handler":"valet","keys":[{"algorithm":"HS256","id":"k1","material":"{file./etc/valet/k1.key}"},{"algorithm":"EdDSA","id":"k2","material":"{env.VALET_K2}"}],"leeway":10000000000,"max_ttl":7200000000000,"no_token":"pass","param":"token","path_marker":"~vk","use_error_routes":true,"verified_cache_size":5000},{"handler":"file_server","hide":["./Caddyfile"]}]}]}}}}}`
	if out != want {
		t.Fatalf("adapted JSON differs\n got: %s\nwant: %s", out, want)
	}
	if gate, files := strings.Index(out, `"handler":"valet"`), strings.Index(out, `"handler":"file_server"`); gate > files {
		t.Fatalf("valet is ordered after file_server: %s", out)
	}
}

func TestCaddyfileRefusesBadInput(t *testing.T) {
	for name, body := range map[string]string{
		"key arity":      `key k1 hs256`,
		"key algorithm":  `key k1 rs256 secret`,
		"unknown option": `color blue`,
		"no_token value": `no_token maybe`,
		"bad duration":   `leeway soon`,
		"cache size":     `verified_cache_size lots`,
		"bearer arg":     `bearer yes`,
		"marker arity":   `path_marker`,
		"cookie option":  "cookie {\n\t\t\tbake\n\t\t}",
		"cookie arity":   `cookie a b`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := adapt(t, ":8080 {\n\tvalet {\n\t\t"+body+"\n\t}\n}"); err == nil {
				t.Fatalf("%q was accepted", body)
			}
		})
	}
}

func TestJSONConfigUnmarshals(t *testing.T) {
	var h Handler
	if err := json.Unmarshal([]byte(`{"keys":[{"id":"a","algorithm":"HS256","material":"x"}],"max_ttl":"1h","leeway":"5s"}`), &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Keys) != 1 || h.MaxTTL != caddy.Duration(time.Hour) || h.Leeway == nil || *h.Leeway != caddy.Duration(5*time.Second) {
		t.Fatalf("unmarshalled %+v", h)
	}
}
