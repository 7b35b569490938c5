package caddymodule

import (
	"net/http/httptest"
	"testing"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

func TestFindTokenAcrossCarriers(t *testing.T) {
	h := &Handler{Param: "vk", Bearer: true, PathMarker: "~vk", Cookie: &CookieCarrier{Name: "vk"}}
	const a, b = "aaa.bbb.ccc", "xxx.yyy.zzz"
	cases := []struct {
		name     string
		target   string
		headers  []string
		raw      string
		from     carrier
		escaped  string
		query    string
		reason   token.Reason
		withDrop bool
	}{
		{name: "query", target: "/p/a?x=1&vk=" + a, raw: a, from: inQuery, escaped: "/p/a", query: "x=1"},
		{name: "path", target: "/~vk/" + a + "/p/a?x=1", raw: a, from: inPath, escaped: "/p/a", query: "x=1"},
		{name: "path without rest", target: "/~vk/" + a, raw: a, from: inPath, escaped: ""},
		{name: "encoded marker is no marker", target: "/%7Evk/" + a + "/p", reason: token.MissingToken, escaped: "/%7Evk/" + a + "/p"},
		{name: "bearer", target: "/p/a", headers: []string{"Authorization", "Bearer " + a}, raw: a, from: inBearer, escaped: "/p/a"},
		{name: "cookie", target: "/p/a", headers: []string{"Cookie", "x=1; vk=" + a}, raw: a, from: inCookie, escaped: "/p/a"},
		{name: "cookie equal to the query", target: "/p/a?vk=" + a, headers: []string{"Cookie", "vk=" + a}, raw: a, from: inQuery, escaped: "/p/a"},
		{name: "cookie differs from the query", target: "/p/a?vk=" + a, headers: []string{"Cookie", "vk=" + b}, reason: token.DuplicateToken, escaped: "/p/a"},
		{name: "two cookies", target: "/p/a", headers: []string{"Cookie", "vk=" + a + "; vk=" + b}, reason: token.DuplicateToken, escaped: "/p/a"},
		{name: "path and query", target: "/~vk/" + a + "/p/a?vk=" + a, reason: token.DuplicateToken, escaped: "/p/a"},
		{name: "path and bearer", target: "/~vk/" + a + "/p/a", headers: []string{"Authorization", "Bearer " + b}, reason: token.DuplicateToken, escaped: "/p/a"},
		{name: "none", target: "/p/a?x=1", reason: token.MissingToken, escaped: "/p/a", query: "x=1"},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", tc.target, nil)
		for i := 0; i+1 < len(tc.headers); i += 2 {
			r.Header.Add(tc.headers[i], tc.headers[i+1])
		}
		c, reason := h.findToken(r)
		if reason != tc.reason || c.escaped != tc.escaped {
			t.Errorf("%s: reason %q escaped %q, want %q %q", tc.name, reason, c.escaped, tc.reason, tc.escaped)
			continue
		}
		if reason == token.Allowed && (c.raw != tc.raw || c.from != tc.from || c.query != tc.query) {
			t.Errorf("%s: %q from %d query %q, want %q from %d query %q", tc.name, c.raw, c.from, c.query, tc.raw, tc.from, tc.query)
		}
	}
}

func TestStripRemovesEveryCarrier(t *testing.T) {
	h := &Handler{Param: "vk", Bearer: true, PathMarker: "~vk", Cookie: &CookieCarrier{Name: "vk"}}
	r := httptest.NewRequest("GET", "/~vk/aaa.bbb.ccc/p/a?x=1", nil)
	r.Header.Add("Cookie", "a=1; vk=aaa.bbb.ccc; b=2")
	r.Header.Add("Cookie", "vk=aaa.bbb.ccc")
	c, reason := h.findToken(r)
	if reason != token.Allowed {
		t.Fatal(reason)
	}
	h.strip(r, c, "/p/a")
	if r.URL.Path != "/p/a" || r.RequestURI != "/p/a?x=1" || len(r.Header.Values("Cookie")) != 1 || r.Header.Get("Cookie") != "a=1; b=2" {
		t.Fatalf("after strip: %q %q %q", r.URL.Path, r.RequestURI, r.Header.Values("Cookie"))
	}
}

func TestCarryTo(t *testing.T) {
	h := &Handler{Param: "vk", PathMarker: "~vk"}
	q, p, b := carried{raw: "T.T.T", from: inQuery}, carried{raw: "T.T.T", from: inPath}, carried{raw: "T.T.T", from: inBearer}
	for _, tc := range []struct {
		loc  string
		c    carried
		want string
	}{
		{"/photos/alice/", q, "/photos/alice/?vk=T.T.T"},
		{"/photos/alice/?x=1#f", q, "/photos/alice/?vk=T.T.T&x=1#f"},
		{"/photos/alice/?vk=other", q, "/photos/alice/?vk=other"},
		{"/photos/alice/", p, "/~vk/T.T.T/photos/alice/"},
		{"/~vk/T.T.T/photos/alice/", p, "/~vk/T.T.T/photos/alice/"},
		{"/photos/alice/", b, "/photos/alice/"},
		{"https://other.example/x", q, "https://other.example/x"},
		{"//other.example/x", q, "//other.example/x"},
		{`/\other.example/x`, q, `/\other.example/x`},
		{"relative/x", p, "relative/x"},
	} {
		if got := h.carryTo(tc.loc, tc.c); got != tc.want {
			t.Errorf("carryTo(%q, %d) = %q, want %q", tc.loc, tc.c.from, got, tc.want)
		}
	}
}

func TestCookiePath(t *testing.T) {
	for _, tc := range []struct {
		scopes []string
		want   string
	}{
		{[]string{"/photos/alice/video/"}, "/photos/alice/video/"},
		{[]string{"/photos/alice/a.jpg"}, "/photos/alice/"},
		{[]string{"/photos/alice/video/", "/photos/alice/a.jpg"}, "/photos/alice/"},
		{[]string{"/photos/alice/", "/photos/alice2/"}, "/photos/"},
		{[]string{"/a/", "/b/"}, "/"},
		{[]string{"/"}, "/"},
	} {
		if got := cookiePath(tc.scopes); got != tc.want {
			t.Errorf("cookiePath(%q) = %q, want %q", tc.scopes, got, tc.want)
		}
	}
}
