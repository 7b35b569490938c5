package integration

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// The attack suite: what gate_test.go does not already try, each case with
// the status and reason it must get from a real Caddy. Every case also
// checks that no response header echoes a token, and at the end the
// upstream, the access log (configured exactly as in Caddyfile.example)
// and Caddy's own log are searched for every token signature used.

// attackGateway is a real Caddy with four gated sites, each its own server:
// files (file_server, the example's access log), proxy (reverse_proxy to a
// recording upstream), aud (a gateway audience) and trusted (behind a
// trusted proxy on loopback, strict X-Forwarded-For).
type attackGateway struct {
	*testenv.Caddy
	sites     map[string]string // name → host:port
	keys      *keys
	accessLog string
	upstream  *dumper
}

// dumper is an upstream that keeps every request it receives, whole, and
// answers /redirect/ with a redirect to another host that echoes the query.
type dumper struct {
	mu    sync.Mutex
	dumps []string
}

func (d *dumper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	dump, _ := httputil.DumpRequest(r, true)
	d.mu.Lock()
	d.dumps = append(d.dumps, string(dump))
	d.mu.Unlock()
	if strings.Contains(r.URL.Path, "/redirect/") {
		http.Redirect(w, r, "http://other.example/landing?"+r.URL.RawQuery, http.StatusFound)
		return
	}
	fmt.Fprint(w, "upstream")
}

func (d *dumper) all() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.dumps, "\n")
}

// exampleLogBlock is the access log block of Caddyfile.example, writing to
// a file instead of stdout, so the test checks the configuration users copy.
func exampleLogBlock(t *testing.T, output string) string {
	t.Helper()
	block := exampleBlock(t, "log")
	if !strings.Contains(block, "output stdout") {
		t.Fatal("Caddyfile.example's log block no longer writes to stdout; update the attack suite")
	}
	return strings.Replace(block, "output stdout", "output file "+output, 1)
}

func startAttackGateway(t *testing.T) *attackGateway {
	t.Helper()
	g := &attackGateway{keys: newKeys(t), upstream: &dumper{}, sites: map[string]string{}}
	root := t.TempDir()
	for _, f := range append(strings.Fields(storeFiles), "photos/alice/sub/index.html", "evil.example/index.html") {
		mustWrite(t, filepath.Join(root, f), "content of "+f)
	}
	up := httptest.NewServer(g.upstream)
	t.Cleanup(up.Close)
	for _, name := range []string{"files", "proxy", "aud", "trusted"} {
		g.sites[name] = testenv.Addr(testenv.FreePort(t))
	}
	g.accessLog = filepath.Join(t.TempDir(), "access.log")
	logBlock := exampleLogBlock(t, g.accessLog)
	gate := func(extra string) string {
		return fmt.Sprintf(`valet {
		key hs1 hs256 {file.%s}
		key ed1 eddsa {file.%s}
		leeway 30s
		max_ttl 1h
		%s
	}`, g.keys.hsFile, g.keys.edPub, extra)
	}
	caddyfile := fmt.Sprintf(`{
	admin {ADMIN}
	auto_https off
	default_bind 127.0.0.1
	servers %[1]s {
		trusted_proxies static 127.0.0.1/32
		trusted_proxies_strict
	}
}
http://%[2]s {
%[3]s
	root * %[4]s
	%[5]s
	file_server
}
http://%[6]s {
%[3]s
	%[5]s
	reverse_proxy %[7]s
}
http://%[8]s {
	root * %[4]s
	%[9]s
	file_server
}
http://%[1]s {
	root * %[4]s
	%[5]s
	file_server
}
`, g.sites["trusted"], g.sites["files"], logBlock, root, gate(""),
		g.sites["proxy"], strings.TrimPrefix(up.URL, "http://"),
		g.sites["aud"], gate("audience files.example"))
	g.Caddy = testenv.StartCaddy(t, caddyfile, "http://"+g.sites["files"]+"/")
	return g
}

// forge signs a token by hand, with any header, so the suite can send what
// Mint never would.
func forge(t *testing.T, method jwt.SigningMethod, header map[string]any, c jwt.Claims, key any) string {
	t.Helper()
	tk := jwt.NewWithClaims(method, c)
	for k, v := range header {
		if v == nil {
			delete(tk.Header, k)
		} else {
			tk.Header[k] = v
		}
	}
	s, err := tk.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type attackCase struct {
	name, site, method, uri string
	headers                 []string
	status                  int
	reason                  token.Reason
	check                   func(t *testing.T, resp *http.Response, body string)
}

func TestAttackSuite(t *testing.T) {
	g := startAttackGateway(t)
	k := g.keys
	var used []string // every token sent, for the leak checks at the end
	tok := func(c *token.Claims, key *token.Key) string {
		s := mint(t, c, key)
		used = append(used, s)
		return s
	}
	with := func(scope []string, edit func(*token.Claims)) *token.Claims {
		c := claims(scope...)
		if edit != nil {
			edit(c)
		}
		return c
	}
	alice := tok(claims("/photos/alice/"), k.hs)
	aliceEd := tok(claims("/photos/alice/"), k.ed)
	rootTok := tok(claims("/"), k.hs)
	exact := tok(claims("/photos/alice/a.txt"), k.hs)
	multi := tok(claims("/photos/alice/a.txt", "/photos/bob/"), k.hs)
	_, attackerEd, _ := ed25519.GenerateKey(rand.Reader)
	hsFile, _ := os.ReadFile(k.hsFile)
	hsSecret := []byte(strings.TrimSpace(string(hsFile)))
	block, _ := pem.Decode(k.edPublicKeyBytes)
	rawEdPub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	forged := func(method jwt.SigningMethod, header map[string]any, key any) string {
		s := forge(t, method, header, claimsWithID("/photos/alice/"), key)
		used = append(used, s)
		return s
	}
	parts := strings.Split(alice, ".")
	other := strings.Split(tok(claims("/photos/"), k.hs), ".")
	bigGroup := tok(with([]string{"/photos/alice/"}, func(c *token.Claims) { c.Group = strings.Repeat("g", token.MaxTokenLength) }), k.hs)
	ipBound := tok(with([]string{"/photos/alice/"}, func(c *token.Claims) { c.IPs = []string{"203.0.113.7/32"} }), k.hs)
	loopBound := tok(with([]string{"/photos/alice/"}, func(c *token.Claims) { c.IPs = []string{"127.0.0.0/8"} }), k.hs)
	audTok := func(aud ...string) string {
		return tok(with([]string{"/photos/alice/"}, func(c *token.Claims) { c.Audience = aud }), k.hs)
	}
	// stray is sent outside the vk parameter only. The gate never takes it
	// for a token, yet the example's log filter must still redact it.
	stray := tok(claims("/photos/alice/"), k.hs)
	manyParams := strings.Repeat("a=1&", 2000)
	longQuery := "pad=" + strings.Repeat("x", 12<<10) // Caddy's header limit is 16 KiB
	// A path of exactly MaxPathLength bytes, sent to the proxy site: on
	// disk it would pass PATH_MAX and file_server would refuse it itself.
	limitPath := "/photos/alice/" + strings.Repeat("a", token.MaxPathLength-len("/photos/alice/"))
	a := "/photos/alice/a.txt?vk="

	noLeakingRedirect := func(t *testing.T, resp *http.Response, _ string) {
		loc := resp.Header.Get("Location")
		if loc == "" {
			t.Fatal("no Location header")
		}
		if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, `/\`) {
			t.Fatalf("Location %q leaves the site (an open redirect)", loc)
		}
	}

	cases := []attackCase{
		// Path ambiguity not in gate_test.go.
		{name: "single encoded dot", uri: "/photos/alice/%2e/a.txt?vk=" + alice, status: 400, reason: token.AmbiguousPath},
		{name: "dot dot at the end", uri: "/photos/alice/sub/..?vk=" + alice, status: 400, reason: token.AmbiguousPath},
		{name: "encoded dot dot upper case", uri: "/photos/alice/%2E%2E/bob/b.txt?vk=" + alice, status: 400, reason: token.AmbiguousPath},
		{name: "encoded slash lower case", uri: "/photos/alice/..%2fbob/b.txt?vk=" + alice, status: 400, reason: token.AmbiguousPath},
		{name: "encoded backslash lower case", uri: "/photos/alice/..%5cbob/b.txt?vk=" + alice, status: 400, reason: token.AmbiguousPath},
		{name: "double encoded slash", uri: "/photos/alice/..%252Fbob/b.txt?vk=" + alice, status: 400, reason: token.AmbiguousPath},
		{name: "triple encoding", uri: "/photos/alice/%25252e%25252e/bob?vk=" + alice, status: 400, reason: token.AmbiguousPath},
		{name: "encoded nul at the end", uri: "/photos/alice/a.txt%00?vk=" + alice, status: 400, reason: token.AmbiguousPath},
		{name: "overlong utf-8 slash", uri: "/photos/alice/..%c0%afbob/b.txt?vk=" + alice, status: 400, reason: token.AmbiguousPath},
		{name: "overlong 3-byte dot", uri: "/photos/alice/%e0%80%ae%e0%80%ae/bob?vk=" + alice, status: 400, reason: token.AmbiguousPath},
		{name: "encoded DEL", uri: "/photos/alice/a%7f.txt?vk=" + alice, status: 400, reason: token.AmbiguousPath},
		{name: "iis %u escape (Go refuses it first)", uri: "/photos/alice/%u002e%u002e/bob?vk=" + alice, status: 400},
		{name: "path of exactly the limit", site: "proxy", uri: limitPath + "?vk=" + alice, status: 200},
		{name: "path one byte over the limit", uri: limitPath + "x?vk=" + alice, status: 400, reason: token.AmbiguousPath},
		{name: "leading double slash to another host name", uri: "//evil.example?vk=" + rootTok, status: 308, check: noLeakingRedirect},
		{name: "three dots is a name, not a segment", uri: "/photos/alice/...?vk=" + alice, status: 404},
		{name: "fullwidth dots are a name", uri: "/photos/alice/%EF%BC%8E%EF%BC%8E/b.txt?vk=" + alice, status: 404},
		{name: "encoded ordinary letter is the same file", uri: "/photos/%61lice/a.txt?vk=" + alice, status: 200},

		// Scope boundaries.
		{name: "exact scope with a trailing slash", uri: "/photos/alice/a.txt/?vk=" + exact, status: 403, reason: token.OutOfScope},
		{name: "exact scope, sibling", uri: "/photos/alice/sub/deep.txt?vk=" + exact, status: 403, reason: token.OutOfScope},
		{name: "second scope of a token", uri: "/photos/bob/b.txt?vk=" + multi, status: 200},
		{name: "outside both scopes", uri: "/photos/alice/sub/deep.txt?vk=" + multi, status: 403, reason: token.OutOfScope},
		{name: "root scope covers all", uri: "/photos/bob/b.txt?vk=" + rootTok, status: 200},
		{name: "parent of the scope", uri: "/photos/?vk=" + alice, status: 403, reason: token.OutOfScope},
		{name: "absolute-form request line, other path", uri: "http://" + "%HOST%" + "/photos/bob/b.txt?vk=" + alice, status: 400, reason: token.AmbiguousPath},
		{name: "asterisk-form", uri: "*", status: 400, reason: token.AmbiguousPath},

		// Method tricks.
		{name: "CONNECT with a path", method: "CONNECT", uri: a + alice, status: 400, reason: token.AmbiguousPath},
		{name: "CONNECT authority form", method: "CONNECT", uri: "%HOST%", status: 400, reason: token.AmbiguousPath},
		{name: "OPTIONS", method: "OPTIONS", uri: a + alice, status: 403, reason: token.MethodNotAllowed},
		{name: "PATCH", method: "PATCH", uri: a + alice, status: 403, reason: token.MethodNotAllowed},
		{name: "PROPFIND", method: "PROPFIND", uri: a + alice, status: 403, reason: token.MethodNotAllowed},
		{name: "lowercase head", method: "head", uri: a + alice, status: 403, reason: token.MethodNotAllowed},
		{name: "POST overridden to GET", method: "POST", uri: a + alice, headers: []string{"X-HTTP-Method-Override", "GET", "X-HTTP-Method", "GET", "X-Method-Override", "GET"}, status: 403, reason: token.MethodNotAllowed},
		{name: "overrides stripped before the upstream", site: "proxy", uri: a + alice, headers: []string{"X-HTTP-Method-Override", "DELETE", "X-HTTP-Method", "PUT", "X-Method-Override", "DELETE"}, status: 200},

		// Algorithm confusion and key ids.
		{name: "no kid with two live keys", uri: a + forged(jwt.SigningMethodHS256, map[string]any{"kid": nil}, hsSecret), status: 401, reason: token.UnknownKey},
		{name: "numeric kid", uri: a + forged(jwt.SigningMethodHS256, map[string]any{"kid": 1}, hsSecret), status: 401, reason: token.MalformedToken},
		{name: "kid with a NUL", uri: a + forged(jwt.SigningMethodHS256, map[string]any{"kid": "hs1\x00"}, hsSecret), status: 401, reason: token.UnknownKey},
		{name: "kid with CRLF and a header", uri: a + forged(jwt.SigningMethodHS256, map[string]any{"kid": "hs1\r\nValet-Reason: allowed"}, hsSecret), status: 401, reason: token.UnknownKey},
		{name: "kid naming a file", uri: a + forged(jwt.SigningMethodHS256, map[string]any{"kid": "/dev/null"}, []byte("")), status: 401, reason: token.UnknownKey},
		{name: "HS512 under the HS256 key", uri: a + forged(jwt.SigningMethodHS512, map[string]any{"kid": "hs1"}, hsSecret), status: 401, reason: token.AlgMismatch},
		{name: "HS256 keyed with the raw Ed25519 public key", uri: a + forged(jwt.SigningMethodHS256, map[string]any{"kid": "ed1"}, []byte(rawEdPub.(ed25519.PublicKey))), status: 401, reason: token.AlgMismatch},
		{name: "EdDSA by an attacker under ed1", uri: a + forged(jwt.SigningMethodEdDSA, map[string]any{"kid": "ed1"}, attackerEd), status: 401, reason: token.BadSignature},
		{name: "embedded jwk of the attacker", uri: a + forged(jwt.SigningMethodEdDSA, map[string]any{"kid": "ed1", "jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "attacker"}}, attackerEd), status: 401, reason: token.BadSignature},
		{name: "EdDSA header under the HS256 key", uri: a + forged(jwt.SigningMethodEdDSA, map[string]any{"kid": "hs1"}, attackerEd), status: 401, reason: token.AlgMismatch},
		{name: "crit header", uri: a + forged(jwt.SigningMethodHS256, map[string]any{"kid": "hs1", "crit": []string{"exp"}}, hsSecret), status: 401, reason: token.MalformedToken},

		// Tampered and truncated tokens.
		{name: "signature of another token", uri: a + parts[0] + "." + parts[1] + "." + other[2], status: 401, reason: token.BadSignature},
		{name: "no signature at all", uri: a + parts[0] + "." + parts[1] + ".", status: 401, reason: token.BadSignature},
		{name: "header only", uri: a + parts[0], status: 401, reason: token.MalformedToken},
		{name: "four segments", uri: a + alice + ".x", status: 401, reason: token.MalformedToken},
		{name: "padded base64", uri: a + alice + "%3D", status: 401, reason: token.MalformedToken},
		{name: "payload cut short", uri: a + parts[0] + "." + parts[1][:len(parts[1])-2] + "." + parts[2], status: 401, reason: token.MalformedToken},
		{name: "trailing space", uri: a + alice + "%20", status: 401, reason: token.MalformedToken},
		{name: "empty token", uri: a, status: 401, reason: token.MissingToken},

		// Tokens in the wrong place or twice.
		{name: "bearer header only", uri: "/photos/alice/a.txt", headers: []string{"Authorization", "Bearer " + alice}, status: 401, reason: token.MissingToken},
		{name: "cookie only", uri: "/photos/alice/a.txt", headers: []string{"Cookie", "vk=" + alice}, status: 401, reason: token.MissingToken},
		{name: "upper-case parameter", uri: "/photos/alice/a.txt?VK=" + stray, status: 401, reason: token.MissingToken},
		{name: "token in the path", uri: "/photos/alice/vk=" + stray, status: 401, reason: token.MissingToken},
		{name: "second token empty", uri: a + alice + "&vk=", status: 400, reason: token.DuplicateToken},
		{name: "second token without =", uri: a + alice + "&vk", status: 400, reason: token.DuplicateToken},
		{name: "encoded parameter name", uri: "/photos/alice/a.txt?x=1&v%6B=" + alice + "&vk=" + aliceEd, status: 400, reason: token.DuplicateToken},
		{name: "token smuggled in a value", uri: a + alice + "%26vk%3D" + aliceEd, status: 401, reason: token.MalformedToken},
		{name: "raw # before the token, denied", uri: "/photos/bob/b.txt?x=1#&vk=" + alice, status: 403, reason: token.OutOfScope},
		{name: "raw # in the path, denied", uri: "/photos/bob/a#b?vk=" + alice, status: 403, reason: token.OutOfScope},
		{name: "bad escape in another key", uri: "/photos/alice/a.txt?%zz=1&vk=" + alice, status: 400, reason: token.AmbiguousQuery},

		// Enormous tokens and queries.
		{name: "garbage over 4 KiB", uri: a + strings.Repeat("a", token.MaxTokenLength+1), status: 401, reason: token.MalformedToken},
		{name: "signed token over 4 KiB", uri: a + bigGroup, status: 401, reason: token.MalformedToken},
		{name: "12 KiB of other query", uri: a + alice + "&" + longQuery, status: 200},
		{name: "two thousand parameters", uri: "/photos/alice/a.txt?" + manyParams + "vk=" + alice, status: 200},
		{name: "query over Caddy's 16 KiB header limit", uri: a + alice + "&pad=" + strings.Repeat("x", 24<<10), status: 431},
		{name: "one MiB query", uri: a + alice + "&pad=" + strings.Repeat("x", 1<<20), status: 431},

		// Audience.
		{name: "audience matches", site: "aud", uri: a + audTok("files.example"), status: 200},
		{name: "audience among several", site: "aud", uri: a + audTok("other.example", "files.example"), status: 200},
		{name: "audience differs in case", site: "aud", uri: a + audTok("Files.Example"), status: 401, reason: token.AudienceMismatch},
		{name: "audience missing", site: "aud", uri: a + alice, status: 401, reason: token.AudienceMismatch},
		{name: "audience of another site", site: "aud", uri: a + audTok("other.example"), status: 401, reason: token.AudienceMismatch},

		// IP binding and X-Forwarded-For.
		{name: "spoofed XFF to an untrusting server", uri: a + ipBound, headers: []string{"X-Forwarded-For", "203.0.113.7"}, status: 403, reason: token.IPNotAllowed},
		{name: "XFF from a trusted proxy", site: "trusted", uri: a + ipBound, headers: []string{"X-Forwarded-For", "203.0.113.7"}, status: 200},
		{name: "trusted proxy, token bound to the proxy", site: "trusted", uri: a + loopBound, headers: []string{"X-Forwarded-For", "203.0.113.7"}, status: 403, reason: token.IPNotAllowed},
		{name: "client-prepended XFF through a trusted proxy", site: "trusted", uri: a + ipBound, headers: []string{"X-Forwarded-For", "203.0.113.7, 198.51.100.9"}, status: 403, reason: token.IPNotAllowed},
		{name: "X-Real-IP is not trusted", site: "trusted", uri: a + ipBound, headers: []string{"X-Real-IP", "203.0.113.7"}, status: 403, reason: token.IPNotAllowed},
		{name: "trusted proxy without XFF", site: "trusted", uri: a + loopBound, status: 200},

		// Redirects keep the token on this site and never carry it to another host.
		{name: "directory without slash", uri: "/photos/alice/sub?x=1&vk=" + alice, status: 308, check: func(t *testing.T, resp *http.Response, body string) {
			noLeakingRedirect(t, resp, body)
			if loc := resp.Header.Get("Location"); loc != "/photos/alice/sub/?vk="+alice+"&x=1" {
				t.Fatalf("Location %q, want the same-host directory with the token and the other parameters", loc)
			}
		}},
		{name: "upstream redirect to another host", site: "proxy", uri: "/photos/alice/redirect/x?y=2&vk=" + alice, status: 302, check: func(t *testing.T, resp *http.Response, body string) {
			if loc := resp.Header.Get("Location"); loc != "http://other.example/landing?y=2" {
				t.Fatalf("Location %q, want the other host without the token", loc)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			site := g.sites["files"]
			if tc.site != "" {
				site = g.sites[tc.site]
			}
			method := tc.method
			if method == "" {
				method = "GET"
			}
			uri := strings.ReplaceAll(tc.uri, "%HOST%", site)
			resp, body := rawRequest(t, site, method, uri, tc.headers...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (reason %q, body %.200q)", resp.StatusCode, tc.status, resp.Header.Get("Valet-Reason"), body)
			}
			if got := token.Reason(resp.Header.Get("Valet-Reason")); got != tc.reason {
				t.Fatalf("reason %q, want %q", got, tc.reason)
			}
			for name, values := range resp.Header {
				if name == "Location" && resp.StatusCode/100 == 3 {
					continue // a same-site redirect keeps the token; checked by noLeakingRedirect
				}
				for _, s := range used {
					if sig := s[strings.LastIndex(s, ".")+1:]; strings.Contains(strings.Join(values, " "), sig) {
						t.Fatalf("response header %s echoes a token", name)
					}
				}
			}
			if tc.check != nil {
				tc.check(t, resp, body)
			}
		})
	}

	t.Run("upstream never sees a token or an override", func(t *testing.T) {
		seen := g.upstream.all()
		if !strings.Contains(seen, "/photos/alice/a.txt") {
			t.Fatalf("the upstream saw no request:\n%s", seen)
		}
		for _, h := range []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"} {
			if strings.Contains(seen, h+":") {
				t.Fatalf("the upstream received %s:\n%s", h, seen)
			}
		}
		assertNoToken(t, "upstream requests", seen, used)
	})
	t.Run("logs never hold a token", func(t *testing.T) {
		var logged []byte
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if logged, _ = os.ReadFile(g.accessLog); strings.Contains(string(logged), "/photos/alice/redirect/x") {
				break
			}
		}
		if !strings.Contains(string(logged), "bad_signature") && !strings.Contains(string(logged), `"status":401`) {
			t.Fatalf("the access log does not show the denials:\n%.2000s", logged)
		}
		assertNoToken(t, "access log", string(logged), used)
		assertNoToken(t, "Caddy's log", g.Logs(), used)
	})
}

// assertNoToken fails if text holds the signature (or any whole
// base64url-escaped form) of one of the tokens.
func assertNoToken(t *testing.T, where, text string, tokens []string) {
	t.Helper()
	for _, s := range tokens {
		sig := s[strings.LastIndex(s, ".")+1:]
		if sig == "" {
			continue
		}
		if strings.Contains(text, sig) || strings.Contains(text, url.QueryEscape(sig)) {
			i := strings.Index(text, sig)
			t.Fatalf("the %s holds a token signature, e.g. near %q", where, text[max(0, i-200):min(len(text), i+50)])
		}
	}
}

// TestAttackLeewayEdges sends tokens exactly at the edges of the gateway's
// 30s leeway and 1h max_ttl. JWT times are whole seconds, so each case
// starts early in a second and is retried if the answer came too late in
// it to be read precisely.
func TestAttackLeewayEdges(t *testing.T) {
	g := startGateway(t) // leeway 30s, max_ttl 1h
	at := func(d time.Duration) func(time.Time) *jwt.NumericDate {
		return func(base time.Time) *jwt.NumericDate { return jwt.NewNumericDate(base.Add(d)) }
	}
	never := func(time.Time) *jwt.NumericDate { return nil }
	cases := []struct {
		name          string
		iat, exp, nbf func(time.Time) *jwt.NumericDate
		status        int
		reason        token.Reason
	}{
		{"exp 29s ago, inside the leeway", at(-time.Minute), at(-29 * time.Second), never, 200, ""},
		{"exp 30s ago, on the edge: expired", at(-time.Minute), at(-30 * time.Second), never, 401, token.Expired},
		{"nbf 30s ahead, on the edge: valid", at(0), at(10 * time.Minute), at(30 * time.Second), 200, ""},
		{"nbf 31s ahead: not yet valid", at(0), at(10 * time.Minute), at(31 * time.Second), 401, token.NotYetValid},
		{"lifetime of max_ttl plus leeway", at(0), at(time.Hour + 30*time.Second), never, 200, ""},
		{"lifetime one second longer", at(0), at(time.Hour + 31*time.Second), never, 401, token.TTLTooLong},
		{"a future iat does not stretch max_ttl", at(10 * time.Minute), at(time.Hour + 10*time.Minute), never, 401, token.TTLTooLong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for attempt := 0; ; attempt++ {
				now := time.Now()
				time.Sleep(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond).Sub(now))
				base := time.Now().Truncate(time.Second)
				c := claims("/photos/alice/")
				c.IssuedAt, c.ExpiresAt, c.NotBefore = tc.iat(base), tc.exp(base), tc.nbf(base)
				resp, body := rawRequest(t, g.files, "GET", "/photos/alice/a.txt?vk="+mint(t, c, g.keys.hs))
				if time.Since(base) > 800*time.Millisecond {
					if attempt < 3 {
						continue // too close to the next second to be exact
					}
					t.Fatal("the gateway answered too slowly to test second edges")
				}
				if resp.StatusCode != tc.status || token.Reason(resp.Header.Get("Valet-Reason")) != tc.reason {
					t.Fatalf("%d %q (%q), want %d %q", resp.StatusCode, resp.Header.Get("Valet-Reason"), body, tc.status, tc.reason)
				}
				return
			}
		})
	}
}
