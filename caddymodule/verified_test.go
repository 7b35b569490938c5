package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

func testGate(tb testing.TB, cacheSize int64) (*Handler, *token.Key, *token.Key) {
	tb.Helper()
	hs, err := token.NewHMACKey("hs1", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		tb.Fatal(err)
	}
	priv, _, err := token.NewEd25519PEM()
	if err != nil {
		tb.Fatal(err)
	}
	ed, err := token.ParseKey("ed1", token.EdDSA, priv)
	if err != nil {
		tb.Fatal(err)
	}
	ks, err := token.NewKeySet(hs, ed)
	if err != nil {
		tb.Fatal(err)
	}
	h := &Handler{Param: DefaultParam, NoToken: "deny", now: time.Now}
	h.verifier = &token.Verifier{Keys: ks, Leeway: DefaultLeeway, MaxTTL: DefaultMaxTTL}
	if cacheSize > 0 {
		if h.verified, err = newVerifiedCache(cacheSize); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(h.verified.close)
	}
	return h, hs, ed
}

func mintFor(tb testing.TB, k *token.Key, exp time.Duration) string {
	tb.Helper()
	s, err := token.Mint(&token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(exp))},
		Paths:            []string{"/photos/alice/"},
		Methods:          []string{"GET"},
	}, k)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// A cache entry is only trusted for the exact token text it was stored for.
func TestVerifiedCacheComparesTokenText(t *testing.T) {
	h, hs, _ := testGate(t, 100)
	good := mintFor(t, hs, time.Minute)
	claims, reason := h.verifier.Parse(good)
	if reason != token.Allowed {
		t.Fatal(reason)
	}
	// Store the claims under another token's key, as a hash collision would.
	forged := good[:len(good)-2] + "xx"
	h.verified.c.SetWithTTL(forged, &verifiedToken{raw: good, claims: claims}, 1, time.Minute)
	h.verified.c.Wait()
	if _, hit := h.verified.get(forged); hit {
		t.Fatal("a cache entry for another token text was trusted")
	}
	if _, reason := h.verify(forged); reason == token.Allowed {
		t.Fatal("forged token was allowed")
	}
}

// verifyTwice verifies tok twice, which caches it (see the doorkeeper).
func verifyTwice(tb testing.TB, h *Handler, tok string) {
	tb.Helper()
	for range 2 {
		if _, reason := h.verify(tok); reason != token.Allowed {
			tb.Fatal(reason)
		}
	}
	h.verified.c.Wait()
	if _, hit := h.verified.get(tok); !hit {
		tb.Fatal("a token verified twice was not cached")
	}
}

// A token is cached on its second verification, not its first: tokens
// used once never cost a cache insert.
func TestVerifiedCacheAdmitsOnSecondUse(t *testing.T) {
	h, hs, _ := testGate(t, 100)
	tok := mintFor(t, hs, time.Minute)
	if _, reason := h.verify(tok); reason != token.Allowed {
		t.Fatal(reason)
	}
	h.verified.c.Wait()
	if _, hit := h.verified.get(tok); hit {
		t.Fatal("a token verified once was cached")
	}
	verifyTwice(t, h, tok)

	// A token that comes back only after many other new tokens went by is
	// forgotten by the doorkeeper, and verified again.
	late := mintFor(t, hs, time.Minute)
	h.verify(late)
	for range 10 * len(h.verified.seen) {
		h.verified.put(mintFor(t, hs, time.Minute), nil, time.Now().Add(time.Minute))
	}
	h.verify(late)
	h.verified.c.Wait()
	if _, hit := h.verified.get(late); hit {
		t.Fatal("a token the doorkeeper had forgotten was cached on its next use")
	}
}

// A cached token still expires: time claims are checked on every hit.
func TestVerifiedCacheHonoursExpiry(t *testing.T) {
	h, hs, _ := testGate(t, 100)
	tok := mintFor(t, hs, time.Minute)
	verifyTwice(t, h, tok)
	h.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if _, reason := h.verify(tok); reason != token.Expired {
		t.Fatalf("cached token past exp: %q, want expired", reason)
	}
}

func benchVerify(b *testing.B, alg string, hot bool) {
	size := int64(-1)
	if hot {
		size = 1000
	}
	h, hs, ed := testGate(b, size)
	k := hs
	if alg == "EdDSA" {
		k = ed
	}
	tok := mintFor(b, k, time.Hour)
	if hot {
		verifyTwice(b, h, tok)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, reason := h.verify(tok); reason != token.Allowed {
			b.Fatal(reason)
		}
	}
}

func BenchmarkVerifyColdHS256(b *testing.B) { benchVerify(b, "HS256", false) }
func BenchmarkVerifyHotHS256(b *testing.B)  { benchVerify(b, "HS256", true) }
func BenchmarkVerifyColdEdDSA(b *testing.B) { benchVerify(b, "EdDSA", false) }
func BenchmarkVerifyHotEdDSA(b *testing.B)  { benchVerify(b, "EdDSA", true) }

// BenchmarkServeHTTPHot is the whole gate for a hot token, in each
// carrier: query, path, cache, judgement and admission, with a next
// handler that does nothing. Each iteration builds its request, as a
// server would.
func BenchmarkServeHTTPHot(b *testing.B) {
	h, hs, _ := testGate(b, 1000)
	h.PathMarker, h.Bearer, h.Cookie = "~vk", true, &CookieCarrier{Name: "vk"}
	tok := mintFor(b, hs, time.Hour)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	for _, c := range []struct{ name, target, header, value string }{
		{"query", "/photos/alice/a.txt?x=1&vk=" + tok, "", ""},
		{"path", "/~vk/" + tok + "/photos/alice/a.txt?x=1", "", ""},
		{"bearer", "/photos/alice/a.txt?x=1", "Authorization", "Bearer " + tok},
		{"cookie", "/photos/alice/a.txt?x=1", "Cookie", "vk=" + tok},
	} {
		b.Run(c.name, func(b *testing.B) {
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest("GET", c.target, nil)
				if c.header != "" {
					r.Header.Set(c.header, c.value)
				}
				if err := h.ServeHTTP(w, r, next); err != nil || w.Code != 200 {
					b.Fatal(err, w.Code)
				}
			}
		})
	}
}
