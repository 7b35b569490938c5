package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// s3Gateway is a real Caddy in front of a real versitygw: one site gated
// by valet with the s3 transport (through a spy that records what reaches
// the store), one ungated site whose transport signs with a wrong secret.
type s3Gateway struct {
	*testenv.Caddy
	addr, badAddr string
	store         *versity
	spy           *s3Spy
	keys          *keys
}

func startS3Gateway(t *testing.T) *s3Gateway {
	t.Helper()
	g := &s3Gateway{keys: newKeys(t), store: startVersity(t, s3Bucket, "other")}
	g.spy = startS3Spy(t, g.store.addr)
	g.addr = testenv.Addr(testenv.FreePort(t))
	g.badAddr = testenv.Addr(testenv.FreePort(t))
	gate := fmt.Sprintf("valet {\n\t\tkey hs1 hs256 {file.%s}\n\t}", g.keys.hsFile)
	creds := "access_key_id " + s3Access + "\n\t\t\tsecret_access_key {env.VALET_TEST_S3_SECRET}"
	t.Setenv("VALET_TEST_S3_SECRET", s3Secret)
	caddyfile := s3Caddyfile(g.addr, gate, g.spy.addr, "bucket "+s3Bucket+"\n\t\t\tprefix store\n\t\t\tlisting\n\t\t\t"+creds) +
		s3Caddyfile(g.badAddr, "", g.store.addr, "bucket "+s3Bucket+"\n\t\t\taccess_key_id "+s3Access+"\n\t\t\tsecret_access_key WRONG")
	g.Caddy = testenv.StartCaddy(t, caddyfile, "http://"+g.addr+"/")
	g.spy.take()
	return g
}

// grant mints a token for methods on scope, with optional changes.
func (g *s3Gateway) grant(t *testing.T, scope string, methods []string, edit ...func(*token.Claims)) string {
	c := claims(scope)
	c.Methods = methods
	for _, e := range edit {
		e(c)
	}
	return mint(t, c, g.keys.hs)
}

// send is do with a body from bytes (nil for none).
func send(t *testing.T, method, u string, body []byte, headers ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	resp, text := do(t, method, u, rd, int64(len(body)), headers...)
	return resp, []byte(text)
}

func expect(t *testing.T, what string, res *http.Response, status int) {
	t.Helper()
	if res.StatusCode != status {
		t.Errorf("%s: status %d, want %d (Valet-Reason %q)", what, res.StatusCode, status, res.Header.Get("Valet-Reason"))
	}
}

// Keys that break naive signing: space, +, =, &, (, ), ~, ;, ', !, ?, UTF-8.
var awkwardKeys = []string{
	"/photos/alice/plain.txt",
	"/photos/alice/a b.txt",
	"/photos/alice/1+1=2 & (x)~y.txt",
	"/photos/alice/semi;colon,comma'quote!.txt",
	"/photos/alice/what?.txt",
	"/photos/alice/été/日本語.txt",
}

func escaped(p string) string { return (&url.URL{Path: p}).EscapedPath() }

func TestS3ObjectMethods(t *testing.T) {
	g := startS3Gateway(t)
	put := g.grant(t, "/photos/alice/", []string{"PUT"})
	overwrite := g.grant(t, "/photos/alice/", []string{"PUT"}, func(c *token.Claims) { c.Overwrite = true })
	get := g.grant(t, "/photos/alice/", []string{"GET"})
	del := g.grant(t, "/photos/alice/", []string{"DELETE"})

	for _, key := range awkwardKeys {
		u := func(tok string) string { return s3URL(g.addr, escaped(key), tok) }
		content := []byte("content of " + key)

		res, _ := send(t, "PUT", u(put), content, "Content-Type", "text/plain")
		expect(t, "PUT "+key, res, 200)
		onDisk, err := os.ReadFile(g.store.path(s3Bucket, "store"+key))
		if err != nil || !bytes.Equal(onDisk, content) {
			t.Errorf("%s: stored as %q, %v", key, onDisk, err)
		}

		res, body := send(t, "GET", u(get), nil)
		expect(t, "GET "+key, res, 200)
		if !bytes.Equal(body, content) || res.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("GET %s: %q (%s)", key, body, res.Header.Get("Content-Type"))
		}
		for name, values := range res.Header {
			if strings.HasPrefix(strings.ToLower(name), "x-amz-") || name == "Server" || len(values) > 1 && name != "Via" {
				t.Errorf("GET %s: vendor or duplicate header %s: %q", key, name, values)
			}
		}
		etag := res.Header.Get("Etag")

		res, body = send(t, "HEAD", u(get), nil)
		expect(t, "HEAD "+key, res, 200)
		if res.ContentLength != int64(len(content)) || len(body) != 0 {
			t.Errorf("HEAD %s: length %d, body %q", key, res.ContentLength, body)
		}

		res, body = send(t, "GET", u(get), nil, "Range", "bytes=2-5")
		expect(t, "Range "+key, res, 206)
		if string(body) != string(content[2:6]) || res.Header.Get("Content-Range") != fmt.Sprintf("bytes 2-5/%d", len(content)) {
			t.Errorf("Range %s: %q, %q", key, body, res.Header.Get("Content-Range"))
		}
		res, _ = send(t, "GET", u(get), nil, "Range", "bytes=5000-6000")
		expect(t, "unsatisfiable range "+key, res, 416)
		res, _ = send(t, "GET", u(get), nil, "If-None-Match", etag)
		expect(t, "If-None-Match "+key, res, 304)
		res, _ = send(t, "GET", u(get), nil, "If-Match", `"not-the-etag"`)
		expect(t, "If-Match "+key, res, 412)
		res, _ = send(t, "HEAD", u(get), nil, "If-Match", `"not-the-etag"`)
		expect(t, "HEAD If-Match "+key, res, 412)

		// Without the ow claim an upload may create, never replace.
		res, _ = send(t, "PUT", u(put), []byte("replaced"))
		expect(t, "PUT over existing without ow "+key, res, 412)
		res, _ = send(t, "PUT", u(overwrite), []byte("replaced"))
		expect(t, "PUT over existing with ow "+key, res, 200)
		if _, body = send(t, "GET", u(get), nil); string(body) != "replaced" {
			t.Errorf("%s after overwrite: %q", key, body)
		}

		res, _ = send(t, "DELETE", u(del), nil)
		expect(t, "DELETE "+key, res, 204)
		res, body = send(t, "GET", u(get), nil)
		expect(t, "GET after DELETE "+key, res, 404)
		if string(body) != "not found\n" {
			t.Errorf("404 body %q", body)
		}
		res, _ = send(t, "HEAD", u(get), nil)
		expect(t, "HEAD after DELETE "+key, res, 404)
	}

	// The token's own limits apply to the upload before the store is asked.
	small := g.grant(t, "/photos/alice/", []string{"PUT"}, func(c *token.Claims) {
		c.MaxBytes = 4
		c.ContentTypes = []string{"image/png"}
	})
	res, _ := send(t, "PUT", s3URL(g.addr, "/photos/alice/big.png", small), []byte("12345"), "Content-Type", "image/png")
	expect(t, "over maxb", res, 413)
	res, _ = send(t, "PUT", s3URL(g.addr, "/photos/alice/page.html", small), []byte("<x>"), "Content-Type", "text/html")
	expect(t, "content type not granted", res, 415)
	res, _ = send(t, "PUT", s3URL(g.addr, "/photos/alice/ok.png", small), []byte("1234"), "Content-Type", "image/png")
	expect(t, "within maxb", res, 200)
}

func TestS3Listing(t *testing.T) {
	g := startS3Gateway(t)
	for _, f := range []string{"photos/alice/a.txt", "photos/alice/b c+d.txt", "photos/alice/sub/deep.txt", "photos/alice2/x.txt", "photos/bob/b.txt"} {
		mustWrite(t, g.store.path(s3Bucket, "store/"+f), "content of "+f)
	}
	alice := g.grant(t, "/photos/alice/", []string{"GET"})
	list := func(path, query string) (*http.Response, map[string]any) {
		res, body := send(t, "GET", s3URL(g.addr, path, alice)+query, nil)
		var l map[string]any
		if res.StatusCode == 200 {
			if err := json.Unmarshal(body, &l); err != nil {
				t.Fatalf("listing is not JSON: %v: %s", err, body)
			}
		}
		return res, l
	}
	res, l := list("/photos/alice/", "")
	expect(t, "list", res, 200)
	if res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("content type %q", res.Header.Get("Content-Type"))
	}
	got, _ := json.Marshal(l)
	want := `"dirs":["sub/"]`
	if !strings.Contains(string(got), want) || !strings.Contains(string(got), `"name":"a.txt"`) ||
		!strings.Contains(string(got), `"name":"b c+d.txt"`) || strings.Contains(string(got), "bob") ||
		strings.Contains(string(got), "alice2") || strings.Contains(string(got), "store") {
		t.Errorf("listing of /photos/alice/: %s", got)
	}

	res, l = list("/photos/alice/", "&limit=1")
	expect(t, "list page 1", res, 200)
	next, _ := l["next"].(string)
	if next == "" || len(l["objects"].([]any))+len(l["dirs"].([]any)) != 1 {
		t.Fatalf("page 1: %v", l)
	}
	res, l = list("/photos/alice/", "&limit=1&cursor="+url.QueryEscape(next))
	expect(t, "list page 2", res, 200)
	if p2, _ := json.Marshal(l); string(p2) == string(got) || len(l["objects"].([]any))+len(l["dirs"].([]any)) != 1 {
		t.Errorf("page 2: %s", p2)
	}

	// Listing needs a grant covering the directory itself.
	exact := g.grant(t, "/photos/alice/a.txt", []string{"GET"})
	res, _ = send(t, "GET", s3URL(g.addr, "/photos/alice/", exact), nil)
	expect(t, "list with a one-file token", res, 403)
	res, _ = send(t, "GET", s3URL(g.addr, "/photos/", alice), nil)
	expect(t, "list the parent", res, 403)
	res, _ = send(t, "GET", s3URL(g.addr, "/photos/alice/", alice)+"&delimiter=", nil)
	expect(t, "list with S3 parameters", res, 400)
}

func TestS3NothingButTheJudgedRequestReachesTheBucket(t *testing.T) {
	g := startS3Gateway(t)
	mustWrite(t, g.store.path("other", "secret.txt"), "other bucket")
	mustWrite(t, g.store.path(s3Bucket, "secret.txt"), "outside the prefix")
	all := g.grant(t, "/", []string{"GET", "PUT", "DELETE"}, func(c *token.Claims) { c.Overwrite = true })
	alice := g.grant(t, "/photos/alice/", []string{"GET", "PUT"}, func(c *token.Claims) { c.Overwrite = true })
	hostile := []string{
		"Cookie", "session=s3cr3t",
		"Authorization", "AWS4-HMAC-SHA256 Credential=CLIENT/x",
		"X-Amz-Acl", "public-read",
		"X-Amz-Meta-Evil", "1",
		"X-Amz-Security-Token", "client-token",
		"X-Amz-Copy-Source", "/other/secret.txt",
		"X-Forwarded-Host", "evil.example",
	}

	res, _ := send(t, "PUT", s3URL(g.addr, "/photos/alice/x.txt", alice), []byte("x"), hostile...)
	expect(t, "PUT with hostile headers", res, 200)
	res, body := send(t, "GET", s3URL(g.addr, "/photos/alice/x.txt", alice), nil, hostile...)
	expect(t, "GET with hostile headers", res, 200)
	if string(body) != "x" {
		t.Errorf("copy source or other header took effect: %q", body)
	}
	seen := g.spy.take()
	if len(seen) != 2 {
		t.Fatalf("store saw %d requests, want 2: %+v", len(seen), seen)
	}
	for _, s := range seen {
		if s.URI != "/valet/store/photos/alice/x.txt" {
			t.Errorf("store saw URI %q", s.URI)
		}
		if s.Host != g.spy.addr {
			t.Errorf("store saw Host %q, want the upstream's %q", s.Host, g.spy.addr)
		}
		if !strings.HasPrefix(s.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="+s3Access+"/") {
			t.Errorf("store saw Authorization %q", s.Header.Get("Authorization"))
		}
		for name, values := range s.Header {
			v := strings.Join(values, ",")
			lower := strings.ToLower(name)
			if lower == "cookie" || lower == "x-forwarded-host" || strings.Contains(v, "s3cr3t") || strings.Contains(v, "evil") ||
				strings.Contains(v, alice) || strings.HasPrefix(lower, "x-amz-") &&
				lower != "x-amz-date" && lower != "x-amz-content-sha256" {
				t.Errorf("store saw header %s: %q", name, v)
			}
		}
	}

	// Sub-resources and S3 parameters never reach the store.
	for _, q := range []string{"acl", "policy", "tagging", "uploads", "versionId=1", "response-content-type=text/html", "X-Amz-Expires=1"} {
		res, _ := send(t, "GET", s3URL(g.addr, "/photos/alice/x.txt", alice)+"&"+q, nil)
		expect(t, "GET ?"+q, res, 400)
		res, _ = send(t, "PUT", s3URL(g.addr, "/photos/alice/x.txt", alice)+"&"+q, []byte("<AccessControlPolicy/>"))
		expect(t, "PUT ?"+q, res, 400)
	}
	res, _ = send(t, "POST", s3URL(g.addr, "/photos/alice/x.txt", all)+"&delete", []byte("<Delete/>"))
	expect(t, "POST ?delete", res, 403) // POST is not granted; the transport refuses it anyway
	req, _ := http.NewRequest("PUT", s3URL(g.addr, "/photos/alice/chunked.txt", alice), io.MultiReader(strings.NewReader("no length")))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body411, _ := io.ReadAll(res.Body)
	res.Body.Close()
	expect(t, "PUT without Content-Length", res, 411)
	if !strings.Contains(string(body411), "resumable (tus) upload") {
		t.Errorf("411 body %q does not point to resumable uploads", body411)
	}
	if seen := g.spy.take(); len(seen) != 0 {
		t.Errorf("refused requests reached the store: %+v", seen)
	}

	// Another bucket, or a key outside the prefix, cannot be named.
	for _, p := range []string{"/../other/secret.txt", "/%2e%2e/other/secret.txt", "/..%2F..%2Fother/secret.txt", "/photos/alice/../../../secret.txt"} {
		res, _ := rawRequest(t, g.addr, "GET", p+"?vk="+all)
		if res.StatusCode != 400 {
			t.Errorf("GET %s: %d", p, res.StatusCode)
		}
	}
	res, _ = send(t, "GET", s3URL(g.addr, "/other/secret.txt", all), nil)
	expect(t, "other bucket's key as a path", res, 404)
	res, _ = send(t, "GET", s3URL(g.addr, "/secret.txt", all), nil)
	expect(t, "bucket root key outside the prefix", res, 404)
	for _, s := range g.spy.take() {
		if !strings.HasPrefix(s.URI, "/valet/store/") || strings.Contains(s.URI, "vk=") {
			t.Errorf("store saw %s %s", s.Method, s.URI)
		}
	}
}

func TestS3WrongCredentialsAreTheGatewaysFault(t *testing.T) {
	g := startS3Gateway(t)
	mustWrite(t, g.store.path(s3Bucket, "a.txt"), "a")
	for _, method := range []string{"GET", "HEAD"} {
		res, body := send(t, method, "http://"+g.badAddr+"/a.txt", nil)
		expect(t, method+" with a wrong secret", res, 502)
		if strings.Contains(string(body), "Signature") || strings.Contains(string(body), "<") {
			t.Errorf("S3's error reached the client: %q", body)
		}
	}
	waitForLog(g.Caddy, "SignatureDoesNotMatch")
	logs := g.Logs()
	if !strings.Contains(logs, "S3 refused the gateway's credentials or signature") || !strings.Contains(logs, `"code":"SignatureDoesNotMatch"`) {
		t.Errorf("no clear log line for the bad signature:\n%s", logs)
	}
	if strings.Contains(logs, "WRONG") || strings.Contains(logs, s3Secret+"\"") {
		t.Errorf("a secret reached the log")
	}
}

func TestS3VirtualHostedAndRegion(t *testing.T) {
	store := startVersityWith(t, []string{"--region", "eu-test-1", "--virtual-domain", "s3.test"}, s3Bucket)
	mustWrite(t, store.path(s3Bucket, "dir/a b+c.txt"), "virtual")
	addr := testenv.Addr(testenv.FreePort(t))
	wrongRegion := testenv.Addr(testenv.FreePort(t))
	site := func(a, region string) string {
		return s3Caddyfile(a, "", store.addr, "bucket "+s3Bucket+"\n\t\t\tregion "+region+
			"\n\t\t\tendpoint s3.test\n\t\t\taddressing virtual\n\t\t\tlisting\n\t\t\taccess_key_id "+s3Access+"\n\t\t\tsecret_access_key "+s3Secret)
	}
	c := testenv.StartCaddy(t, site(addr, "eu-test-1")+site(wrongRegion, "us-east-1"), "http://"+addr+"/")

	res, body := send(t, "GET", "http://"+addr+escaped("/dir/a b+c.txt"), nil)
	expect(t, "virtual-hosted GET", res, 200)
	if string(body) != "virtual" {
		t.Errorf("body %q", body)
	}
	res, _ = send(t, "PUT", "http://"+addr+escaped("/dir/new (1).txt"), []byte("new"))
	expect(t, "virtual-hosted PUT", res, 200)
	res, body = send(t, "GET", "http://"+addr+"/dir/", nil)
	expect(t, "virtual-hosted listing", res, 200)
	if !strings.Contains(string(body), `"name":"new (1).txt"`) || !strings.Contains(string(body), `"name":"a b+c.txt"`) {
		t.Errorf("listing %s", body)
	}
	res, body = send(t, "GET", "http://"+wrongRegion+escaped("/dir/a b+c.txt"), nil)
	expect(t, "signed for the wrong region", res, 502)
	if !waitForLog(c, "S3 refused the gateway's credentials or signature") {
		t.Errorf("no clear log line for the wrong region:\n%s", c.Logs())
	}
}

// waitForLog waits a little for Caddy to write a log line: its output
// arrives through a pipe, after the response.
func waitForLog(c *testenv.Caddy, substr string) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(c.Logs(), substr) {
			return true
		}
	}
	return false
}
