package token_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// Fuzz targets for token parsing and verification. CI runs each briefly:
//
//	go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 10s ./caddymodule/token
//	go test -run '^$' -fuzz '^FuzzSignedClaims$' -fuzztime 10s ./caddymodule/token
//
// Seeds: the published vectors plus testdata/fuzz/<Target>/. A crash the
// fuzzer finds is written there and replays in every plain `go test`.

func fuzzVerifier(f *testing.F) *token.Verifier {
	return &token.Verifier{
		Keys:   keySet(f, hsKey(f, "hs1"), edKey(f, "ed1", false)),
		Leeway: 30 * time.Second,
	}
}

// FuzzParse feeds arbitrary text as a token. The vectors are the only tokens
// ever signed with the fuzz keys, so anything else Parse accepts would be a
// forgery or a second spelling of a signed token (base64 or signature
// malleability): both are failures.
func FuzzParse(f *testing.F) {
	v := fuzzVerifier(f)
	data, err := os.ReadFile(vectorsFile)
	if err != nil {
		f.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(data, &vf); err != nil {
		f.Fatal(err)
	}
	signed := map[string]bool{}
	for _, vec := range vf.Vectors {
		f.Add(vec.Token)
		if _, r := v.Parse(vec.Token); r == token.Allowed {
			signed[vec.Token] = true
		}
	}
	if len(signed) == 0 {
		f.Fatal("no vector token parses: the fuzz keys do not match the vectors")
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, reason := v.Parse(raw)
		if reason != token.Allowed {
			if c != nil {
				t.Fatalf("denied (%s) but returned claims", reason)
			}
			if reason.Status() != 401 {
				t.Fatalf("parse refused with %q (status %d): parse failures are 401s", reason, reason.Status())
			}
			return
		}
		if !signed[raw] {
			t.Fatalf("accepted a token that was never signed: %q", raw)
		}
		checkAccepted(t, c)
	})
}

// FuzzSignedClaims signs arbitrary header and payload bytes with the real
// HS256 key, so the fuzzer explores what a validly signed token may claim.
// Whatever Parse accepts must be a claim set Mint would sign too, and the
// verdict must not depend on whether the clock part ran separately.
func FuzzSignedClaims(f *testing.F) {
	v := fuzzVerifier(f)
	sign := hmacSigner(testSecret)
	f.Add(`{"alg":"HS256","kid":"hs1","typ":"JWT"}`, `{"exp":1767226200,"iat":1767225600,"jti":"test-jti-0123456789","p":["/photos/alice/"],"m":["GET"]}`)
	f.Add(`{"alg":"HS256","kid":"hs1"}`, `{"exp":1767226200,"jti":"test-jti-0123456789","p":["/a/b.txt","/c/"],"m":["PUT","GET"],"ip":["10.0.0.0/8"],"maxb":5,"rsp":{"cd":"attachment"}}`)
	f.Add(`{"alg":"HS256","kid":"hs1","crit":["b64"]}`, `{"exp":1767226200,"jti":"test-jti-0123456789","p":["/"],"m":["GET"]}`)
	f.Add(`{"alg":"HS256","kid":"hs1"}`, `{"exp":1767226200,"jti":"test-jti-0123456789","p":["/a/../b/"],"m":["get"],"aud":["x"]}`)
	f.Add(`{"alg":"none","kid":"hs1"}`, `{"exp":1e300,"jti":"test-jti-0123456789","p":["/a//b"],"m":["GET"],"nbf":-1}`)
	f.Fuzz(func(t *testing.T, header, payload string) {
		input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
		raw := input + "." + b64.EncodeToString(sign([]byte(input)))
		c, reason := v.Parse(raw)
		verified, vreason := v.Verify(raw, testNow)
		if reason != token.Allowed {
			if vreason != reason || verified != nil {
				t.Fatalf("Parse says %q, Verify says %q", reason, vreason)
			}
			return
		}
		checkAccepted(t, c)
		if want := v.Valid(c, testNow); vreason != want {
			t.Fatalf("Verify says %q, Parse+Valid say %q", vreason, want)
		}
		again := *c
		if _, err := token.Mint(&again, hsKey(t, "hs1")); err != nil {
			t.Fatalf("the gateway accepted claims Mint refuses: %v\npayload %s", err, payload)
		}
	})
}

// checkAccepted asserts what every accepted claim set must satisfy.
func checkAccepted(t *testing.T, c *token.Claims) {
	t.Helper()
	if c == nil || c.ExpiresAt == nil || len(c.Paths) == 0 || len(c.Methods) == 0 {
		t.Fatalf("accepted incomplete claims: %+v", c)
	}
	if c.KeyID() != "hs1" && c.KeyID() != "ed1" {
		t.Fatalf("accepted with key id %q", c.KeyID())
	}
	for _, p := range c.Paths {
		if got, r := token.CanonicalPath(p); r != token.Allowed || got != p || strings.Contains(p, "%") {
			t.Fatalf("accepted a scope that is not canonical: %q", p)
		}
	}
	for _, m := range c.Methods {
		if m != strings.ToUpper(m) {
			t.Fatalf("accepted a lower-case method %q", m)
		}
	}
}
