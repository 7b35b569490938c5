package token_test

import (
	"net/netip"
	"testing"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// The Verify benchmarks are cold: every iteration parses, decodes and checks
// the signature, as for a token the gateway has not cached yet.

func BenchmarkVerifyHS256(b *testing.B) {
	benchmarkVerify(b, hsTok(nil))
}

func BenchmarkVerifyEdDSA(b *testing.B) {
	benchmarkVerify(b, rawJWS(edHeader(), claimsAt(nil), edSigner(testEdPriv)))
}

func benchmarkVerify(b *testing.B, tok string) {
	v := token.Verifier{Keys: keySet(b, hsKey(b, "hs1"), edKey(b, "ed1", false))}
	b.ReportAllocs()
	for b.Loop() {
		if _, r := v.Verify(tok, testNow); r != token.Allowed {
			b.Fatal(r)
		}
	}
}

func BenchmarkCanonicalPath(b *testing.B) {
	for _, p := range []struct{ name, path string }{
		{"clean", "/photos/alice/2024/01/holiday.jpg"},
		{"escaped", "/photos/alice/2024/01/my%20holiday%C3%A9.jpg"},
		{"collapse", "//photos//alice/2024/01//holiday.jpg"},
		{"refused", "/photos/alice/%2e%2e/bob/holiday.jpg"},
	} {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				token.CanonicalPath(p.path)
			}
		})
	}
}

func BenchmarkAllows(b *testing.B) {
	c := verified(b, map[string]any{
		"p":  []string{"/a/", "/b/", "/photos/alice/"},
		"m":  []string{"PUT", "GET"},
		"ip": []string{"198.51.100.0/24", "203.0.113.0/24"}, "https": true,
	})
	req := token.Request{Method: "HEAD", Path: "/photos/alice/2024/a.jpg", ClientIP: netip.MustParseAddr("203.0.113.7"), HTTPS: true}
	b.ReportAllocs()
	for b.Loop() {
		if r := c.Allows(req); r != token.Allowed {
			b.Fatal(r)
		}
	}
}
