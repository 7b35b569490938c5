package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
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

// gateway is a real Caddy with two gated sites: file_server over a store
// directory, and reverse_proxy to a recording upstream.
type gateway struct {
	*testenv.Caddy
	files, proxy string // host:port of each site
	keys         *keys
	accessLog    string
	upstream     *recorder
}

// recorder is an upstream that remembers the request URIs it received.
type recorder struct {
	mu   sync.Mutex
	uris []string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.uris = append(rec.uris, r.RequestURI+" "+strings.Join(r.Header.Values("X-Http-Method-Override"), ","))
	rec.mu.Unlock()
	fmt.Fprint(w, "upstream")
}

func (rec *recorder) last() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.uris) == 0 {
		return ""
	}
	return rec.uris[len(rec.uris)-1]
}

const storeFiles = "photos/alice/a.txt photos/alice/sub/deep.txt photos/alice2/x.txt photos/bob/b.txt photos/Alice/A.txt"

func startGateway(t *testing.T) *gateway {
	t.Helper()
	g := &gateway{keys: newKeys(t), upstream: &recorder{}}
	root := t.TempDir()
	for _, f := range strings.Fields(storeFiles) {
		mustWrite(t, filepath.Join(root, f), "content of "+f)
	}
	up := httptest.NewServer(g.upstream)
	t.Cleanup(up.Close)
	g.files = testenv.Addr(testenv.FreePort(t))
	g.proxy = testenv.Addr(testenv.FreePort(t))
	g.accessLog = filepath.Join(t.TempDir(), "access.log")
	gate := fmt.Sprintf(`valet {
		key hs1 hs256 {file.%s}
		key ed1 eddsa {file.%s}
		leeway 30s
		max_ttl 1h
	}`, g.keys.hsFile, g.keys.edPub)
	caddyfile := fmt.Sprintf(`http://%s {
	log {
		output file %s
		format filter {
			request>uri query {
				delete vk
			}
		}
	}
	root * %s
	%s
	file_server
}
http://%s {
	%s
	reverse_proxy %s
}
`, g.files, g.accessLog, root, gate, g.proxy, gate, strings.TrimPrefix(up.URL, "http://"))
	g.Caddy = testenv.StartCaddy(t, caddyfile, "http://"+g.files+"/")
	return g
}

func TestGateDecisions(t *testing.T) {
	g := startGateway(t)
	k := g.keys
	alice := mint(t, claims("/photos/alice/"), k.hs)
	aliceEd := mint(t, claims("/photos/alice/"), k.ed)
	exact := mint(t, claims("/photos/alice/a.txt"), k.hs)
	put := func() string { c := claims("/photos/alice/"); c.Methods = []string{"PUT"}; return mint(t, c, k.hs) }()
	at := func(exp, nbf, iat time.Duration) string {
		c := claims("/photos/alice/")
		c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(exp))
		if nbf != 0 {
			c.NotBefore = jwt.NewNumericDate(time.Now().Add(nbf))
		}
		if iat != 0 {
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(iat))
		}
		return mint(t, c, k.hs)
	}
	withIP := func(cidr string) string {
		c := claims("/photos/alice/")
		c.IPs = []string{cidr}
		return mint(t, c, k.hs)
	}
	httpsOnly := func() string { c := claims("/photos/alice/"); c.HTTPSOnly = true; return mint(t, c, k.hs) }()
	aud := func() string {
		c := claims("/photos/alice/")
		c.Audience = jwt.ClaimStrings{"other-site"}
		return mint(t, c, k.hs)
	}()

	// Algorithm confusion: an HS256 token whose "secret" is the Ed25519
	// public key, under the Ed25519 key's id; and alg none.
	confused := func() string {
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, claimsWithID("/photos/alice/"))
		tk.Header["kid"] = "ed1"
		s, err := tk.SignedString(k.edPublicKeyBytes)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	none := func() string {
		tk := jwt.NewWithClaims(jwt.SigningMethodNone, claimsWithID("/photos/alice/"))
		tk.Header["kid"] = "hs1"
		s, err := tk.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	unknownKid := func() string {
		other, _ := token.NewHMACKey("../../etc/passwd", []byte(strings.Repeat("x", 32)))
		return mint(t, claims("/photos/alice/"), other)
	}()
	tampered := func() string {
		parts := strings.Split(alice, ".")
		c := claims("/photos/")
		c.ID = "tampered-token-id-000"
		forged := strings.Split(mint(t, c, k.hs), ".")
		return parts[0] + "." + forged[1] + "." + parts[2]
	}()

	cases := []struct {
		name, method, uri string
		status            int
		reason            token.Reason
	}{
		{"allow", "GET", "/photos/alice/a.txt?vk=" + alice, 200, ""},
		{"allow eddsa", "GET", "/photos/alice/a.txt?vk=" + aliceEd, 200, ""},
		{"allow subtree", "GET", "/photos/alice/sub/deep.txt?vk=" + alice, 200, ""},
		{"allow exact scope", "GET", "/photos/alice/a.txt?vk=" + exact, 200, ""},
		{"head with get grant", "HEAD", "/photos/alice/a.txt?vk=" + alice, 200, ""},
		{"double slash collapses", "GET", "//photos//alice/a.txt?vk=" + alice, 200, ""},
		{"other params kept", "GET", "/photos/alice/a.txt?x=1&vk=" + alice + "&y=2", 200, ""},
		{"exp within leeway", "GET", "/photos/alice/a.txt?vk=" + at(-10*time.Second, 0, -time.Minute), 200, ""},
		{"nbf within leeway", "GET", "/photos/alice/a.txt?vk=" + at(time.Minute, 10*time.Second, 0), 200, ""},
		{"ip allowed", "GET", "/photos/alice/a.txt?vk=" + withIP("127.0.0.0/8"), 200, ""},

		{"missing token", "GET", "/photos/alice/a.txt", 401, token.MissingToken},
		{"token in wrong param", "GET", "/photos/alice/a.txt?token=" + alice, 401, token.MissingToken},
		{"duplicate token", "GET", "/photos/alice/a.txt?vk=" + alice + "&vk=" + alice, 400, token.DuplicateToken},
		{"duplicate encoded name", "GET", "/photos/alice/a.txt?vk=" + alice + "&%76k=" + alice, 400, token.DuplicateToken},
		{"semicolon query", "GET", "/photos/alice/a.txt?x=1;vk=" + alice, 400, token.AmbiguousQuery},
		{"garbage token", "GET", "/photos/alice/a.txt?vk=abc.def.ghi", 401, token.MalformedToken},
		{"signature cut off", "GET", "/photos/alice/a.txt?vk=" + alice[:strings.LastIndex(alice, ".")], 401, token.MalformedToken},
		{"flipped signature byte", "GET", "/photos/alice/a.txt?vk=" + flip(alice, len(alice)-10), 401, token.BadSignature},
		{"tampered payload", "GET", "/photos/alice/a.txt?vk=" + tampered, 401, token.BadSignature},
		{"alg none", "GET", "/photos/alice/a.txt?vk=" + none, 401, token.AlgMismatch},
		{"hs256 with ed public key", "GET", "/photos/alice/a.txt?vk=" + confused, 401, token.AlgMismatch},
		{"unknown kid", "GET", "/photos/alice/a.txt?vk=" + unknownKid, 401, token.UnknownKey},
		{"expired", "GET", "/photos/alice/a.txt?vk=" + at(-time.Minute, 0, -2*time.Minute), 401, token.Expired},
		{"not yet valid", "GET", "/photos/alice/a.txt?vk=" + at(2*time.Minute, time.Minute, 0), 401, token.NotYetValid},
		{"ttl over max_ttl", "GET", "/photos/alice/a.txt?vk=" + at(3*time.Hour, 0, -time.Second), 401, token.TTLTooLong},
		{"audience on a gateway without one", "GET", "/photos/alice/a.txt?vk=" + aud, 401, token.AudienceMismatch},

		{"out of scope", "GET", "/photos/bob/b.txt?vk=" + alice, 403, token.OutOfScope},
		{"prefix boundary", "GET", "/photos/alice2/x.txt?vk=" + alice, 403, token.OutOfScope},
		{"case differs", "GET", "/photos/Alice/A.txt?vk=" + alice, 403, token.OutOfScope},
		{"exact scope is not a prefix", "GET", "/photos/alice/a.txt.bak?vk=" + exact, 403, token.OutOfScope},
		{"scope dir without slash: redirected", "GET", "/photos/alice?vk=" + alice, 308, ""},
		{"scope dir without slash, PUT: not redirected", "PUT", "/photos/alice?vk=" + alice, 403, token.OutOfScope},
		{"wrong method", "PUT", "/photos/alice/a.txt?vk=" + alice, 403, token.MethodNotAllowed},
		{"lowercase method", "get", "/photos/alice/a.txt?vk=" + alice, 403, token.MethodNotAllowed},
		{"delete with get grant", "DELETE", "/photos/alice/a.txt?vk=" + alice, 403, token.MethodNotAllowed},
		{"trace", "TRACE", "/photos/alice/a.txt?vk=" + alice, 403, token.MethodNotAllowed},
		{"get with put grant", "GET", "/photos/alice/a.txt?vk=" + put, 403, token.MethodNotAllowed},
		{"ip not allowed", "GET", "/photos/alice/a.txt?vk=" + withIP("10.0.0.0/8"), 403, token.IPNotAllowed},
		{"https only over http", "GET", "/photos/alice/a.txt?vk=" + httpsOnly, 403, token.HTTPSRequired},

		{"dot dot raw", "GET", "/photos/alice/../bob/b.txt?vk=" + alice, 400, token.AmbiguousPath},
		{"dot raw", "GET", "/photos/alice/./a.txt?vk=" + alice, 400, token.AmbiguousPath},
		{"dot dot encoded", "GET", "/photos/alice/%2e%2e/bob/b.txt?vk=" + alice, 400, token.AmbiguousPath},
		{"dot dot mixed", "GET", "/photos/alice/.%2E/bob/b.txt?vk=" + alice, 400, token.AmbiguousPath},
		{"encoded slash", "GET", "/photos/alice%2F..%2Fbob/b.txt?vk=" + alice, 400, token.AmbiguousPath},
		{"encoded slash alone", "GET", "/photos/alice%2fa.txt?vk=" + alice, 400, token.AmbiguousPath},
		{"encoded backslash", "GET", "/photos/alice/..%5Cbob/b.txt?vk=" + alice, 400, token.AmbiguousPath},
		{"raw backslash", "GET", `/photos/alice/..\bob/b.txt?vk=` + alice, 400, token.AmbiguousPath},
		{"nul", "GET", "/photos/alice/a.txt%00.jpg?vk=" + alice, 400, token.AmbiguousPath},
		{"control char", "GET", "/photos/alice/a%0a.txt?vk=" + alice, 400, token.AmbiguousPath},
		{"double encoding", "GET", "/photos/alice/%252e%252e/bob/b.txt?vk=" + alice, 400, token.AmbiguousPath},
		{"overlong utf-8 dot", "GET", "/photos/alice/%c0%ae%c0%ae/bob/b.txt?vk=" + alice, 400, token.AmbiguousPath},
		{"very long path", "GET", "/photos/alice/" + strings.Repeat("a", 5000) + "?vk=" + alice, 400, token.AmbiguousPath},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawRequest(t, g.files, tc.method, tc.uri)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (reason %q, body %q)", resp.StatusCode, tc.status, resp.Header.Get("Valet-Reason"), body)
			}
			if got := token.Reason(resp.Header.Get("Valet-Reason")); got != tc.reason {
				t.Fatalf("reason %q, want %q", got, tc.reason)
			}
			if tc.reason != "" {
				if strings.TrimSpace(body) != string(tc.reason) {
					t.Fatalf("body %q, want the reason %q", body, tc.reason)
				}
				return
			}
			if rp := resp.Header.Get("Referrer-Policy"); rp != "no-referrer" {
				t.Fatalf("Referrer-Policy %q on an allowed response", rp)
			}
			if tc.method == "GET" && tc.status == 200 && !strings.HasPrefix(body, "content of photos/") {
				t.Fatalf("body %q is not the file", body)
			}
		})
	}
}

// flip changes one base64url character of s.
func flip(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

// claimsWithID is a valid claim set for hand-built (non-Mint) tokens.
func claimsWithID(scope string) *token.Claims {
	c := claims(scope)
	c.ID = token.NewID()
	return c
}

func TestGateRangeAndConditional(t *testing.T) {
	g := startGateway(t)
	tok := mint(t, claims("/photos/alice/"), g.keys.hs)
	resp, body := rawRequest(t, g.files, "GET", "/photos/alice/a.txt?vk="+tok, "Range", "bytes=0-6")
	if resp.StatusCode != 206 || body != "content" {
		t.Fatalf("range: %d %q", resp.StatusCode, body)
	}
	etag := resp.Header.Get("ETag")
	resp, _ = rawRequest(t, g.files, "GET", "/photos/alice/a.txt?vk="+tok, "If-None-Match", etag)
	if resp.StatusCode != 304 {
		t.Fatalf("conditional GET: %d, want 304", resp.StatusCode)
	}
}

func TestGateResponseOverrides(t *testing.T) {
	g := startGateway(t)
	c := claims("/photos/alice/")
	c.Response = &token.ResponseOverrides{ContentDisposition: `attachment; filename="report.txt"`, ContentType: "application/octet-stream", CacheControl: "private, max-age=60"}
	resp, _ := rawRequest(t, g.files, "GET", "/photos/alice/a.txt?vk="+mint(t, c, g.keys.hs))
	for name, want := range map[string]string{"Content-Disposition": `attachment; filename="report.txt"`, "Content-Type": "application/octet-stream", "Cache-Control": "private, max-age=60"} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	// An error response keeps its own headers.
	resp, _ = rawRequest(t, g.files, "GET", "/photos/alice/missing.txt?vk="+mint(t, c, g.keys.hs))
	if resp.StatusCode != 404 || resp.Header.Get("Content-Disposition") != "" {
		t.Fatalf("404 got overrides: %d %v", resp.StatusCode, resp.Header)
	}
}

// The upstream must see exactly the judged path, without the token or a
// method override, and the access log must not hold the token.
func TestGateForwardsJudgedRequestOnly(t *testing.T) {
	g := startGateway(t)
	tok := mint(t, claims("/photos/alice/"), g.keys.hs)
	resp, body := rawRequest(t, g.proxy, "GET", "//photos//alice/a%20b.txt?x=1&vk="+tok+"&y=%2F", "X-HTTP-Method-Override", "DELETE")
	if resp.StatusCode != 200 || body != "upstream" {
		t.Fatalf("proxy: %d %q", resp.StatusCode, body)
	}
	if got, want := g.upstream.last(), "/photos/alice/a%20b.txt?x=1&y=%2F "; got != want {
		t.Fatalf("upstream received %q, want %q", got, want)
	}
	// Denied requests never reach the upstream.
	before := g.upstream.last()
	rawRequest(t, g.proxy, "GET", "/photos/bob/b.txt?vk="+tok)
	rawRequest(t, g.proxy, "GET", "/photos/alice/..%2Fbob?vk="+tok)
	if g.upstream.last() != before {
		t.Fatalf("a denied request reached the upstream: %q", g.upstream.last())
	}

	rawRequest(t, g.files, "GET", "/photos/alice/a.txt?vk="+tok)
	rawRequest(t, g.files, "GET", "/photos/bob/b.txt?vk="+tok)
	var logged []byte
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(string(logged), "/photos/bob/") {
		logged, _ = os.ReadFile(g.accessLog)
		time.Sleep(50 * time.Millisecond)
	}
	sig := tok[strings.LastIndex(tok, ".")+1:]
	if !strings.Contains(string(logged), "/photos/alice/a.txt") {
		t.Fatalf("access log is missing the request:\n%s", logged)
	}
	for _, where := range []struct{ name, text string }{{"access log", string(logged)}, {"process log", g.Logs()}} {
		if strings.Contains(where.text, sig) {
			t.Fatalf("the %s contains the token signature:\n%s", where.name, where.text)
		}
	}
	claimsTok, _ := (&token.Verifier{Keys: mustKeySet(t, g.keys.hs)}).Verify(tok, time.Now())
	if !strings.Contains(string(logged), claimsTok.ID) {
		t.Fatalf("the access log does not name the token id %s:\n%s", claimsTok.ID, logged)
	}
}

func mustKeySet(t *testing.T, ks ...*token.Key) *token.KeySet {
	t.Helper()
	set, err := token.NewKeySet(ks...)
	if err != nil {
		t.Fatal(err)
	}
	return set
}
