package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

const corsSecret = "0123456789abcdef0123456789abcdef-cors-test"

func corsGate(t *testing.T, origins ...string) *Handler {
	t.Helper()
	h := &Handler{Keys: []Key{{ID: "k1", Algorithm: "HS256", Material: corsSecret}}, CORSOrigins: origins}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Cleanup() })
	return h
}

func corsToken(t *testing.T, mutate func(*token.Claims)) string {
	t.Helper()
	k, _ := token.NewHMACKey("k1", []byte(corsSecret))
	c := &token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Paths:            []string{"/up/"},
		Methods:          []string{"PUT", "GET"},
	}
	if mutate != nil {
		mutate(c)
	}
	s, err := token.Mint(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serve runs the gate; the next handler answers 200 when reached.
func serve(h *Handler, r *http.Request) (*httptest.ResponseRecorder, bool) {
	w := httptest.NewRecorder()
	reached := false
	h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		reached = true
		w.WriteHeader(200)
		return nil
	}))
	return w, reached
}

func preflightReq(url, origin, method, headers string) *http.Request {
	r := httptest.NewRequest(http.MethodOptions, url, nil)
	r.Header.Set("Origin", origin)
	r.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		r.Header.Set("Access-Control-Request-Headers", headers)
	}
	return r
}

func TestPreflightAllowed(t *testing.T) {
	h := corsGate(t, "https://app.example")
	tok := corsToken(t, nil)
	w, reached := serve(h, preflightReq("/up/f.txt?vk="+tok, "https://app.example", "PUT", "Content-Type, content-md5"))
	if reached || w.Code != 204 {
		t.Fatalf("status %d, reached next %v", w.Code, reached)
	}
	for name, want := range map[string]string{
		"Access-Control-Allow-Origin":  "https://app.example",
		"Access-Control-Allow-Methods": "PUT",
		"Access-Control-Allow-Headers": "content-type, content-md5",
	} {
		if got := w.Header().Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if age, _ := strconv.Atoi(w.Header().Get("Access-Control-Max-Age")); age <= 0 || age > 600 {
		t.Errorf("max age %d", age)
	}
}

func TestPreflightRefusedRevealsNothing(t *testing.T) {
	h := corsGate(t, "https://app.example", "https://other.example")
	good := corsToken(t, nil)
	bound := corsToken(t, func(c *token.Claims) { c.Origins = []string{"https://other.example"} })
	expired := corsToken(t, func(c *token.Claims) {
		c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
		c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
	})
	star := corsGate(t, "*")
	for name, tc := range map[string]struct {
		h                              *Handler
		url, origin, method, reqHeader string
	}{
		"no token":            {h, "/up/f", "https://app.example", "PUT", ""},
		"bad signature":       {h, "/up/f?vk=" + good[:len(good)-2] + "xx", "https://app.example", "PUT", ""},
		"expired":             {h, "/up/f?vk=" + expired, "https://app.example", "PUT", ""},
		"origin not on site":  {h, "/up/f?vk=" + good, "https://evil.example", "PUT", ""},
		"origin not in token": {h, "/up/f?vk=" + bound, "https://app.example", "PUT", ""},
		"method not granted":  {h, "/up/f?vk=" + good, "https://app.example", "DELETE", ""},
		"header not granted":  {h, "/up/f?vk=" + good, "https://app.example", "PUT", "content-type, x-evil"},
		"header for GET only": {h, "/up/f?vk=" + good, "https://app.example", "PUT", "range"},
		"out of scope":        {h, "/other/f?vk=" + good, "https://app.example", "PUT", ""},
		"null origin vs *":    {star, "/up/f?vk=" + good, "null", "PUT", ""},
	} {
		w, reached := serve(tc.h, preflightReq(tc.url, tc.origin, tc.method, tc.reqHeader))
		if reached || w.Code != 403 || w.Body.Len() != 0 || len(w.Header()) != 0 {
			t.Errorf("%s: %d %v body %q reached %v", name, w.Code, w.Header(), w.Body, reached)
		}
	}
	// the same preflight with a wildcard site and a real origin passes
	if w, _ := serve(star, preflightReq("/up/f?vk="+good, "https://any.example", "PUT", "")); w.Code != 204 {
		t.Fatalf("wildcard site: %d", w.Code)
	}
}

func TestActualResponsesCarryCORS(t *testing.T) {
	h := corsGate(t, "https://app.example")
	tok := corsToken(t, nil)
	r := httptest.NewRequest("PUT", "/up/f?vk="+tok, nil)
	r.Header.Set("Origin", "https://app.example")
	w, reached := serve(h, r)
	if !reached || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" ||
		w.Header().Get("Access-Control-Expose-Headers") == "" {
		t.Fatalf("allowed: reached %v, headers %v", reached, w.Header())
	}

	r = httptest.NewRequest("PUT", "/up/f?vk="+tok, nil)
	r.Header.Set("Origin", "https://evil.example")
	if w, _ := serve(h, r); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("ACAO for an origin the site does not list")
	}

	// a token bound to other origins is refused to a page of this one
	bound := corsToken(t, func(c *token.Claims) { c.Origins = []string{"https://other.example"} })
	r = httptest.NewRequest("PUT", "/up/f?vk="+bound, nil)
	r.Header.Set("Origin", "https://app.example")
	if w, reached := serve(h, r); reached || w.Code != 403 || w.Header().Get(ReasonHeader) != "origin_not_allowed" {
		t.Fatalf("bound token: %d %v", w.Code, w.Header())
	}

	// a denial is readable by an allowed page, so it can tell expired from forbidden
	r = httptest.NewRequest("PUT", "/up/f", nil)
	r.Header.Set("Origin", "https://app.example")
	if w, _ := serve(h, r); w.Code != 401 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!slices.Contains(w.Header().Values("Vary"), "Origin") {
		t.Fatalf("denial: %d %v", w.Code, w.Header())
	}

	// cors_origins decides which pages may read answers, not what is
	// allowed: a token naming an origin the site does not list still works
	// from it, but the page cannot read the answer
	named := corsToken(t, func(c *token.Claims) { c.Origins = []string{"https://tool.example"} })
	r = httptest.NewRequest("PUT", "/up/f?vk="+named, nil)
	r.Header.Set("Origin", "https://tool.example")
	if w, reached := serve(h, r); !reached || w.Header().Get("Access-Control-Allow-Origin") != "" ||
		w.Header().Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("origin named by the token, not by the site: reached %v, %v", reached, w.Header())
	}
}

// TestBearerPreflight: on a bearer site a preflight carries no token (a
// browser never sends Authorization on one) and is answered from the
// site's settings; headers beyond the method's grant and authorization,
// methods that cannot be granted, and origins the site does not list are
// refused. Without bearer a token-less preflight is refused.
func TestBearerPreflight(t *testing.T) {
	h := corsGate(t, "https://app.example")
	if w, reached := serve(h, preflightReq("/up/f", "https://app.example", "GET", "authorization")); reached || w.Code != 403 {
		t.Fatalf("token-less preflight without bearer: %d", w.Code)
	}
	h.Bearer = true
	w, reached := serve(h, preflightReq("/up/f", "https://app.example", "PUT", "authorization, content-type"))
	if reached || w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" ||
		w.Header().Get("Access-Control-Allow-Headers") != "authorization, content-type" {
		t.Fatalf("bearer preflight: %d %v", w.Code, w.Header())
	}
	for _, r := range []*http.Request{
		preflightReq("/up/f", "https://evil.example", "GET", "authorization"),
		preflightReq("/up/f", "https://app.example", "PATCH", "authorization"),
		preflightReq("/up/f", "https://app.example", "GET", "authorization, x-secret"),
		preflightReq("/up/%2e%2e/f", "https://app.example", "GET", "authorization"),
	} {
		if w, reached := serve(h, r); reached || w.Code != 403 {
			t.Errorf("%s %s from %s: %d", r.Header.Get("Access-Control-Request-Method"), r.URL, r.Header.Get("Origin"), w.Code)
		}
	}
}

func TestValidateOrigins(t *testing.T) {
	for _, ok := range []string{"*", "https://a.example", "http://localhost:8080"} {
		if err := validateOrigins([]string{ok}); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"a.example", "https://a.example/", "https://A.example", "ftp://a", "https://u@a.example", "https://a.example?x"} {
		if validateOrigins([]string{bad}) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
