package token_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valetkey/caddy-valet/caddymodule/token"
)

func TestMintRoundTrip(t *testing.T) {
	for _, k := range []*token.Key{hsKey(t, "hs1"), edKey(t, "ed1", true)} {
		t.Run(string(k.Alg), func(t *testing.T) {
			c := &token.Claims{Paths: []string{"/photos/alice/"}, Methods: []string{"GET"}}
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Minute))
			raw, err := token.Mint(c, k)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.ID) < token.MinIDLength || c.IssuedAt == nil {
				t.Fatalf("Mint did not fill jti and iat: %+v", c)
			}
			v := token.Verifier{Keys: keySet(t, k), MaxTTL: time.Hour}
			got, r := v.Verify(raw, time.Now())
			if r != token.Allowed || got.ID != c.ID || got.KeyID() != k.ID {
				t.Fatalf("Verify(Mint) = %q, %+v", r, got)
			}
		})
	}
}

func TestMintRefuses(t *testing.T) {
	exp := jwt.NewNumericDate(time.Now().Add(time.Minute))
	tests := []struct {
		name string
		c    token.Claims
		key  *token.Key
		want string
	}{
		{"no exp", token.Claims{Paths: []string{"/a/"}, Methods: []string{"GET"}}, hsKey(t, "hs1"), "exp"},
		{"no path", token.Claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}, Methods: []string{"GET"}}, hsKey(t, "hs1"), "path"},
		{"dirty path", token.Claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}, Paths: []string{"/a/../b"}, Methods: []string{"GET"}}, hsKey(t, "hs1"), "clean"},
		{"bad method", token.Claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}, Paths: []string{"/a/"}, Methods: []string{"get"}}, hsKey(t, "hs1"), "method"},
		{"short jti", token.Claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp, ID: "short"}, Paths: []string{"/a/"}, Methods: []string{"GET"}}, hsKey(t, "hs1"), "jti"},
		{"public key", token.Claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}, Paths: []string{"/a/"}, Methods: []string{"GET"}}, edKey(t, "ed1", false), "cannot sign"},
	}
	for _, tt := range tests {
		if _, err := token.Mint(&tt.c, tt.key); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Mint error = %v, want one mentioning %q", tt.name, err, tt.want)
		}
	}
}

func TestKeys(t *testing.T) {
	if _, err := token.NewHMACKey("k", make([]byte, token.MinSecretLength-1)); err == nil {
		t.Error("a 31-byte HS256 secret was accepted")
	}
	// The secret is the text's bytes, white space around it trimmed.
	k, err := token.ParseKey("hs1", token.HS256, append(append([]byte(" \n"), testSecret...), '\n'))
	if err != nil {
		t.Fatal(err)
	}
	v := token.Verifier{Keys: keySet(t, k)}
	if _, r := v.Verify(hsTok(nil), testNow); r != token.Allowed {
		t.Errorf("secret with white space: Verify = %q", r)
	}
	priv, pub := edPEM(t)
	for _, bad := range [][]byte{nil, []byte("not pem"), pub[:40], []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")} {
		if _, err := token.ParseKey("ed1", token.EdDSA, bad); err == nil {
			t.Errorf("ParseKey(EdDSA, %q) accepted", bad)
		}
	}
	if _, err := token.ParseKey("x", "RS256", pub); err == nil {
		t.Error("ParseKey accepted RS256")
	}
	if token.DetectAlg(priv) != token.EdDSA || token.DetectAlg(pub) != token.EdDSA || token.DetectAlg(testSecret) != token.HS256 {
		t.Error("DetectAlg guessed wrong")
	}
	for _, ids := range [][]string{{}, {""}, {"a b"}, {`a"b`}, {strings.Repeat("k", 65)}, {"dup", "dup"}, {"a\nb"}} {
		var keys []*token.Key
		for _, id := range ids {
			keys = append(keys, hsKey(t, id))
		}
		if _, err := token.NewKeySet(keys...); err == nil {
			t.Errorf("NewKeySet(%q) accepted", ids)
		}
	}
	// Fresh material has the promised shape.
	if s := token.NewHMACSecret(); len(s) < token.MinSecretLength {
		t.Errorf("NewHMACSecret() = %q, too short", s)
	}
	p1, p2, err := token.NewEd25519PEM()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := token.ParseKey("a", token.EdDSA, p1); err != nil {
		t.Error(err)
	}
	if _, err := token.ParseKey("a", token.EdDSA, p2); err != nil {
		t.Error(err)
	}
}
