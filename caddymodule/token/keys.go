package token

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"

	"github.com/oasisprotocol/curve25519-voi/curve"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Alg is a JWS algorithm the gateway accepts. Each key is bound to exactly
// one, so a token can never choose how it is checked.
type Alg string

const (
	HS256 Alg = "HS256" // HMAC-SHA256 with a shared secret
	EdDSA Alg = "EdDSA" // Ed25519: the gateway holds only the public key
)

// MinSecretLength is the shortest HS256 secret accepted, in bytes.
const MinSecretLength = 32

// Key is one signing or verification key with its id (the JWS "kid").
type Key struct {
	ID  string
	Alg Alg

	sign any                    // []byte, ed25519.PrivateKey, or nil for a public key
	macs *sync.Pool             // HS256: keyed HMAC states (see verifySignature)
	ed   *voi.ExpandedPublicKey // EdDSA: the public key, decoded once (see verifySignature)
}

// CanSign reports whether the key holds private material.
func (k *Key) CanSign() bool { return k.sign != nil }

// NewHMACKey makes an HS256 key. The secret is used as given: the bytes of
// the secret text, which is what every JWT library does with a string.
func NewHMACKey(id string, secret []byte) (*Key, error) {
	if len(secret) < MinSecretLength {
		return nil, fmt.Errorf("key %q: an HS256 secret needs at least %d bytes, got %d", id, MinSecretLength, len(secret))
	}
	s := bytes.Clone(secret)
	return &Key{ID: id, Alg: HS256, sign: s, macs: newMACPool(s)}, nil
}

// ParseKey reads key material as keygen writes it: for HS256 the secret text
// (surrounding white space trimmed), for EdDSA a PEM "PUBLIC KEY" (verify
// only) or "PRIVATE KEY" (PKCS #8, sign and verify).
func ParseKey(id string, alg Alg, material []byte) (*Key, error) {
	switch alg {
	case HS256:
		return NewHMACKey(id, bytes.TrimSpace(material))
	case EdDSA:
		block, _ := pem.Decode(material)
		if block == nil {
			return nil, fmt.Errorf("key %q: EdDSA key material is not PEM", id)
		}
		switch block.Type {
		case "PUBLIC KEY":
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", id, err)
			}
			edPub, ok := pub.(ed25519.PublicKey)
			if !ok {
				return nil, fmt.Errorf("key %q: public key is %T, not Ed25519", id, pub)
			}
			return newEdDSAKey(id, edPub, nil)
		case "PRIVATE KEY":
			priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", id, err)
			}
			edPriv, ok := priv.(ed25519.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("key %q: private key is %T, not Ed25519", id, priv)
			}
			return newEdDSAKey(id, edPriv.Public().(ed25519.PublicKey), edPriv)
		default:
			return nil, fmt.Errorf("key %q: PEM block %q is neither PUBLIC KEY nor PRIVATE KEY", id, block.Type)
		}
	default:
		return nil, fmt.Errorf("key %q: unsupported algorithm %q (use HS256 or EdDSA)", id, alg)
	}
}

// newEdDSAKey makes an EdDSA key from its public half, and its private half
// when the key may sign.
// A public key of small order is refused: it verifies a signature of any
// message (R the identity, S zero), so anyone could mint for it.
func newEdDSAKey(id string, pub ed25519.PublicKey, priv ed25519.PrivateKey) (*Key, error) {
	var y curve.CompressedEdwardsY
	var a curve.EdwardsPoint
	if _, err := y.SetBytes(pub); err != nil {
		return nil, fmt.Errorf("key %q: %w", id, err)
	}
	if _, err := a.SetCompressedY(&y); err != nil {
		return nil, fmt.Errorf("key %q: not an Ed25519 public key: %w", id, err)
	}
	if a.IsSmallOrder() {
		return nil, fmt.Errorf("key %q: the Ed25519 public key is of small order: any signature would do for it", id)
	}
	expanded, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", id, err)
	}
	k := &Key{ID: id, Alg: EdDSA, ed: expanded}
	if priv != nil {
		k.sign = priv
	}
	return k, nil
}

// DetectAlg guesses the algorithm of key material written by keygen:
// PEM means EdDSA, anything else an HS256 secret.
func DetectAlg(material []byte) Alg {
	if bytes.HasPrefix(bytes.TrimSpace(material), []byte("-----BEGIN")) {
		return EdDSA
	}
	return HS256
}

// NewHMACSecret returns a fresh 256-bit secret as base64url text, the form
// keygen writes and every JWT library can take as a string.
func NewHMACSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewEd25519PEM returns a fresh Ed25519 key pair as PEM: the PKCS #8 private
// key for the minting application, the PKIX public key for the gateway.
func NewEd25519PEM() (private, public []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), nil
}

// KeySet holds the live keys of a gateway, looked up by id.
type KeySet struct {
	byID map[string]*Key
	only *Key // the key a token without kid gets, when there is just one
}

// NewKeySet builds a key set; ids must be unique, printable and short.
func NewKeySet(keys ...*Key) (*KeySet, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("at least one key is required")
	}
	ks := &KeySet{byID: make(map[string]*Key, len(keys))}
	for _, k := range keys {
		if k.ID == "" || len(k.ID) > 64 || !printable(k.ID) || strings.ContainsAny(k.ID, " \"") {
			return nil, fmt.Errorf("key id %q must be 1 to 64 printable characters without spaces or quotes", k.ID)
		}
		if _, dup := ks.byID[k.ID]; dup {
			return nil, fmt.Errorf("duplicate key id %q", k.ID)
		}
		ks.byID[k.ID] = k
	}
	if len(keys) == 1 {
		ks.only = keys[0]
	}
	return ks, nil
}

// lookup finds the key a token names. A token without kid is accepted only
// when the set has one key, so adding a key never changes what it means.
func (ks *KeySet) lookup(kid string, hasKid bool) (*Key, Reason) {
	if !hasKid {
		if ks.only == nil {
			return nil, UnknownKey
		}
		return ks.only, Allowed
	}
	k, ok := ks.byID[kid]
	if !ok {
		return nil, UnknownKey
	}
	return k, Allowed
}
