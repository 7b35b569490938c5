package s3

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go/aws-http-auth/credentials"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/grant"
	"github.com/valetkey/caddy-valet/caddymodule/token"
)

func testTransport(virtual bool) *Transport {
	return &Transport{
		Access: Access{Bucket: "photos", Region: "eu-west-1", Prefix: "tenant/", Addressing: map[bool]string{true: "virtual"}[virtual]}, Listing: true,
		HTTP:   new(reverseproxy.HTTPTransport),
		creds:  credentials.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", SessionToken: "ST"},
		signer: newSigner(),
		logger: zap.NewNop(),
	}
}

// proxied is a request as reverse_proxy hands it to the transport: the
// client's headers, the dial address in URL.Host, the client's Host.
func proxied(method, path, query string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, "http://gateway.example/x", body)
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery = path, "", query
	r.URL.Host, r.URL.Scheme = "127.0.0.1:9000", ""
	r.Header.Set("Authorization", "Bearer client")
	r.Header.Set("Cookie", "session=1")
	r.Header.Set("X-Amz-Security-Token", "client-token")
	r.Header.Set("X-Amz-Acl", "public-read")
	r.Header.Set("X-Forwarded-For", "192.0.2.1")
	r.Header.Set("Range", "bytes=0-1")
	r.Header.Set("If-None-Match", `"e"`)
	r.Header.Set("Content-Type", "image/png")
	return r
}

func TestOutboundCarriesOnlyWhatItShould(t *testing.T) {
	tr := testTransport(false)
	out, op, rf := tr.outbound(proxied("GET", "/a b/c+d.png", "", nil))
	if rf != nil || op != opObject {
		t.Fatalf("refused: %+v", rf)
	}
	if got := out.URL.EscapedPath(); got != "/photos/tenant/a%20b/c%2Bd.png" {
		t.Errorf("escaped path %q", got)
	}
	if out.URL.RawQuery != "" || out.Host != "127.0.0.1:9000" {
		t.Errorf("query %q host %q", out.URL.RawQuery, out.Host)
	}
	for _, h := range []string{"Cookie", "X-Amz-Acl", "X-Forwarded-For", "Content-Type"} {
		if v := out.Header.Get(h); v != "" {
			t.Errorf("%s reached the bucket: %q", h, v)
		}
	}
	if out.Header.Get("Range") != "bytes=0-1" || out.Header.Get("If-None-Match") != `"e"` {
		t.Errorf("read headers lost: %v", out.Header)
	}
	if got := out.Header.Get("X-Amz-Security-Token"); got != "ST" {
		t.Errorf("session token %q, want the gateway's", got)
	}
	auth := out.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AK/") || !strings.Contains(auth, "/eu-west-1/s3/aws4_request") {
		t.Errorf("authorization %q", auth)
	}
	if out.Body != nil && out.Body != http.NoBody {
		t.Errorf("a GET carries a body upstream")
	}

	vout, _, _ := testTransport(true).outbound(proxied("GET", "/k", "", nil))
	if vout.Host != "photos.127.0.0.1:9000" || vout.URL.EscapedPath() != "/tenant/k" {
		t.Errorf("virtual-hosted: host %q path %q", vout.Host, vout.URL.EscapedPath())
	}
}

func TestOutboundRefusals(t *testing.T) {
	tr := testTransport(false)
	chunked := proxied("PUT", "/up.bin", "", strings.NewReader("x"))
	chunked.ContentLength = -1
	for name, c := range map[string]struct {
		r      *http.Request
		status int
	}{
		"acl":            {proxied("GET", "/k", "acl", nil), 400},
		"policy":         {proxied("PUT", "/k", "policy=", strings.NewReader("{}")), 400},
		"response-type":  {proxied("GET", "/k", "response-content-type=text/html", nil), 400},
		"uploads":        {proxied("POST", "/k", "uploads", nil), 405},
		"dot segment":    {proxied("GET", "/a/../other", "", nil), 400},
		"encoded slash":  {proxied("GET", "/a%2F..%2Fb", "", nil), 400},
		"no length":      {chunked, 411},
		"put dir":        {proxied("PUT", "/dir/", "", strings.NewReader("x")), 400},
		"delete dir":     {proxied("DELETE", "/dir/", "", nil), 400},
		"list bad param": {proxied("GET", "/dir/", "delimiter=x", nil), 400},
		"list limit":     {proxied("GET", "/dir/", "limit=5000", nil), 400},
	} {
		if _, _, rf := tr.outbound(c.r); rf == nil || rf.status != c.status {
			t.Errorf("%s: got %+v, want status %d", name, rf, c.status)
		}
	}
	if _, _, rf := tr.outbound(chunked); rf == nil || !strings.Contains(rf.msg, "resumable (tus) upload") {
		t.Errorf("the 411 answer does not point to resumable uploads: %+v", rf)
	}
}

func TestOutboundListing(t *testing.T) {
	out, op, rf := testTransport(false).outbound(proxied("HEAD", "/dir/", "cursor=abc&limit=10", nil))
	if rf != nil || op != opList {
		t.Fatalf("refused: %+v", rf)
	}
	q := out.URL.Query()
	if out.Method != "GET" || out.URL.Path != "/photos" || q.Get("list-type") != "2" ||
		q.Get("prefix") != "tenant/dir/" || q.Get("delimiter") != "/" ||
		q.Get("continuation-token") != "abc" || q.Get("max-keys") != "10" || len(q) != 5 {
		t.Errorf("listing request %s %s?%s", out.Method, out.URL.Path, out.URL.RawQuery)
	}
}

func withClaims(r *http.Request, c *token.Claims) *http.Request {
	r = grant.WithVars(r)
	grant.Set(r, c)
	return r
}

func TestOutboundAppliesTheGrant(t *testing.T) {
	tr := testTransport(false)
	grant := &token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))},
		MaxBytes:         3, ContentTypes: []string{"image/png"},
	}
	big := withClaims(proxied("PUT", "/a.png", "", strings.NewReader("1234")), grant)
	if _, _, rf := tr.outbound(big); rf == nil || rf.status != 413 {
		t.Errorf("over maxb: %+v", rf)
	}
	wrongType := withClaims(proxied("PUT", "/a.png", "", strings.NewReader("12")), grant)
	wrongType.Header.Set("Content-Type", "text/html")
	if _, _, rf := tr.outbound(wrongType); rf == nil || rf.status != 415 {
		t.Errorf("content type: %+v", rf)
	}
	ok := withClaims(proxied("PUT", "/a.png", "", strings.NewReader("12")), grant)
	ok.Header.Set("If-Match", `"old"`)
	out, _, rf := tr.outbound(ok)
	if rf != nil {
		t.Fatalf("refused: %+v", rf)
	}
	if out.Header.Get("If-None-Match") != "*" || out.Header.Get("If-Match") != "" {
		t.Errorf("no overwrite right, yet headers %v", out.Header)
	}
	if out.Header.Get("X-Amz-Content-Sha256") != "UNSIGNED-PAYLOAD" || out.ContentLength != 2 {
		t.Errorf("upload not streamed unsigned: %v, length %d", out.Header, out.ContentLength)
	}
	if out.Header.Get("Content-Type") != "image/png" {
		t.Errorf("content type lost")
	}
}

func TestHostWithoutDefaultPort(t *testing.T) {
	for _, c := range []struct{ scheme, host, want string }{
		{"https", "s3.eu-west-1.amazonaws.com:443", "s3.eu-west-1.amazonaws.com"},
		{"http", "store:80", "store"},
		{"http", "127.0.0.1:9000", "127.0.0.1:9000"},
		{"https", "store:80", "store:80"},
		{"https", "[::1]:443", "[::1]"},
		{"http", "store", "store"},
	} {
		if got := withoutDefaultPort(&url.URL{Scheme: c.scheme, Host: c.host}); got != c.want {
			t.Errorf("%s://%s: %q, want %q", c.scheme, c.host, got, c.want)
		}
	}
}

// The state of resumable uploads lives under <prefix>.valet-tus/: no
// client request reaches a ".valet-" segment, by any method.
func TestOutboundRefusesReservedNames(t *testing.T) {
	tr := testTransport(false)
	for _, c := range []struct{ method, path string }{
		{"GET", "/.valet-tus/0123/a.bin.info"},
		{"GET", "/.valet-tus/"},
		{"PUT", "/a/.valet-tus/x"},
		{"DELETE", "/.valet-tus/objects/x"},
		{"HEAD", "/a/.valet-x"},
	} {
		_, _, rf := tr.outbound(proxied(c.method, c.path, "", strings.NewReader("")))
		if rf == nil || rf.status != 403 || rf.reason != "reserved_name" || rf.msg != "reserved_name" {
			t.Errorf("%s %s: %+v, want 403 reserved_name", c.method, c.path, rf)
		}
	}
	for _, p := range []string{"/a/x.valet-tus", "/valet-tus/a", "/a/..valet-x"} {
		if _, _, rf := tr.outbound(proxied("GET", p, "", nil)); rf != nil && rf.reason != "" {
			t.Errorf("GET %s refused as reserved", p)
		}
	}
	res, _ := tr.RoundTrip(proxied("GET", "/.valet-tus/x", "", nil))
	if res.StatusCode != 403 || res.Header.Get("Valet-Reason") != "reserved_name" {
		t.Errorf("RoundTrip: %d %q", res.StatusCode, res.Header.Get("Valet-Reason"))
	}
}
