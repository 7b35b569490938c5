package token

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// NewID returns a fresh token id: 128 random bits, base64url.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Mint signs claims with a key. It fills in jti (NewID) and iat (now) when
// they are empty, and refuses claims a gateway would refuse.
func Mint(c *Claims, k *Key) (string, error) {
	if !k.CanSign() {
		return "", fmt.Errorf("key %q holds no private material and cannot sign", k.ID)
	}
	if c.ID == "" {
		c.ID = NewID()
	}
	if c.IssuedAt == nil {
		c.IssuedAt = jwt.NewNumericDate(time.Now())
	}
	if err := c.check(); err != nil {
		return "", fmt.Errorf("minting token: %w", err)
	}
	method := jwt.GetSigningMethod(string(k.Alg))
	t := jwt.NewWithClaims(method, c)
	t.Header["kid"] = k.ID
	s, err := t.SignedString(k.sign)
	if err != nil {
		return "", fmt.Errorf("signing token with key %q: %w", k.ID, err)
	}
	return s, nil
}
