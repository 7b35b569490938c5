package token_test

import (
	"net/netip"
	"testing"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// verified returns claims as the gateway gets them: minted, then verified.
func verified(t testing.TB, overrides map[string]any) *token.Claims {
	t.Helper()
	v := token.Verifier{Keys: keySet(t, hsKey(t, "hs1"))}
	c, r := v.Verify(hsTok(overrides), testNow)
	if r != token.Allowed {
		t.Fatalf("Verify = %q", r)
	}
	return c
}

func TestAllows(t *testing.T) {
	v4 := netip.MustParseAddr("203.0.113.7")
	tests := []struct {
		name   string
		claims map[string]any
		req    token.Request
		want   token.Reason
	}{
		{"in scope", nil, token.Request{Method: "GET", Path: "/photos/alice/a.jpg"}, token.Allowed},
		{"deep in scope", nil, token.Request{Method: "GET", Path: "/photos/alice/2024/01/a.jpg"}, token.Allowed},
		{"sibling prefix", nil, token.Request{Method: "GET", Path: "/photos/alice2/x"}, token.OutOfScope},
		{"parent", nil, token.Request{Method: "GET", Path: "/photos/"}, token.OutOfScope},
		{"case differs", nil, token.Request{Method: "GET", Path: "/photos/Alice/a.jpg"}, token.OutOfScope},
		{"scope checked before method", nil, token.Request{Method: "DELETE", Path: "/photos/bob/a.jpg"}, token.OutOfScope},
		{"second scope", map[string]any{"p": []string{"/a.txt", "/photos/bob/"}}, token.Request{Method: "GET", Path: "/photos/bob/x"}, token.Allowed},
		{"exact file scope", map[string]any{"p": []string{"/a.txt"}}, token.Request{Method: "GET", Path: "/a.txt"}, token.Allowed},
		{"exact file scope, child", map[string]any{"p": []string{"/a.txt"}}, token.Request{Method: "GET", Path: "/a.txt/x"}, token.OutOfScope},

		{"GET grants HEAD", nil, token.Request{Method: "HEAD", Path: "/photos/alice/a.jpg"}, token.Allowed},
		{"HEAD does not grant GET", map[string]any{"m": []string{"HEAD"}}, token.Request{Method: "GET", Path: "/photos/alice/a.jpg"}, token.MethodNotAllowed},
		{"HEAD alone", map[string]any{"m": []string{"HEAD"}}, token.Request{Method: "HEAD", Path: "/photos/alice/a.jpg"}, token.Allowed},
		{"GET does not grant PUT", nil, token.Request{Method: "PUT", Path: "/photos/alice/a.jpg"}, token.MethodNotAllowed},
		{"PUT does not grant GET", map[string]any{"m": []string{"PUT"}}, token.Request{Method: "GET", Path: "/photos/alice/a.jpg"}, token.MethodNotAllowed},
		{"PUT does not grant POST", map[string]any{"m": []string{"PUT"}}, token.Request{Method: "POST", Path: "/photos/alice/a.jpg"}, token.MethodNotAllowed},
		{"GET does not grant DELETE", nil, token.Request{Method: "DELETE", Path: "/photos/alice/a.jpg"}, token.MethodNotAllowed},
		{"several methods", map[string]any{"m": []string{"PUT", "DELETE"}}, token.Request{Method: "DELETE", Path: "/photos/alice/a.jpg"}, token.Allowed},
		{"lower-case request method", nil, token.Request{Method: "get", Path: "/photos/alice/a.jpg"}, token.MethodNotAllowed},
		{"OPTIONS never granted", nil, token.Request{Method: "OPTIONS", Path: "/photos/alice/a.jpg"}, token.MethodNotAllowed},
		{"unknown method", nil, token.Request{Method: "PATCH", Path: "/photos/alice/a.jpg"}, token.MethodNotAllowed},

		{"no ip claim, no ip known", nil, token.Request{Method: "GET", Path: "/photos/alice/a.jpg"}, token.Allowed},
		{"ip in prefix", map[string]any{"ip": []string{"203.0.113.0/24"}}, token.Request{Method: "GET", Path: "/photos/alice/a", ClientIP: v4}, token.Allowed},
		{"ip prefix with host bits", map[string]any{"ip": []string{"203.0.113.99/24"}}, token.Request{Method: "GET", Path: "/photos/alice/a", ClientIP: v4}, token.Allowed},
		{"ip outside prefix", map[string]any{"ip": []string{"198.51.100.0/24"}}, token.Request{Method: "GET", Path: "/photos/alice/a", ClientIP: v4}, token.IPNotAllowed},
		{"second prefix", map[string]any{"ip": []string{"198.51.100.0/24", "203.0.113.7/32"}}, token.Request{Method: "GET", Path: "/photos/alice/a", ClientIP: v4}, token.Allowed},
		{"ip unknown", map[string]any{"ip": []string{"0.0.0.0/0"}}, token.Request{Method: "GET", Path: "/photos/alice/a"}, token.IPNotAllowed},
		{"v4-mapped v6 client", map[string]any{"ip": []string{"203.0.113.0/24"}}, token.Request{Method: "GET", Path: "/photos/alice/a", ClientIP: netip.MustParseAddr("::ffff:203.0.113.7")}, token.Allowed},
		{"v6 client, v6 prefix", map[string]any{"ip": []string{"2001:db8::/32"}}, token.Request{Method: "GET", Path: "/photos/alice/a", ClientIP: netip.MustParseAddr("2001:db8::1")}, token.Allowed},
		{"v6 client, v4 prefix", map[string]any{"ip": []string{"0.0.0.0/0"}}, token.Request{Method: "GET", Path: "/photos/alice/a", ClientIP: netip.MustParseAddr("2001:db8::1")}, token.IPNotAllowed},
		{"v4 client, v6 prefix", map[string]any{"ip": []string{"::/0"}}, token.Request{Method: "GET", Path: "/photos/alice/a", ClientIP: v4}, token.IPNotAllowed},

		{"https required, got http", map[string]any{"https": true}, token.Request{Method: "GET", Path: "/photos/alice/a"}, token.HTTPSRequired},
		{"https required, got https", map[string]any{"https": true}, token.Request{Method: "GET", Path: "/photos/alice/a", HTTPS: true}, token.Allowed},
		{"ip checked before https", map[string]any{"https": true, "ip": []string{"10.0.0.0/8"}}, token.Request{Method: "GET", Path: "/photos/alice/a", ClientIP: v4}, token.IPNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := verified(t, tt.claims).Allows(tt.req); got != tt.want {
				t.Fatalf("Allows(%+v) = %q, want %q", tt.req, got, tt.want)
			}
		})
	}
}

func TestReasonStatus(t *testing.T) {
	want := map[token.Reason]int{
		token.Allowed: 200, token.AmbiguousPath: 400, token.AmbiguousQuery: 400, token.DuplicateToken: 400,
		token.MissingToken: 401, token.MalformedToken: 401, token.BadSignature: 401, token.UnknownKey: 401,
		token.AlgMismatch: 401, token.Expired: 401, token.NotYetValid: 401, token.TTLTooLong: 401,
		token.AudienceMismatch: 401, token.Revoked: 401, token.UsesExhausted: 401,
		token.OutOfScope: 403, token.MethodNotAllowed: 403, token.IPNotAllowed: 403, token.HTTPSRequired: 403,
		token.OriginNotAllowed: 403, token.UsesUnsupported: 403, token.RevocationUnavailable: 503,
	}
	if len(token.Reasons)+1 != len(want) {
		t.Fatalf("token.Reasons has %d reasons, the test knows %d", len(token.Reasons), len(want)-1)
	}
	for _, r := range append([]token.Reason{token.Allowed}, token.Reasons...) {
		if got, ok := want[r]; !ok || r.Status() != got {
			t.Errorf("%q.Status() = %d, want %d", r, r.Status(), got)
		}
	}
}

func TestAllowsMediaType(t *testing.T) {
	for _, tc := range []struct {
		allowed []string
		ct      string
		want    bool
	}{
		{nil, "", true},
		{nil, "anything/at-all", true},
		{[]string{"image/png"}, "image/png", true},
		{[]string{"image/png"}, "IMAGE/PNG; charset=x", true},
		{[]string{" text/plain "}, "text/plain; charset=utf-8", true},
		{[]string{"image/png"}, "image/jpeg", false},
		{[]string{"image/png"}, "", false},
		{[]string{"image/png"}, "image/png;;;", false},
		{[]string{"image/png"}, "image/pngx", false},
	} {
		if got := token.AllowsMediaType(tc.allowed, tc.ct); got != tc.want {
			t.Errorf("AllowsMediaType(%q, %q) = %v, want %v", tc.allowed, tc.ct, got, tc.want)
		}
	}
}
