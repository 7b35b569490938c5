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

	"github.com/chromedp/chromedp"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// leakGateway is Caddy configured with Caddyfile.example's log blocks (the
// default log and the access log, both through the valet filter), a file
// site that also takes header tokens, a proxy site in front of an upstream
// that sets its own Referrer-Policy, and a site whose upstream is down.
type leakGateway struct {
	*testenv.Caddy
	files, proxy, dead string
	accessLog          string
	keys               *keys
	upstream           *policyUpstream
	upstreamURL        string
}

// policyUpstream answers like an application that sets a careless
// Referrer-Policy, and keeps the headers of what it received.
type policyUpstream struct {
	mu       sync.Mutex
	received []http.Header
	next     string // where the page's link points
}

func (u *policyUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.received = append(u.received, r.Header.Clone())
	u.mu.Unlock()
	w.Header().Set("Referrer-Policy", "unsafe-url")
	if strings.HasSuffix(r.URL.Path, "/missing") {
		http.Error(w, "not here", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/html")
	fmt.Fprintf(w, `<!doctype html><a id="next" href="%s/landing">next</a>`, u.next)
}

// exampleBlock returns the block of Caddyfile.example that starts with
// the line `start`, indented by one tab, so tests run the configuration
// users copy.
func exampleBlock(t *testing.T, start string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	example := string(data)
	i := strings.Index(example, "\n\t"+start+" {\n")
	if i < 0 {
		t.Fatalf("Caddyfile.example has no %q block any more; update this test", start)
	}
	end := strings.Index(example[i:], "\n\t}\n")
	return example[i+1 : i+end+3]
}

func startLeakGateway(t *testing.T, next string) *leakGateway {
	t.Helper()
	g := &leakGateway{keys: newKeys(t), upstream: &policyUpstream{next: next}}
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "photos/alice/a.txt"), "alice's file")
	up := httptest.NewServer(g.upstream)
	t.Cleanup(up.Close)
	g.upstreamURL = up.URL
	filesPort := testenv.FreePort(t)
	g.files, g.proxy, g.dead = testenv.Addr(filesPort), testenv.Addr(testenv.FreePort(t)), testenv.Addr(testenv.FreePort(t))
	g.accessLog = filepath.Join(t.TempDir(), "access.log")
	accessLog := exampleLogBlock(t, g.accessLog)
	gate := fmt.Sprintf(`valet {
		key hs1 hs256 {file.%s}
		bearer
		cors_origins *
	}`, g.keys.hsFile)
	caddyfile := fmt.Sprintf(`{
	admin {ADMIN}
	auto_https off
	default_bind 127.0.0.1
%[1]s
}
# Any host name, so that a request naming another host reaches the gate.
http://:%[10]d {
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
%[3]s
	%[5]s
	reverse_proxy 127.0.0.1:%[9]d
}
`, exampleBlock(t, "log default"), g.files, accessLog, root, gate,
		g.proxy, strings.TrimPrefix(up.URL, "http://"), g.dead, testenv.FreePort(t), filesPort)
	g.Caddy = testenv.StartCaddy(t, caddyfile, "http://"+g.files+"/")
	return g
}

// TestLogsHoldNoToken sends a token in every spelling and carrier a client
// could use, admitted, refused, and failing behind the gate (a 502, which
// Caddy logs at error level with the request as it arrived), then reads
// the real access log and Caddy's own log: no signature may be there, raw
// or decoded.
func TestLogsHoldNoToken(t *testing.T) {
	g := startLeakGateway(t, "http://127.0.0.1:9")
	var used []string
	tok := func() string {
		s := mint(t, claims("/photos/alice/"), g.keys.hs)
		used = append(used, s)
		return s
	}
	spell := func(f func(string) string) func() string { return func() string { return f(tok()) } }
	const a = "/photos/alice/a.txt"
	cases := []struct {
		name    string
		addr    string
		uri     func() string
		headers func() []string
		status  int
		reason  token.Reason
	}{
		{name: "plain", uri: spell(func(s string) string { return a + "?vk=" + s }), status: 200},
		{name: "escaped dot", uri: spell(func(s string) string { return a + "?vk=" + strings.ReplaceAll(s, ".", "%2E") }), status: 401, reason: token.MalformedToken},
		{name: "escaped first letter", uri: spell(func(s string) string { return a + "?vk=%65" + s[1:] }), status: 401, reason: token.MalformedToken},
		{name: "LF after eyJ", uri: spell(func(s string) string { return a + "?vk=" + s[:3] + "%0A" + s[3:] }), status: 401, reason: token.MalformedToken},
		{name: "CR in the signature", uri: spell(func(s string) string { return a + "?vk=" + s[:len(s)-4] + "%0D" + s[len(s)-4:] }), status: 401, reason: token.MalformedToken},
		{name: "trailing LF", uri: spell(func(s string) string { return a + "?vk=" + s + "%0A" }), status: 401, reason: token.MalformedToken},
		{name: "double escaped", uri: spell(func(s string) string { return a + "?vk=" + strings.ReplaceAll(s, ".", "%252E") }), status: 401, reason: token.MalformedToken},
		{name: "escaped parameter name", uri: spell(func(s string) string { return a + "?%76k=" + s }), status: 200},
		{name: "twice", uri: func() string { s := tok(); return a + "?vk=" + s + "&vk=" + s }, status: 400, reason: token.DuplicateToken},
		{name: "semicolon", uri: spell(func(s string) string { return a + "?x=1;vk=" + s }), status: 400, reason: token.AmbiguousQuery},
		{name: "another parameter", uri: spell(func(s string) string { return a + "?token=" + s }), status: 401, reason: token.MissingToken},
		{name: "raw hash", uri: spell(func(s string) string { return a + "?#vk=" + s }), status: 401, reason: token.MissingToken},
		{name: "in the path", uri: spell(func(s string) string { return "/" + s + a }), status: 401, reason: token.MissingToken},
		{name: "absolute-form naming another host", uri: spell(func(s string) string { return "http://evil.example" + a + "?vk=" + s }), status: 400, reason: token.AmbiguousPath},
		{name: "ambiguous path", uri: spell(func(s string) string { return "/photos/alice/%2e%2e/a.txt?vk=" + s }), status: 400, reason: token.AmbiguousPath},
		{name: "bad signature", uri: spell(func(s string) string { return a + "?vk=" + s[:len(s)-3] + "AAA" }), status: 401, reason: token.BadSignature},
		{name: "in the Referer", uri: func() string { return a }, headers: func() []string { return []string{"Referer", "https://app.example/p?vk=" + tok()} }, status: 401, reason: token.MissingToken},
		{name: "bearer header", uri: func() string { return a }, headers: func() []string { return []string{"Authorization", "Bearer " + tok()} }, status: 200},
		{name: "upstream down", addr: g.dead, uri: spell(func(s string) string { return a + "?vk=" + s }), status: 502},
		{name: "upstream down, escaped", addr: g.dead, uri: spell(func(s string) string { return a + "?vk=" + s[:3] + "%0A" + s[3:] }), status: 401, reason: token.MalformedToken},
	}
	for _, tc := range cases {
		addr := tc.addr
		if addr == "" {
			addr = g.files
		}
		var headers []string
		if tc.headers != nil {
			headers = tc.headers()
		}
		resp, body := rawRequest(t, addr, "GET", tc.uri(), headers...)
		if resp.StatusCode != tc.status || token.Reason(resp.Header.Get("Valet-Reason")) != tc.reason {
			t.Errorf("%s: %d %q (%q), want %d %q", tc.name, resp.StatusCode, resp.Header.Get("Valet-Reason"), body, tc.status, tc.reason)
		}
	}

	var logged string
	eventually(t, 5*time.Second, func() bool {
		data, _ := os.ReadFile(g.accessLog)
		logged = string(data)
		return strings.Count(logged, "\n") >= len(cases)
	}, "every request in the access log")
	if !strings.Contains(logged, "REDACTED") || !strings.Contains(logged, `"status":401`) {
		t.Fatalf("the access log shows no redaction or no denial:\n%.3000s", logged)
	}
	if !strings.Contains(g.Logs(), `"status":502`) && !strings.Contains(g.Logs(), "connection refused") {
		t.Fatalf("Caddy's log has no entry for the failing upstream, so it proves nothing:\n%.3000s", g.Logs())
	}
	assertNoTokenDecoded(t, "access log", logged, used)
	assertNoTokenDecoded(t, "Caddy's log", g.Logs(), used)
}

// assertNoTokenDecoded fails if text holds a signature of tokens, as
// written or once percent-escapes and JSON's \n and \r are undone.
func assertNoTokenDecoded(t *testing.T, where, text string, tokens []string) {
	t.Helper()
	assertNoToken(t, where, text, tokens)
	decoded := text
	for range 3 {
		decoded = unescapeAll(decoded)
	}
	decoded = strings.NewReplacer("\n", "", "\r", "", `\n`, "", `\r`, "", `\u000a`, "", `\u000d`, "").Replace(decoded)
	assertNoToken(t, where+" (decoded)", decoded, tokens)
}

func unescapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+3], "%02x", &c); err == nil {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TestReferrerPolicySurvivesUpstream: an upstream's own Referrer-Policy
// never reaches the client beside ours, on a page or an error; and in a
// real browser, following a link from a gated page sends no Referer.
func TestReferrerPolicySurvivesUpstream(t *testing.T) {
	var mu sync.Mutex
	var referers []string
	next := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		referers = append(referers, r.Header.Get("Referer"))
		mu.Unlock()
		fmt.Fprint(w, "landed")
	}))
	t.Cleanup(next.Close)
	g := startLeakGateway(t, next.URL)
	tok := mint(t, claims("/photos/alice/"), g.keys.hs)

	for _, path := range []string{"/photos/alice/page.html", "/photos/alice/missing"} {
		resp, _ := rawRequest(t, g.proxy, "GET", path+"?vk="+tok)
		if got := resp.Header.Values("Referrer-Policy"); len(got) != 1 || got[0] != "no-referrer" {
			t.Errorf("%s (%d): Referrer-Policy %q, want only no-referrer", path, resp.StatusCode, got)
		}
	}
	resp, _ := rawRequest(t, g.proxy, "GET", "/photos/alice/page.html")
	if got := resp.Header.Values("Referrer-Policy"); resp.StatusCode != 401 || len(got) != 1 || got[0] != "no-referrer" {
		t.Errorf("denial: %d, Referrer-Policy %q", resp.StatusCode, got)
	}

	ctx := newBrowser(t, 60*time.Second)
	follow := func(page string) string {
		t.Helper()
		mu.Lock()
		referers = nil
		mu.Unlock()
		if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.Click("#next"),
			chromedp.WaitVisible("body"), chromedp.Sleep(300*time.Millisecond)); err != nil {
			t.Fatalf("browser: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(referers) == 0 {
			t.Fatalf("the browser never reached the next server from %s", page)
		}
		return referers[0]
	}
	// The control: the upstream's page on its own makes the browser send
	// the whole URL, so the check below can fail.
	if ref := follow(g.upstreamURL + "/photos/alice/page.html?vk=" + tok); !strings.Contains(ref, "vk=") {
		t.Fatalf("control: the upstream's own page sent Referer %q; unsafe-url should send the query", ref)
	}
	if ref := follow("http://" + g.proxy + "/photos/alice/page.html?vk=" + tok); ref != "" {
		t.Fatalf("following a link from a gated page sent Referer %q", ref)
	}
}
