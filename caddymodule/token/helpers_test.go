package token_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// Test-only key material. The same values are published in
// docs/token-vectors.json; never use them outside tests.
var (
	testSecret = []byte("test-only-hs256-secret-never-use-this-0123")
	testSeed   = sha256.Sum256([]byte("caddy-valet test-only ed25519 key"))
	testEdPriv = ed25519.NewKeyFromSeed(testSeed[:])
	testEdPub  = testEdPriv.Public().(ed25519.PublicKey)
)

// testNow is the fixed clock of the unit tests and the vectors.
var testNow = time.Unix(1767225600, 0) // 2026-01-01T00:00:00Z

func hsKey(t testing.TB, id string) *token.Key {
	t.Helper()
	k, err := token.NewHMACKey(id, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func edKey(t testing.TB, id string, private bool) *token.Key {
	t.Helper()
	priv, pub := edPEM(t)
	material := pub
	if private {
		material = priv
	}
	k, err := token.ParseKey(id, token.EdDSA, material)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keySet(t testing.TB, keys ...*token.Key) *token.KeySet {
	t.Helper()
	ks, err := token.NewKeySet(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// signer makes a JWS signature over the signing input.
type signer func(input []byte) []byte

func hmacSigner(secret []byte) signer {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

func edSigner(priv ed25519.PrivateKey) signer {
	return func(in []byte) []byte { return ed25519.Sign(priv, in) }
}

func noSig([]byte) []byte { return nil }

var b64 = base64.RawURLEncoding

// rawJWS builds a compact JWS by hand, so tests can write headers and
// payloads no well-behaved library would: each is JSON text as given (a
// string) or marshalled.
func rawJWS(header any, payload any, sign signer) string {
	input := b64.EncodeToString(jsonText(header)) + "." + b64.EncodeToString(jsonText(payload))
	return input + "." + b64.EncodeToString(sign([]byte(input)))
}

func jsonText(v any) []byte {
	if raw, ok := v.(string); ok {
		return []byte(raw)
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// claimsAt returns a valid claim set at testNow, with overrides applied; a
// nil override deletes the claim.
func claimsAt(overrides map[string]any) map[string]any {
	c := map[string]any{
		"exp": testNow.Unix() + 600,
		"iat": testNow.Unix(),
		"jti": "test-jti-0123456789",
		"p":   []string{"/photos/alice/"},
		"m":   []string{"GET"},
	}
	for k, v := range overrides {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// edPEM returns the test Ed25519 key pair as keygen writes it.
func edPEM(t testing.TB) (private, public []byte) {
	t.Helper()
	privDER, err := x509.MarshalPKCS8PrivateKey(testEdPriv)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(testEdPub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
}

var jsonMarshal = json.Marshal

// ed25519Key derives a throw-away Ed25519 key from a name.
func ed25519Key(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(name))
	return ed25519.NewKeyFromSeed(seed[:])
}
