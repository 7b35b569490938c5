package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// verifySignature reports whether sig signs signed (the token's
// "header.payload") under k, with the one algorithm bound to k.
//
// Both keep per-key work out of the per-token cost, which a gate verifying
// a new token on every request pays. HS256 reuses HMAC states keyed once
// per key (hmac.New derives the padded key and allocates two hashes on
// every call); the comparison is constant-time (hmac.Equal). EdDSA uses
// curve25519-voi with the public key decoded and expanded once, about half
// the time of crypto/ed25519, which decodes it on every call; its StdLib
// rules accept exactly the signatures crypto/ed25519 accepts
// (FuzzEdDSAMatchesStdlib holds it to that).
func (k *Key) verifySignature(signed, sig []byte) bool {
	if k.ed != nil {
		return voi.VerifyExpandedWithOptions(k.ed, signed, sig, stdlibRules)
	}
	m := k.macs.Get().(*keyedMAC)
	m.h.Reset()
	m.h.Write(signed)
	ok := hmac.Equal(sig, m.h.Sum(m.sum[:0]))
	k.macs.Put(m)
	return ok
}

// stdlibRules are crypto/ed25519's verification rules: cofactorless, S
// canonical, R compared as bytes.
var stdlibRules = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// keyedMAC is one HMAC-SHA256 state of a key, with room for its sum.
type keyedMAC struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// newMACPool hands out HMAC-SHA256 states keyed with secret.
func newMACPool(secret []byte) *sync.Pool {
	return &sync.Pool{New: func() any { return &keyedMAC{h: hmac.New(sha256.New, secret)} }}
}
