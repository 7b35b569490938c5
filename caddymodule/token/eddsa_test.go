package token

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
)

// FuzzEdDSAMatchesStdlib holds the EdDSA check to crypto/ed25519's: for a
// message and a signature, both say the same. The signature is the key's
// own signature of the message with the fuzzer's bytes XORed over it (none:
// the valid signature), so the fuzzer explores near-valid signatures, not
// only noise; the seeds add a non-canonical S (S+L, which crypto/ed25519
// refuses), small-order and non-canonical R, and a high bit set.
//
//	go test -run '^$' -fuzz '^FuzzEdDSAMatchesStdlib$' -fuzztime 10s ./caddymodule/token
func FuzzEdDSAMatchesStdlib(f *testing.F) {
	priv, pub, k := edPair(f)
	msg := []byte("eyJhbGciOiJFZERTQSJ9.eyJleHAiOjF9")
	sig := ed25519.Sign(priv, msg)
	f.Add(msg, []byte(nil))
	f.Add(msg, []byte{1})
	f.Add([]byte("other"), []byte(nil))
	f.Add(msg, xor(sig, withS(sig, sPlusL(sig))))            // S+L
	f.Add(msg, xor(sig, withR(sig, smallOrder(1))))          // R the identity
	f.Add(msg, xor(sig, withR(sig, smallOrder(0xec))))       // R of order 2
	f.Add(msg, xor(sig, withR(sig, nonCanonical(sig[:32])))) // R's y plus p
	f.Add(msg, append(make([]byte, 63), 0x80))               // the high bit of S
	f.Fuzz(func(t *testing.T, msg, mask []byte) {
		sig := xor(ed25519.Sign(priv, msg), mask)
		if got, want := k.verifySignature(msg, sig), ed25519.Verify(pub, msg, sig); got != want {
			t.Fatalf("signature %x of %q: gate says %v, crypto/ed25519 %v", sig, msg, got, want)
		}
	})
}

// TestEdDSAMatchesStdlibOnEdges checks the seeds' edge cases say what
// crypto/ed25519 says, and that the valid signature is accepted (so the
// fuzz target's agreement is not agreement on refusing everything).
func TestEdDSAMatchesStdlibOnEdges(t *testing.T) {
	priv, pub, k := edPair(t)
	msg := []byte("header.payload")
	sig := ed25519.Sign(priv, msg)
	if !k.verifySignature(msg, sig) {
		t.Fatal("a valid signature is refused")
	}
	for name, bad := range map[string][]byte{
		"S+L":           withS(sig, sPlusL(sig)),
		"R identity":    withR(sig, smallOrder(1)),
		"R non-canon":   withR(sig, nonCanonical(sig[:32])),
		"short":         sig[:63],
		"other msg":     ed25519.Sign(priv, []byte("header.other")),
		"flipped bit":   xor(sig, []byte{0, 0, 0, 4}),
		"zero":          make([]byte, 64),
		"high bit of S": xor(sig, append(make([]byte, 63), 0x80)),
	} {
		if got, want := k.verifySignature(msg, bad), ed25519.Verify(pub, msg, bad); got != want || got {
			t.Errorf("%s: gate says %v, crypto/ed25519 %v", name, got, want)
		}
	}
}

// TestEdDSARefusesSmallOrderKeys: a public key of small order verifies a
// signature (R the identity, S zero) for any message, so anyone could mint
// for it; such a key file is refused when it is loaded.
func TestEdDSARefusesSmallOrderKeys(t *testing.T) {
	for _, b := range []byte{1, 0xec, 0} { // the identity, order 2, order 4
		der, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(smallOrder(b)))
		if err != nil {
			t.Fatal(err)
		}
		material := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		if _, err := ParseKey("weak", EdDSA, material); err == nil || !strings.Contains(err.Error(), "small order") {
			t.Errorf("small-order key %x: %v, want a refusal naming small order", smallOrder(b), err)
		}
	}
}

// edPair is a fixed Ed25519 key pair and the gate's key for its public half.
func edPair(t testing.TB) (ed25519.PrivateKey, ed25519.PublicKey, *Key) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	k, err := newEdDSAKey("ed", pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub, k
}

func xor(a, mask []byte) []byte {
	out := bytes.Clone(a)
	for i := range min(len(out), len(mask)) {
		out[i] ^= mask[i]
	}
	return out
}

// withS and withR are sig with its S or its R replaced.
func withS(sig, s []byte) []byte { return append(bytes.Clone(sig[:32]), s...) }
func withR(sig, r []byte) []byte { return append(bytes.Clone(r), sig[32:]...) }

// sPlusL is sig's S plus the group order L, little-endian, when it fits.
func sPlusL(sig []byte) []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	s := new(big.Int).SetBytes(reverse(sig[32:]))
	out := reverse(s.Add(s, l).FillBytes(make([]byte, 32)))
	return out
}

// smallOrder encodes a point of small order: y = 1 (the identity, b=1),
// y = -1 (order 2, b=0xec), y = 0 (order 4, b=0).
func smallOrder(b byte) []byte {
	switch b {
	case 1:
		return append([]byte{1}, make([]byte, 31)...)
	case 0xec:
		return append([]byte{0xec}, append(bytes.Repeat([]byte{0xff}, 30), 0x7f)...)
	}
	return make([]byte, 32)
}

// nonCanonical adds p to the y of an encoded point when the sum fits in
// 255 bits (else returns y = p, the identity's non-canonical twin).
func nonCanonical(enc []byte) []byte {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	sign := enc[31] & 0x80
	y := new(big.Int).SetBytes(reverse(append(enc[:31:31], enc[31]&0x7f)))
	if y.Add(y, p).BitLen() > 255 {
		y = p
	}
	out := reverse(y.FillBytes(make([]byte, 32)))
	out[31] |= sign
	return out
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}
