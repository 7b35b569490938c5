package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"

	"github.com/golang-jwt/jwt/v5"
)

// verifySignature reports whether sig signs signed (the token's
// "header.payload", as text and as bytes) under k, with the one algorithm
// bound to k. EdDSA goes through golang-jwt. HS256 reuses HMAC states keyed
// once per key: hmac.New derives the padded key and allocates two hashes
// on every call, which a gate verifying a new token per request need not
// pay; the comparison is constant-time (hmac.Equal) as golang-jwt's is.
func (k *Key) verifySignature(signed string, signedBytes, sig []byte) bool {
	if k.macs == nil {
		return jwt.SigningMethodEdDSA.Verify(signed, sig, k.verify) == nil
	}
	m := k.macs.Get().(*keyedMAC)
	m.h.Reset()
	m.h.Write(signedBytes)
	ok := hmac.Equal(sig, m.h.Sum(m.sum[:0]))
	k.macs.Put(m)
	return ok
}

// keyedMAC is one HMAC-SHA256 state of a key, with room for its sum.
type keyedMAC struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// newMACPool hands out HMAC-SHA256 states keyed with secret.
func newMACPool(secret []byte) *sync.Pool {
	return &sync.Pool{New: func() any { return &keyedMAC{h: hmac.New(sha256.New, secret)} }}
}
