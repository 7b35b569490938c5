// Command gatekeeper is the peer the valet gate is measured against: the
// "gatekeeper" design, where a proxy asks an application to authorize
// every request. Caddy's forward_auth sends it each request's method and
// URI (X-Forwarded-Method, X-Forwarded-Uri); it verifies the same valet
// token with the same token package, without any cache, and answers 200
// (go on) or the deny status. It exists for integration/peers_bench_test.go.
//
//	gatekeeper -listen 127.0.0.1:9000 -hs hs1=/path/hs1.key -ed ed1=/path/ed1.key.pub
package main

import (
	"flag"
	"log"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	hs := flag.String("hs", "", "id=file of an HS256 secret")
	ed := flag.String("ed", "", "id=file of an Ed25519 public key (PEM)")
	flag.Parse()
	var keys []*token.Key
	for _, k := range []struct {
		spec string
		alg  token.Alg
	}{{*hs, token.HS256}, {*ed, token.EdDSA}} {
		if k.spec == "" {
			continue
		}
		id, file, ok := strings.Cut(k.spec, "=")
		if !ok {
			log.Fatalf("key %q: want id=file", k.spec)
		}
		material, err := os.ReadFile(file)
		if err != nil {
			log.Fatal(err)
		}
		key, err := token.ParseKey(id, k.alg, material)
		if err != nil {
			log.Fatal(err)
		}
		keys = append(keys, key)
	}
	set, err := token.NewKeySet(keys...)
	if err != nil {
		log.Fatal(err)
	}
	v := &token.Verifier{Keys: set, Leeway: 30 * time.Second, MaxTTL: 24 * time.Hour}
	log.Fatal(http.ListenAndServe(*listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reason := authorize(v, r)
		if reason != token.Allowed {
			w.Header().Set("Valet-Reason", string(reason))
		}
		w.WriteHeader(reason.Status())
	})))
}

// authorize judges the forwarded request as the gate would.
func authorize(v *token.Verifier, r *http.Request) token.Reason {
	u, err := url.ParseRequestURI(r.Header.Get("X-Forwarded-Uri"))
	if err != nil {
		return token.AmbiguousPath
	}
	raw := u.Query().Get("vk")
	if raw == "" {
		return token.MissingToken
	}
	path, reason := token.CanonicalPath(u.EscapedPath())
	if reason != token.Allowed {
		return reason
	}
	c, reason := v.Verify(raw, time.Now())
	if reason != token.Allowed {
		return reason
	}
	ip, _ := netip.ParseAddr(r.Header.Get("X-Forwarded-For"))
	return c.Allows(token.Request{Method: r.Header.Get("X-Forwarded-Method"), Path: path, ClientIP: ip})
}
