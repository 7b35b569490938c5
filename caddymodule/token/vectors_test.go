package token_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// docs/token-vectors.json is written from vectorSpecs by
//
//	go test ./caddymodule/token -run TestVectors -update
//
// and checked by TestVectors. The expected decisions are written by hand
// below, never computed by the code under test.
var update = flag.Bool("update", false, "rewrite docs/token-vectors.json")

const vectorsFile = "../../docs/token-vectors.json"

type vectorFile struct {
	Comment  []string             `json:"comment"`
	Now      int64                `json:"now"`
	Keys     map[string]vectorKey `json:"keys"`
	Verifier vectorVerifier       `json:"verifier_defaults"`
	Vectors  []vector             `json:"vectors"`
}

type vectorKey struct {
	Alg        string `json:"alg"`
	Secret     string `json:"secret,omitempty"`
	PrivatePEM string `json:"private_pem,omitempty"`
	PublicPEM  string `json:"public_pem,omitempty"`
}

type vectorVerifier struct {
	Keys          []string `json:"keys,omitempty"`
	Audience      string   `json:"audience,omitempty"`
	LeewaySeconds *int64   `json:"leeway_seconds,omitempty"`
	MaxTTLSeconds int64    `json:"max_ttl_seconds,omitempty"`
}

type vectorRequest struct {
	Method   string `json:"method"`
	Path     string `json:"path"`
	ClientIP string `json:"client_ip"`
	HTTPS    bool   `json:"https"`
}

type vectorExpect struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason,omitempty"`
	Status   int    `json:"status"`
}

type vector struct {
	Name     string          `json:"name"`
	FixedNow bool            `json:"fixed_now,omitempty"`
	Verifier *vectorVerifier `json:"verifier,omitempty"`
	Token    string          `json:"token"`
	Request  vectorRequest   `json:"request"`
	Expect   vectorExpect    `json:"expect"`
}

// Times of the vectors: far is 2100-01-01, past 2001-09-09.
const (
	far  = 4102444800
	past = 1000000000
)

func vclaims(overrides map[string]any) map[string]any {
	c := map[string]any{"exp": far, "iat": testNow.Unix(), "jti": "vector-jti-000001", "p": []string{"/photos/alice/"}, "m": []string{"GET"}}
	for k, v := range overrides {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func vhs(overrides map[string]any) string {
	return rawJWS(hsHeader(), vclaims(overrides), hmacSigner(testSecret))
}

func ved(overrides map[string]any) string {
	return rawJWS(edHeader(), vclaims(overrides), edSigner(testEdPriv))
}

// minted signs with token.Mint, so the vectors also pin what Mint writes.
func minted(t testing.TB, k *token.Key, c token.Claims) string {
	c.ID = "vector-jti-minted-" + k.ID
	c.IssuedAt = jwt.NewNumericDate(testNow)
	c.ExpiresAt = jwt.NewNumericDate(time.Unix(far, 0))
	s, err := token.Mint(&c, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func get(path string) vectorRequest {
	return vectorRequest{Method: "GET", Path: path, ClientIP: "203.0.113.7", HTTPS: true}
}

func allow() vectorExpect { return vectorExpect{Decision: "allow", Status: 200} }

func deny(r token.Reason) vectorExpect {
	return vectorExpect{Decision: "deny", Reason: string(r), Status: r.Status()}
}

func seconds(n int64) *int64 { return &n }

func vectorSpecs(t testing.TB) []vector {
	hs, ed := hsKey(t, "hs1"), edKey(t, "ed1", true)
	good := vhs(nil)
	onlyHS := &vectorVerifier{Keys: []string{"hs1"}}
	full := token.Claims{
		Paths: []string{"/uploads/alice/", "/photos/alice/a.jpg"}, Methods: []string{"GET", "PUT"},
		IPs: []string{"203.0.113.0/24", "2001:db8::/32"}, HTTPSOnly: true, MaxBytes: 10 << 20,
		ContentTypes: []string{"image/jpeg", "image/png"}, Overwrite: true, Group: "album-7", Uses: 5,
		Origins:  []string{"https://app.example"},
		Response: &token.ResponseOverrides{ContentDisposition: `attachment; filename="a.jpg"`, ContentType: "image/jpeg", CacheControl: "private, max-age=60"},
	}
	put := func(path string) vectorRequest { r := get(path); r.Method = "PUT"; return r }
	return []vector{
		// Allowed.
		{Name: "HS256 GET inside a directory scope", Token: good, Request: get("/photos/alice/a.jpg"), Expect: allow()},
		{Name: "EdDSA GET inside a directory scope", Token: ved(nil), Request: get("/photos/alice/2024/a.jpg"), Expect: allow()},
		{Name: "GET grants HEAD", Token: good, Request: vectorRequest{Method: "HEAD", Path: "/photos/alice/a.jpg", ClientIP: "203.0.113.7"}, Expect: allow()},
		{Name: "double slashes collapse", Token: good, Request: get("//photos//alice///a.jpg"), Expect: allow()},
		{Name: "percent-encoded name", Token: good, Request: get("/photos/alice/my%20cat%C3%A9.jpg"), Expect: allow()},
		{Name: "plain http when https is not required", Token: good, Request: vectorRequest{Method: "GET", Path: "/photos/alice/a.jpg", ClientIP: "198.51.100.1"}, Expect: allow()},
		{Name: "Mint HS256, every claim, PUT from an allowed IPv4", Token: minted(t, hs, full), Request: put("/uploads/alice/new.jpg"), Expect: allow()},
		{Name: "Mint EdDSA, every claim, GET of the exact file from an allowed IPv6", Token: minted(t, ed, full),
			Request: vectorRequest{Method: "GET", Path: "/photos/alice/a.jpg", ClientIP: "2001:db8::7", HTTPS: true}, Expect: allow()},
		{Name: "IPv4-mapped IPv6 client inside an IPv4 prefix", Token: minted(t, hs, full),
			Request: vectorRequest{Method: "PUT", Path: "/uploads/alice/b.png", ClientIP: "::ffff:203.0.113.9", HTTPS: true}, Expect: allow()},
		{Name: "no kid, gateway has one key", Verifier: onlyHS, Token: rawJWS(with(hsHeader(), "kid", nil), vclaims(nil), hmacSigner(testSecret)), Request: get("/photos/alice/a.jpg"), Expect: allow()},
		{Name: "audience listed", Verifier: &vectorVerifier{Audience: "gw.example"}, Token: vhs(map[string]any{"aud": []string{"other.example", "gw.example"}}), Request: get("/photos/alice/a.jpg"), Expect: allow()},
		{Name: "expired 29 s ago, inside the 30 s leeway", FixedNow: true, Token: vhs(map[string]any{"exp": testNow.Unix() - 29}), Request: get("/photos/alice/a.jpg"), Expect: allow()},
		{Name: "nbf 30 s ahead, inside the 30 s leeway", FixedNow: true, Token: vhs(map[string]any{"nbf": testNow.Unix() + 30}), Request: get("/photos/alice/a.jpg"), Expect: allow()},
		{Name: "lifetime exactly max_ttl plus leeway", FixedNow: true, Verifier: &vectorVerifier{MaxTTLSeconds: 600},
			Token: vhs(map[string]any{"exp": testNow.Unix() + 630}), Request: get("/photos/alice/a.jpg"), Expect: allow()},

		// ambiguous_path: judged before the token.
		{Name: "encoded dot-dot", Token: good, Request: get("/photos/alice/%2e%2e/bob/a.jpg"), Expect: deny(token.AmbiguousPath)},
		{Name: "raw dot-dot", Token: good, Request: get("/photos/alice/../bob/a.jpg"), Expect: deny(token.AmbiguousPath)},
		{Name: "encoded slash", Token: good, Request: get("/photos/alice%2F..%2Fbob/a.jpg"), Expect: deny(token.AmbiguousPath)},
		{Name: "encoded backslash", Token: good, Request: get("/photos/alice/..%5Cbob/a.jpg"), Expect: deny(token.AmbiguousPath)},
		{Name: "raw backslash", Token: good, Request: get(`/photos/alice/..\bob\a.jpg`), Expect: deny(token.AmbiguousPath)},
		{Name: "NUL", Token: good, Request: get("/photos/alice/a.jpg%00.png"), Expect: deny(token.AmbiguousPath)},
		{Name: "double encoding", Token: good, Request: get("/photos/alice/%252e%252e/bob/a.jpg"), Expect: deny(token.AmbiguousPath)},
		{Name: "overlong UTF-8 dot", Token: good, Request: get("/photos/alice/%c0%ae%c0%ae/bob/a.jpg"), Expect: deny(token.AmbiguousPath)},
		{Name: "ambiguous path wins over a missing token", Token: "", Request: get("/photos/alice/%2e%2e/x"), Expect: deny(token.AmbiguousPath)},

		// Token problems (401).
		{Name: "no token", Token: "", Request: get("/photos/alice/a.jpg"), Expect: deny(token.MissingToken)},
		{Name: "not a JWS", Token: "hello", Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "crit header", Token: rawJWS(with(hsHeader(), "crit", []string{"exp"}), vclaims(nil), hmacSigner(testSecret)), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "jti shorter than 16", Token: vhs(map[string]any{"jti": "short-jti-15chr"}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "exp missing", Token: vhs(map[string]any{"exp": nil}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "scope with a dot segment", Token: vhs(map[string]any{"p": []string{"/photos/alice/../"}}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "padded signature", Token: good + "=", Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "non-canonical base64 in the signature", Token: tamper(ved(nil), 2, nonCanonical), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "tampered payload", Token: tamper(good, 1, func(string) string { return b64.EncodeToString(mustJSON(vclaims(map[string]any{"p": []string{"/"}}))) }),
			Request: get("/photos/alice/a.jpg"), Expect: deny(token.BadSignature)},
		{Name: "signed with another secret", Token: rawJWS(hsHeader(), vclaims(nil), hmacSigner([]byte("another-test-secret-of-enough-length-42"))), Request: get("/photos/alice/a.jpg"), Expect: deny(token.BadSignature)},
		{Name: "unknown kid", Token: rawJWS(with(hsHeader(), "kid", "../../hs1"), vclaims(nil), hmacSigner(testSecret)), Request: get("/photos/alice/a.jpg"), Expect: deny(token.UnknownKey)},
		{Name: "no kid, gateway has two keys", Token: rawJWS(with(hsHeader(), "kid", nil), vclaims(nil), hmacSigner(testSecret)), Request: get("/photos/alice/a.jpg"), Expect: deny(token.UnknownKey)},
		{Name: "alg none", Token: rawJWS(with(hsHeader(), "alg", "none"), vclaims(nil), noSig), Request: get("/photos/alice/a.jpg"), Expect: deny(token.AlgMismatch)},
		{Name: "HS256 keyed with the Ed25519 public key", Token: rawJWS(with(hsHeader(), "kid", "ed1"), vclaims(nil), hmacSigner(testEdPub)), Request: get("/photos/alice/a.jpg"), Expect: deny(token.AlgMismatch)},
		{Name: "expired", Token: vhs(map[string]any{"exp": past, "iat": past - 600}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.Expired)},
		{Name: "expired 30 s ago, at the leeway edge", FixedNow: true, Token: vhs(map[string]any{"exp": testNow.Unix() - 30}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.Expired)},
		{Name: "not yet valid", Token: vhs(map[string]any{"nbf": far - 600}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.NotYetValid)},
		{Name: "nbf 31 s ahead, past the leeway", FixedNow: true, Token: vhs(map[string]any{"nbf": testNow.Unix() + 31}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.NotYetValid)},
		{Name: "lifetime over max_ttl", Verifier: &vectorVerifier{MaxTTLSeconds: 600}, Token: good, Request: get("/photos/alice/a.jpg"), Expect: deny(token.TTLTooLong)},
		{Name: "future iat does not stretch max_ttl", Verifier: &vectorVerifier{MaxTTLSeconds: 600}, Token: vhs(map[string]any{"iat": far - 60}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.TTLTooLong)},
		{Name: "audience differs", Verifier: &vectorVerifier{Audience: "gw.example"}, Token: vhs(map[string]any{"aud": "other.example"}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.AudienceMismatch)},
		{Name: "audience missing", Verifier: &vectorVerifier{Audience: "gw.example"}, Token: good, Request: get("/photos/alice/a.jpg"), Expect: deny(token.AudienceMismatch)},
		{Name: "empty audience, gateway has none", Token: vhs(map[string]any{"aud": ""}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.AudienceMismatch)},
		{Name: "empty audience list, gateway has none", Token: vhs(map[string]any{"aud": []string{}}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.AudienceMismatch)},

		// Claims judged exactly as the table writes them (malformed_token).
		{Name: "exp as a JSON string", Token: vhs(map[string]any{"exp": "4102444800"}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "exp with a fraction", Token: vhs(map[string]any{"exp": 4102444800.5}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "exp in exponent form", Token: rawJWS(hsHeader(), `{"exp":4.1024448e9,"jti":"vector-jti-000001","p":["/photos/alice/"],"m":["GET"]}`, hmacSigner(testSecret)), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "exp beyond 2^53-1", Token: rawJWS(hsHeader(), `{"exp":9007199254740992,"jti":"vector-jti-000001","p":["/photos/alice/"],"m":["GET"]}`, hmacSigner(testSecret)), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "nbf negative", Token: vhs(map[string]any{"nbf": -1}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "ip present and empty", Token: vhs(map[string]any{"ip": []string{}}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "ctypes present and empty", Token: vhs(map[string]any{"ctypes": []string{}}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "origins present and empty", Token: vhs(map[string]any{"origins": []string{}}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "maxb zero", Token: vhs(map[string]any{"maxb": 0}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "ip null", Token: rawJWS(hsHeader(), `{"exp":4102444800,"jti":"vector-jti-000001","p":["/photos/alice/"],"m":["GET"],"ip":null}`, hmacSigner(testSecret)), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "https as a string", Token: vhs(map[string]any{"https": "true"}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "claim named twice", Token: rawJWS(hsHeader(), `{"exp":4102444800,"jti":"vector-jti-000001","p":["/"],"p":["/photos/alice/"],"m":["GET"]}`, hmacSigner(testSecret)), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "claim in another case", Token: vhs(map[string]any{"P": []string{"/"}}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "payload not UTF-8", Token: rawJWS(hsHeader(), "{\"exp\":4102444800,\"jti\":\"vector-jti-\xff\xfe0001\",\"p\":[\"/photos/alice/\"],\"m\":[\"GET\"]}", hmacSigner(testSecret)), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "jti with an unpaired surrogate escape", Token: rawJWS(hsHeader(), `{"exp":4102444800,"jti":"vector-jti-\ud800-0001","p":["/photos/alice/"],"m":["GET"]}`, hmacSigner(testSecret)), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "kid named twice in the header", Token: rawJWS(`{"alg":"HS256","kid":"ed1","kid":"hs1"}`, vclaims(nil), hmacSigner(testSecret)), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "kid in another case", Token: rawJWS(`{"alg":"HS256","KID":"hs1"}`, vclaims(nil), hmacSigner(testSecret)), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "token text with a line feed", Token: good[:20] + "\n" + good[20:], Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "token text with a percent escape", Token: strings.Replace(good, ".", "%2E", 1), Request: get("/photos/alice/a.jpg"), Expect: deny(token.MalformedToken)},
		{Name: "audience set, gateway has none", Token: vhs(map[string]any{"aud": "gw.example"}), Request: get("/photos/alice/a.jpg"), Expect: deny(token.AudienceMismatch)},

		// A valid token that does not cover the request (403).
		{Name: "sibling directory with the same prefix", Token: good, Request: get("/photos/alice2/x.jpg"), Expect: deny(token.OutOfScope)},
		{Name: "case differs", Token: good, Request: get("/photos/Alice/a.jpg"), Expect: deny(token.OutOfScope)},
		{Name: "the scope's directory without its slash", Token: good, Request: get("/photos/alice"), Expect: deny(token.OutOfScope)},
		{Name: "method not granted", Token: good, Request: put("/photos/alice/a.jpg"), Expect: deny(token.MethodNotAllowed)},
		{Name: "exact-file scope does not grant PUT beside it", Token: minted(t, hs, full), Request: put("/photos/alice/b.jpg"), Expect: deny(token.OutOfScope)},
		{Name: "client outside the IP prefixes", Token: minted(t, hs, full), Request: vectorRequest{Method: "PUT", Path: "/uploads/alice/a.jpg", ClientIP: "198.51.100.7", HTTPS: true}, Expect: deny(token.IPNotAllowed)},
		{Name: "plain http when https is required", Token: minted(t, ed, full), Request: vectorRequest{Method: "PUT", Path: "/uploads/alice/a.jpg", ClientIP: "203.0.113.7"}, Expect: deny(token.HTTPSRequired)},
	}
}

func buildVectorFile(t testing.TB) vectorFile {
	priv, pub := edPEM(t)
	return vectorFile{
		Comment: []string{
			"Test vectors for valet tokens; docs/token.md is the spec. The keys are public and for tests only.",
			"Judge each vector as a gateway does: CanonicalPath(request.path), then verify the token with the",
			"verifier (verifier_defaults overridden field by field by the vector's verifier), then judge the request.",
			"The first deny wins. A vector with fixed_now needs the clock set to now; every other vector holds at",
			"any time from now until 2100 (tokens expire at 4102444800 or long ago). max_ttl is off unless a vector",
			"sets it: a gateway replaying the vectors must raise its max_ttl past 2100 (e.g. 876000h).",
			"request.path is the escaped path exactly as sent; the token travels in the query parameter vk.",
			"Reasons only a gateway can give (duplicate_token, revoked, uses_exhausted, origin_not_allowed,",
			"revocation_unavailable) are not here. Regenerate: go test ./caddymodule/token -run TestVectors -update",
		},
		Now: testNow.Unix(),
		Keys: map[string]vectorKey{
			"hs1": {Alg: "HS256", Secret: string(testSecret)},
			"ed1": {Alg: "EdDSA", PrivatePEM: string(priv), PublicPEM: string(pub)},
		},
		Verifier: vectorVerifier{Keys: []string{"hs1", "ed1"}, LeewaySeconds: seconds(30)},
		Vectors:  vectorSpecs(t),
	}
}

func TestVectors(t *testing.T) {
	want := buildVectorFile(t)
	if *update {
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) != len(want.Vectors) {
		t.Errorf("%s has %d vectors, the specs %d: run with -update", vectorsFile, len(f.Vectors), len(want.Vectors))
	}
	reasons := map[string]bool{}
	for _, vec := range f.Vectors {
		t.Run(vec.Name, func(t *testing.T) {
			if vec.Expect.Status != token.Reason(vec.Expect.Reason).Status() {
				t.Errorf("status %d does not match reason %q", vec.Expect.Status, vec.Expect.Reason)
			}
			got := judgeVector(t, f, vec, time.Unix(f.Now, 0))
			reasons[string(got)] = true
			if string(got) != vec.Expect.Reason || (got == token.Allowed) != (vec.Expect.Decision == "allow") {
				t.Fatalf("decision %q, want %s %q", got, vec.Expect.Decision, vec.Expect.Reason)
			}
			if !vec.FixedNow {
				if got := judgeVector(t, f, vec, time.Now()); string(got) != vec.Expect.Reason {
					t.Fatalf("at the real time: decision %q, want %q", got, vec.Expect.Reason)
				}
			}
		})
	}
	// Every reason the token package can give is covered.
	for _, r := range []token.Reason{token.Allowed, token.AmbiguousPath, token.MissingToken, token.MalformedToken,
		token.BadSignature, token.UnknownKey, token.AlgMismatch, token.Expired, token.NotYetValid, token.TTLTooLong,
		token.AudienceMismatch, token.OutOfScope, token.MethodNotAllowed, token.IPNotAllowed, token.HTTPSRequired} {
		if !reasons[string(r)] {
			t.Errorf("no vector ends in %q", r)
		}
	}
}

// judgeVector decides a vector as a gateway does, from the file's data only.
func judgeVector(t *testing.T, f vectorFile, vec vector, now time.Time) token.Reason {
	cfg := f.Verifier
	if o := vec.Verifier; o != nil {
		if o.Keys != nil {
			cfg.Keys = o.Keys
		}
		if o.Audience != "" {
			cfg.Audience = o.Audience
		}
		if o.LeewaySeconds != nil {
			cfg.LeewaySeconds = o.LeewaySeconds
		}
		if o.MaxTTLSeconds != 0 {
			cfg.MaxTTLSeconds = o.MaxTTLSeconds
		}
	}
	var keys []*token.Key
	for _, id := range cfg.Keys {
		fk := f.Keys[id]
		material := fk.Secret
		if fk.Alg == "EdDSA" {
			material = fk.PublicPEM
		}
		k, err := token.ParseKey(id, token.Alg(fk.Alg), []byte(material))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	v := token.Verifier{Keys: keySet(t, keys...), Audience: cfg.Audience, MaxTTL: time.Duration(cfg.MaxTTLSeconds) * time.Second}
	if cfg.LeewaySeconds != nil {
		v.Leeway = time.Duration(*cfg.LeewaySeconds) * time.Second
	}

	path, r := token.CanonicalPath(vec.Request.Path)
	if r != token.Allowed {
		return r
	}
	c, r := v.Verify(vec.Token, now)
	if r != token.Allowed {
		return r
	}
	ip, _ := netip.ParseAddr(vec.Request.ClientIP)
	return c.Allows(token.Request{Method: vec.Request.Method, Path: path, ClientIP: ip, HTTPS: vec.Request.HTTPS})
}

// TestVectorsUpToDate keeps the file in step with the specs above.
func TestVectorsUpToDate(t *testing.T) {
	b, err := json.MarshalIndent(buildVectorFile(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), b) {
		t.Fatalf("%s is stale: run go test ./caddymodule/token -run TestVectors -update", vectorsFile)
	}
	if strings.Contains(string(got), "\r") {
		t.Fatal("CRLF in vectors file")
	}
}
