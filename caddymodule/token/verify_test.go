package token_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valetkey/caddy-valet/caddymodule/token"
)

func hsHeader() map[string]any { return map[string]any{"alg": "HS256", "typ": "JWT", "kid": "hs1"} }
func edHeader() map[string]any { return map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": "ed1"} }

func with(h map[string]any, k string, v any) map[string]any {
	if v == nil {
		delete(h, k)
	} else {
		h[k] = v
	}
	return h
}

// tamper replaces one segment of a compact token.
func tamper(tok string, segment int, f func(string) string) string {
	parts := strings.Split(tok, ".")
	parts[segment] = f(parts[segment])
	return strings.Join(parts, ".")
}

func TestVerify(t *testing.T) {
	hs, ed := hsKey(t, "hs1"), edKey(t, "ed1", false)
	both := keySet(t, hs, ed)
	onlyHS := keySet(t, hsKey(t, "hs1"))
	onlyEd := keySet(t, ed)

	good := rawJWS(hsHeader(), claimsAt(nil), hmacSigner(testSecret))
	goodEd := rawJWS(edHeader(), claimsAt(nil), edSigner(testEdPriv))
	_, pubPEM := edPEM(t)

	tests := []struct {
		name   string
		keys   *token.KeySet
		v      token.Verifier // Keys filled from keys
		tok    string
		want   token.Reason
		wantIn []token.Reason // when several reasons are acceptable
	}{
		{name: "HS256 valid", tok: good},
		{name: "EdDSA valid", tok: goodEd},
		{name: "EdDSA valid with private key in set", keys: keySet(t, edKey(t, "ed1", true)), tok: goodEd},
		{name: "empty", tok: "", want: token.MissingToken},
		{name: "too long", tok: good + strings.Repeat("A", token.MaxTokenLength), want: token.MalformedToken},

		// Payloads other libraries could read differently.
		{name: "claim named twice", tok: rawJWS(hsHeader(), extraMember(`"p":["/"]`), hmacSigner(testSecret)), want: token.MalformedToken},
		{name: "claim name in other case", tok: rawJWS(hsHeader(), extraMember(`"P":["/"]`), hmacSigner(testSecret)), want: token.MalformedToken},
		{name: "unknown claim ignored", tok: rawJWS(hsHeader(), extraMember(`"app":{"p":["/"]}`), hmacSigner(testSecret))},

		// alg none and friends.
		{name: "alg none with kid", tok: rawJWS(with(hsHeader(), "alg", "none"), claimsAt(nil), noSig), want: token.AlgMismatch},
		{name: "alg none without kid, one key", keys: onlyHS, tok: rawJWS(map[string]any{"alg": "none"}, claimsAt(nil), noSig), want: token.AlgMismatch},
		{name: "alg none with HMAC signature", tok: rawJWS(with(hsHeader(), "alg", "none"), claimsAt(nil), hmacSigner(testSecret)), want: token.AlgMismatch},
		{name: "alg NONE", tok: rawJWS(with(hsHeader(), "alg", "NONE"), claimsAt(nil), noSig), want: token.MalformedToken},
		{name: "alg lower case hs256", tok: rawJWS(with(hsHeader(), "alg", "hs256"), claimsAt(nil), hmacSigner(testSecret)), want: token.MalformedToken},
		{name: "alg missing", tok: rawJWS(with(hsHeader(), "alg", nil), claimsAt(nil), hmacSigner(testSecret)), want: token.MalformedToken},
		{name: "alg not a string", tok: rawJWS(with(hsHeader(), "alg", 1), claimsAt(nil), hmacSigner(testSecret)), want: token.MalformedToken},
		{name: "alg unknown", tok: rawJWS(with(hsHeader(), "alg", "XS256"), claimsAt(nil), hmacSigner(testSecret)), want: token.MalformedToken},

		// Algorithm confusion: HS256 keyed with the Ed25519 public key.
		{name: "HS256 keyed with Ed25519 public key bytes, kid of Ed key",
			tok: rawJWS(with(hsHeader(), "kid", "ed1"), claimsAt(nil), hmacSigner(testEdPub)), want: token.AlgMismatch},
		{name: "HS256 keyed with Ed25519 public PEM, kid of Ed key",
			tok: rawJWS(with(hsHeader(), "kid", "ed1"), claimsAt(nil), hmacSigner(pubPEM)), want: token.AlgMismatch},
		{name: "HS256 keyed with Ed25519 public key bytes, no kid, Ed key only", keys: onlyEd,
			tok: rawJWS(with(hsHeader(), "kid", nil), claimsAt(nil), hmacSigner(testEdPub)), want: token.AlgMismatch},
		{name: "EdDSA naming the HS256 key",
			tok: rawJWS(with(edHeader(), "kid", "hs1"), claimsAt(nil), edSigner(testEdPriv)), want: token.AlgMismatch},
		{name: "HS512 naming the HS256 key",
			tok: rawJWS(with(hsHeader(), "alg", "HS512"), claimsAt(nil), hmacSigner(testSecret)), want: token.AlgMismatch},
		{name: "RS256 naming the Ed key",
			tok: rawJWS(with(edHeader(), "alg", "RS256"), claimsAt(nil), noSig), want: token.AlgMismatch},

		// kid.
		{name: "kid unknown", tok: rawJWS(with(hsHeader(), "kid", "hs2"), claimsAt(nil), hmacSigner(testSecret)), want: token.UnknownKey},
		{name: "kid empty", tok: rawJWS(with(hsHeader(), "kid", ""), claimsAt(nil), hmacSigner(testSecret)), want: token.UnknownKey},
		{name: "kid empty, one key", keys: onlyHS, tok: rawJWS(with(hsHeader(), "kid", ""), claimsAt(nil), hmacSigner(testSecret)), want: token.UnknownKey},
		{name: "kid case differs", tok: rawJWS(with(hsHeader(), "kid", "HS1"), claimsAt(nil), hmacSigner(testSecret)), want: token.UnknownKey},
		{name: "kid missing, several keys", tok: rawJWS(with(hsHeader(), "kid", nil), claimsAt(nil), hmacSigner(testSecret)), want: token.UnknownKey},
		{name: "kid missing, one key", keys: onlyHS, tok: rawJWS(with(hsHeader(), "kid", nil), claimsAt(nil), hmacSigner(testSecret))},
		{name: "kid number", tok: rawJWS(with(hsHeader(), "kid", 1), claimsAt(nil), hmacSigner(testSecret)), want: token.MalformedToken},
		{name: "kid null", keys: onlyHS, tok: rawJWS(with(hsHeader(), "kid", jsonNull{}), claimsAt(nil), hmacSigner(testSecret)), want: token.MalformedToken},
		{name: "kid array", tok: rawJWS(with(hsHeader(), "kid", []string{"hs1"}), claimsAt(nil), hmacSigner(testSecret)), want: token.MalformedToken},
		{name: "kid path injection", tok: rawJWS(with(hsHeader(), "kid", "../../etc/passwd"), claimsAt(nil), hmacSigner(testSecret)), want: token.UnknownKey},
		{name: "kid with NUL", tok: rawJWS(with(hsHeader(), "kid", "hs1\x00"), claimsAt(nil), hmacSigner(testSecret)), want: token.UnknownKey},
		{name: "kid very long", tok: rawJWS(with(hsHeader(), "kid", strings.Repeat("k", 1000)), claimsAt(nil), hmacSigner(testSecret)), want: token.UnknownKey},
		{name: "kid huge", tok: rawJWS(with(hsHeader(), "kid", strings.Repeat("k", 5000)), claimsAt(nil), hmacSigner(testSecret)), want: token.MalformedToken},

		// Header extensions.
		{name: "crit", tok: rawJWS(with(hsHeader(), "crit", []string{"exp"}), claimsAt(nil), hmacSigner(testSecret)), want: token.MalformedToken},
		{name: "crit empty", tok: rawJWS(with(hsHeader(), "crit", []string{}), claimsAt(nil), hmacSigner(testSecret)), want: token.MalformedToken},
		{name: "unknown header ignored", tok: rawJWS(with(hsHeader(), "x-note", "hi"), claimsAt(nil), hmacSigner(testSecret))},
		{name: "typ absent", tok: rawJWS(with(hsHeader(), "typ", nil), claimsAt(nil), hmacSigner(testSecret))},

		// Signature and encoding.
		{name: "wrong HS256 secret", tok: rawJWS(hsHeader(), claimsAt(nil), hmacSigner([]byte("another-secret-of-enough-length-0123456789"))), want: token.BadSignature},
		{name: "wrong Ed25519 key", tok: rawJWS(edHeader(), claimsAt(nil), edSigner(ed25519Key("other"))), want: token.BadSignature},
		{name: "tampered payload", tok: tamper(good, 1, func(string) string {
			return b64.EncodeToString(mustJSON(claimsAt(map[string]any{"p": []string{"/"}})))
		}), want: token.BadSignature},
		{name: "tampered payload EdDSA", tok: tamper(goodEd, 1, func(string) string {
			return b64.EncodeToString(mustJSON(claimsAt(map[string]any{"m": []string{"GET", "DELETE"}})))
		}), want: token.BadSignature},
		{name: "tampered header", tok: tamper(good, 0, func(string) string {
			return b64.EncodeToString(mustJSON(with(hsHeader(), "typ", "jwt")))
		}), want: token.BadSignature},
		{name: "signature of another token", tok: tamper(good, 2, func(string) string {
			return strings.Split(rawJWS(hsHeader(), claimsAt(map[string]any{"jti": "another-jti-0123456789"}), hmacSigner(testSecret)), ".")[2]
		}), want: token.BadSignature},
		{name: "signature empty", tok: tamper(good, 2, func(string) string { return "" }), want: token.BadSignature},
		{name: "signature empty EdDSA", tok: tamper(goodEd, 2, func(string) string { return "" }), want: token.BadSignature},
		{name: "truncated signature", tok: good[:len(good)-4], wantIn: []token.Reason{token.BadSignature, token.MalformedToken}},
		{name: "truncated signature by one", tok: good[:len(good)-1], wantIn: []token.Reason{token.BadSignature, token.MalformedToken}},
		{name: "truncated to two segments", tok: good[:strings.LastIndex(good, ".")], want: token.MalformedToken},
		{name: "truncated in payload", tok: good[:strings.Index(good, ".")+10], want: token.MalformedToken},
		{name: "truncated to header", tok: good[:strings.Index(good, ".")], want: token.MalformedToken},
		{name: "four segments", tok: good + ".AAAA", want: token.MalformedToken},
		{name: "padded signature", tok: good + "=", want: token.MalformedToken},
		{name: "padded payload", tok: tamper(good, 1, func(s string) string { return s + "==" }), want: token.MalformedToken},
		{name: "standard base64 alphabet", tok: stdAlphabet(), want: token.MalformedToken},
		{name: "non-canonical trailing bits HS256", tok: tamper(good, 2, nonCanonical), want: token.MalformedToken},
		{name: "non-canonical trailing bits EdDSA", tok: tamper(goodEd, 2, nonCanonical), want: token.MalformedToken},
		{name: "white space", tok: " " + good, want: token.MalformedToken},
		{name: "bearer prefix", tok: "Bearer " + good, want: token.MalformedToken},
		{name: "header not JSON", tok: tamper(good, 0, func(string) string { return b64.EncodeToString([]byte("HS256")) }), want: token.MalformedToken},
		{name: "payload not JSON", tok: rawJWS(hsHeader(), "not json", hmacSigner(testSecret)), want: token.MalformedToken},
		{name: "payload JSON array", tok: rawJWS(hsHeader(), "[]", hmacSigner(testSecret)), want: token.MalformedToken},
		// The payload is read only once the signature holds (the spec's
		// order): a forgery costs no JSON decoding, whatever it carries.
		{name: "payload not JSON, forged", tok: rawJWS(hsHeader(), "not json", hmacSigner([]byte("another-secret-of-enough-length-0123456789"))), want: token.BadSignature},
		{name: "payload not JSON, unknown kid", tok: rawJWS(with(hsHeader(), "kid", "hs2"), "not json", noSig), want: token.UnknownKey},

		// Claim shape (signed correctly, refused all the same).
		{name: "exp missing", tok: hsTok(map[string]any{"exp": nil}), want: token.MalformedToken},
		{name: "jti missing", tok: hsTok(map[string]any{"jti": nil}), want: token.MalformedToken},
		{name: "jti 15 chars", tok: hsTok(map[string]any{"jti": "0123456789abcde"}), want: token.MalformedToken},
		{name: "jti 16 chars", tok: hsTok(map[string]any{"jti": "0123456789abcdef"})},
		{name: "jti 128 chars", tok: hsTok(map[string]any{"jti": strings.Repeat("j", 128)})},
		{name: "jti 129 chars", tok: hsTok(map[string]any{"jti": strings.Repeat("j", 129)}), want: token.MalformedToken},
		{name: "jti control character", tok: hsTok(map[string]any{"jti": "0123456789abcdef\n"}), want: token.MalformedToken},
		{name: "jti number", tok: hsTok(map[string]any{"jti": 12345678901234567}), want: token.MalformedToken},
		{name: "paths missing", tok: hsTok(map[string]any{"p": nil}), want: token.MalformedToken},
		{name: "paths empty", tok: hsTok(map[string]any{"p": []string{}}), want: token.MalformedToken},
		{name: "path a string, not a list", tok: hsTok(map[string]any{"p": "/photos/alice/"}), want: token.MalformedToken},
		{name: "path relative", tok: hsTok(map[string]any{"p": []string{"photos/alice/"}}), want: token.MalformedToken},
		{name: "path with dotdot", tok: hsTok(map[string]any{"p": []string{"/photos/alice/../"}}), want: token.MalformedToken},
		{name: "path with double slash", tok: hsTok(map[string]any{"p": []string{"/photos//alice/"}}), want: token.MalformedToken},
		{name: "path percent-encoded", tok: hsTok(map[string]any{"p": []string{"/photos/%61lice/"}}), want: token.MalformedToken},
		{name: "path backslash", tok: hsTok(map[string]any{"p": []string{`/photos\alice\`}}), want: token.MalformedToken},
		{name: "path empty string", tok: hsTok(map[string]any{"p": []string{""}}), want: token.MalformedToken},
		{name: "one bad path among good", tok: hsTok(map[string]any{"p": []string{"/a/", "/b/./"}}), want: token.MalformedToken},
		{name: "methods missing", tok: hsTok(map[string]any{"m": nil}), want: token.MalformedToken},
		{name: "method lower case", tok: hsTok(map[string]any{"m": []string{"get"}}), want: token.MalformedToken},
		{name: "method OPTIONS", tok: hsTok(map[string]any{"m": []string{"OPTIONS"}}), want: token.MalformedToken},
		{name: "method wildcard", tok: hsTok(map[string]any{"m": []string{"*"}}), want: token.MalformedToken},
		{name: "ip not a prefix", tok: hsTok(map[string]any{"ip": []string{"10.0.0.1"}}), want: token.MalformedToken},
		{name: "ip garbage", tok: hsTok(map[string]any{"ip": []string{"localhost/8"}}), want: token.MalformedToken},
		{name: "maxb negative", tok: hsTok(map[string]any{"maxb": -1}), want: token.MalformedToken},
		{name: "uses negative", tok: hsTok(map[string]any{"uses": -1}), want: token.MalformedToken},
		{name: "grp control character", tok: hsTok(map[string]any{"grp": "a\x7fb"}), want: token.MalformedToken},
		{name: "all our claims", v: token.Verifier{Audience: "gw"}, tok: hsTok(map[string]any{
			"ip": []string{"10.0.0.0/8"}, "https": true, "maxb": 1 << 20, "ctypes": []string{"image/jpeg"},
			"ow": true, "grp": "album-7", "uses": 3, "origins": []string{"https://app.example"},
			"rsp": map[string]string{"cd": `attachment; filename="a.jpg"`, "ct": "image/jpeg", "cc": "no-store"},
			"aud": "gw", "nbf": testNow.Unix() - 1,
		})},

		// Audience.
		{name: "aud matches", v: token.Verifier{Audience: "gw1"}, tok: hsTok(map[string]any{"aud": "gw1"})},
		{name: "aud list matches", v: token.Verifier{Audience: "gw1"}, tok: hsTok(map[string]any{"aud": []string{"gw0", "gw1"}})},
		{name: "aud differs", v: token.Verifier{Audience: "gw1"}, tok: hsTok(map[string]any{"aud": "gw2"}), want: token.AudienceMismatch},
		{name: "aud case differs", v: token.Verifier{Audience: "gw1"}, tok: hsTok(map[string]any{"aud": "GW1"}), want: token.AudienceMismatch},
		{name: "aud missing", v: token.Verifier{Audience: "gw1"}, tok: hsTok(nil), want: token.AudienceMismatch},
		{name: "aud empty list", v: token.Verifier{Audience: "gw1"}, tok: hsTok(map[string]any{"aud": []string{}}), want: token.AudienceMismatch},
		{name: "aud set, gateway has none", tok: hsTok(map[string]any{"aud": "gw2"}), want: token.AudienceMismatch}, // RFC 7519 4.1.3
		{name: "aud not a string", v: token.Verifier{Audience: "gw1"}, tok: hsTok(map[string]any{"aud": 1}), want: token.MalformedToken},

		// Time, with a 30 s leeway.
		{name: "exp inside leeway", v: token.Verifier{Leeway: 30 * time.Second}, tok: hsTok(map[string]any{"exp": testNow.Unix() - 29})},
		{name: "exp at leeway edge", v: token.Verifier{Leeway: 30 * time.Second}, tok: hsTok(map[string]any{"exp": testNow.Unix() - 30}), want: token.Expired},
		{name: "exp now, no leeway", tok: hsTok(map[string]any{"exp": testNow.Unix()}), want: token.Expired},
		{name: "exp in a second, no leeway", tok: hsTok(map[string]any{"exp": testNow.Unix() + 1})},
		{name: "exp long ago", tok: hsTok(map[string]any{"exp": 1000000000, "iat": 999999000}), want: token.Expired},
		{name: "exp zero", tok: hsTok(map[string]any{"exp": 0}), want: token.Expired},
		{name: "nbf inside leeway", v: token.Verifier{Leeway: 30 * time.Second}, tok: hsTok(map[string]any{"nbf": testNow.Unix() + 30})},
		{name: "nbf past leeway", v: token.Verifier{Leeway: 30 * time.Second}, tok: hsTok(map[string]any{"nbf": testNow.Unix() + 31}), want: token.NotYetValid},
		{name: "nbf now", tok: hsTok(map[string]any{"nbf": testNow.Unix()})},
		{name: "nbf in a second, no leeway", tok: hsTok(map[string]any{"nbf": testNow.Unix() + 1}), want: token.NotYetValid},
		{name: "expired wins over not yet valid", tok: hsTok(map[string]any{"nbf": testNow.Unix() + 100, "exp": testNow.Unix() - 100}), want: token.Expired},

		// max_ttl 10 min, leeway 30 s.
		{name: "ttl with iat at edge", v: ttl(), tok: hsTok(map[string]any{"iat": testNow.Unix(), "exp": testNow.Unix() + 630})},
		{name: "ttl with iat over edge", v: ttl(), tok: hsTok(map[string]any{"iat": testNow.Unix(), "exp": testNow.Unix() + 631}), want: token.TTLTooLong},
		{name: "ttl with old iat", v: ttl(), tok: hsTok(map[string]any{"iat": testNow.Unix() - 3600, "exp": testNow.Unix() + 60}), want: token.TTLTooLong},
		{name: "ttl without iat at edge", v: ttl(), tok: hsTok(map[string]any{"iat": nil, "exp": testNow.Unix() + 630})},
		{name: "ttl without iat over edge", v: ttl(), tok: hsTok(map[string]any{"iat": nil, "exp": testNow.Unix() + 631}), want: token.TTLTooLong},
		{name: "ttl with future iat", v: ttl(), tok: hsTok(map[string]any{"iat": testNow.Unix() + 86400, "exp": testNow.Unix() + 86400 + 60}), want: token.TTLTooLong},
		{name: "ttl with iat slightly ahead", v: ttl(), tok: hsTok(map[string]any{"iat": testNow.Unix() + 20, "exp": testNow.Unix() + 620})},
		{name: "ttl with far future exp", v: ttl(), tok: hsTok(map[string]any{"exp": 4102444800}), want: token.TTLTooLong},
		{name: "no ttl ceiling", tok: hsTok(map[string]any{"exp": 4102444800})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.v
			v.Keys = both
			if tt.keys != nil {
				v.Keys = tt.keys
			}
			c, got := v.Verify(tt.tok, testNow)
			want := []token.Reason{tt.want}
			if tt.wantIn != nil {
				want = tt.wantIn
			}
			if !containsReason(want, got) {
				t.Fatalf("Verify = %q, want one of %q", got, want)
			}
			if (got == token.Allowed) != (c != nil) {
				t.Fatalf("Verify = %v, %q: claims must come exactly with an allow", c, got)
			}
		})
	}
}

// stdAlphabet is a good token whose signature, re-spelled in the standard
// base64 alphabet, differs from the base64url one ('-' becomes '+', '_' '/').
func stdAlphabet() string {
	for i := 0; ; i++ {
		tok := hsTok(map[string]any{"jti": fmt.Sprintf("std-alphabet-jti-%04d", i)})
		if sig := tok[strings.LastIndex(tok, ".")+1:]; strings.ContainsAny(sig, "-_") {
			return tamper(tok, 2, strings.NewReplacer("-", "+", "_", "/").Replace)
		}
	}
}

type jsonNull struct{}

func (jsonNull) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

func ttl() token.Verifier { return token.Verifier{Leeway: 30 * time.Second, MaxTTL: 10 * time.Minute} }

func hsTok(overrides map[string]any) string {
	return rawJWS(hsHeader(), claimsAt(overrides), hmacSigner(testSecret))
}

// extraMember is the JSON of a valid claim set with one more member added
// by hand, as no JSON encoder would write it.
func extraMember(member string) string {
	b := mustJSON(claimsAt(nil))
	return string(b[:len(b)-1]) + "," + member + "}"
}

func mustJSON(v any) []byte {
	b, err := jsonMarshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func containsReason(list []token.Reason, r token.Reason) bool {
	for _, x := range list {
		if x == r {
			return true
		}
	}
	return false
}

// nonCanonical flips a padding bit of the last base64url character: the
// decoded bytes stay the same, so only strict decoding can tell.
func nonCanonical(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[last^1])
}

func TestVerifyKeyID(t *testing.T) {
	v := token.Verifier{Keys: keySet(t, hsKey(t, "hs1"), edKey(t, "ed1", false))}
	for kid, tok := range map[string]string{
		"hs1": hsTok(nil),
		"ed1": rawJWS(edHeader(), claimsAt(nil), edSigner(testEdPriv)),
	} {
		c, r := v.Verify(tok, testNow)
		if r != token.Allowed || c.KeyID() != kid {
			t.Errorf("Verify = %q, KeyID %q; want allowed by %q", r, c.KeyID(), kid)
		}
	}
	// Without kid, the only key is named.
	v = token.Verifier{Keys: keySet(t, hsKey(t, "solo"))}
	c, r := v.Verify(rawJWS(with(hsHeader(), "kid", nil), claimsAt(nil), hmacSigner(testSecret)), testNow)
	if r != token.Allowed || c.KeyID() != "solo" {
		t.Errorf("Verify = %q; want allowed by the only key", r)
	}
}

func TestVerifyClaimsDecoded(t *testing.T) {
	v := token.Verifier{Keys: keySet(t, hsKey(t, "hs1"))}
	c, r := v.Verify(hsTok(map[string]any{
		"ip": []string{"10.1.2.3/8"}, "https": true, "maxb": 1048576, "ctypes": []string{"image/jpeg", "image/png"},
		"ow": true, "grp": "album-7", "uses": 3, "origins": []string{"https://app.example"},
		"rsp": map[string]string{"cd": `attachment; filename="a.jpg"`, "ct": "image/jpeg", "cc": "no-store"},
	}), testNow)
	if r != token.Allowed {
		t.Fatalf("Verify = %q", r)
	}
	want := token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{ID: "test-jti-0123456789"},
		Paths:            []string{"/photos/alice/"}, Methods: []string{"GET"}, IPs: []string{"10.1.2.3/8"},
		HTTPSOnly: true, MaxBytes: 1048576, ContentTypes: []string{"image/jpeg", "image/png"}, Overwrite: true,
		Group: "album-7", Uses: 3, Origins: []string{"https://app.example"},
		Response: &token.ResponseOverrides{ContentDisposition: `attachment; filename="a.jpg"`, ContentType: "image/jpeg", CacheControl: "no-store"},
	}
	if c.ID != want.ID || !c.ExpiresAt.Equal(testNow.Add(10*time.Minute)) || !c.IssuedAt.Equal(testNow) ||
		strings.Join(c.Paths, ",") != "/photos/alice/" || strings.Join(c.Methods, ",") != "GET" ||
		strings.Join(c.IPs, ",") != "10.1.2.3/8" || !c.HTTPSOnly || c.MaxBytes != want.MaxBytes ||
		strings.Join(c.ContentTypes, ",") != "image/jpeg,image/png" || !c.Overwrite || c.Group != want.Group ||
		c.Uses != 3 || strings.Join(c.Origins, ",") != "https://app.example" || *c.Response != *want.Response {
		t.Fatalf("claims decoded as %+v, want %+v", c, want)
	}
}

// TestVerifyHMACStatesStayWithTheirKey verifies tokens of two HS256 keys
// from many goroutines at once: each key reuses HMAC states keyed with its
// own secret, so a token must hold under its key, and the same payload
// named for the other key must not, however the states are interleaved.
func TestVerifyHMACStatesStayWithTheirKey(t *testing.T) {
	other := []byte("test-only-second-hs256-secret-never-use-it")
	k2, err := token.NewHMACKey("hs2", other)
	if err != nil {
		t.Fatal(err)
	}
	v := token.Verifier{Keys: keySet(t, hsKey(t, "hs1"), k2)}
	good1 := hsTok(nil)
	good2 := rawJWS(with(hsHeader(), "kid", "hs2"), claimsAt(nil), hmacSigner(other))
	crossed := rawJWS(with(hsHeader(), "kid", "hs2"), claimsAt(nil), hmacSigner(testSecret))
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				for tok, want := range map[string]token.Reason{good1: token.Allowed, good2: token.Allowed, crossed: token.BadSignature} {
					if _, r := v.Verify(tok, testNow); r != want {
						errs <- fmt.Sprintf("goroutine %d, round %d: Verify = %q, want %q", g, i, r, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
