package caddymodule

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// FuzzCaddyfile feeds arbitrary text to the valet directive's parser:
//
//	go test -run '^$' -fuzz '^FuzzCaddyfile$' -fuzztime 10s ./caddymodule
//
// The parser must never panic; what it accepts must be a configuration the
// module documents (known algorithms, no_token deny or pass, a cache size
// of at least -1) and must survive the JSON round trip Caddy puts it
// through unchanged.
func FuzzCaddyfile(f *testing.F) {
	for _, s := range []string{
		"valet {\n\tkey hs1 hs256 {file./etc/valet.key}\n}",
		"valet {\n\tkey k1 hs256 {file./k}\n\tkey k2 EdDSA {env.K2}\n\tparam token\n\taudience files.example\n\tleeway 10s\n\tmax_ttl 2h\n\tno_token pass\n\tuse_error_routes\n\tverified_cache_size 5000\n}",
		"valet {\n\tkey k1 rs256 x\n}",
		"valet {\n\tkey k1 hs256\n}",
		"valet {\n\tleeway -1s\n\tmax_ttl 1d\n}",
		"valet {\n\tverified_cache_size -2\n}",
		"valet {\n\tno_token maybe\n}",
		"valet extra",
		"valet {\n\tparam \"\"\n\tuse_error_routes yes\n}",
		"valet {\n\tkey `a b` \"hs256\" {\n}",
		"valet {\n\tkey k hs256 x\n\trevocation bolt {\n\t\tpath /tmp/r.db\n\t\tquiet_ttl 1s\n\t\tstale_for 1m\n\t}\n}",
		"valet {\n\tkey k hs256 x\n\trevocation redis {\n\t\taddresses 127.0.0.1:6379 127.0.0.1:6380\n\t\tdb 2\n\t\ttls\n\t\tcache_size 10\n\t}\n}",
		"valet {\n\trevocation nosuch\n\tcors_origins http://a.example\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		tokens, err := caddyfile.Tokenize([]byte(input), "Caddyfile")
		if err != nil || len(tokens) == 0 {
			return
		}
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
			return
		}
		for _, k := range h.Keys {
			if k.Algorithm != "HS256" && k.Algorithm != "EdDSA" {
				t.Fatalf("accepted key algorithm %q", k.Algorithm)
			}
		}
		if h.NoToken != "" && h.NoToken != "deny" && h.NoToken != "pass" {
			t.Fatalf("accepted no_token %q", h.NoToken)
		}
		if h.VerifiedCacheSize < -1 {
			t.Fatalf("accepted verified_cache_size %d", h.VerifiedCacheSize)
		}
		data, err := json.Marshal(&h)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back Handler
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("the JSON of an accepted config does not load: %v\n%s", err, data)
		}
		if !reflect.DeepEqual(h, back) {
			t.Fatalf("JSON round trip changed the config:\n%+v\n%+v", h, back)
		}
		_ = h.Validate() // may refuse (e.g. leeway), must not panic
	})
}
