package token

import (
	"encoding/base64"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenLength bounds what the gateway will try to parse.
const MaxTokenLength = 4096

// Verifier checks tokens against a key set and the gateway's ceilings.
type Verifier struct {
	Keys *KeySet
	// Audience, when set, must appear in the token's aud claim. When empty,
	// tokens that carry an aud claim are refused.
	Audience string
	// Leeway is the clock skew allowed on exp and nbf.
	Leeway time.Duration
	// MaxTTL, when positive, refuses tokens that live longer: exp-iat, or
	// exp-now for a token without iat or with an iat in the future (so a
	// made-up iat cannot stretch the ceiling).
	MaxTTL time.Duration
}

// Verify parses a token and checks it at time now: signature, key, shape,
// audience and time. It does not judge a request; see Claims.Allows.
func (v *Verifier) Verify(raw string, now time.Time) (*Claims, Reason) {
	c, reason := v.Parse(raw)
	if reason != Allowed {
		return nil, reason
	}
	if reason := v.Valid(c, now); reason != Allowed {
		return nil, reason
	}
	return c, Allowed
}

// Parse checks everything about a token that does not depend on the clock,
// in the order of the spec: its text (canonical, see canonicalText), the
// header's shape, the key its kid names, the algorithm bound to that key,
// the signature, then the claims' shape and the audience. The payload is
// read as JSON only once the signature holds, so a forged token costs one
// signature check and no JSON decoding.
// The result may be cached until exp.
func (v *Verifier) Parse(raw string) (*Claims, Reason) {
	if raw == "" {
		return nil, MissingToken
	}
	if len(raw) > MaxTokenLength || !canonicalText(raw) {
		return nil, MalformedToken
	}
	dot := strings.LastIndexByte(raw, '.')
	signed := raw[:dot]
	headerPart, _, _ := strings.Cut(signed, ".")

	// The text first: every part must be canonical base64url. The payload
	// is decoded here but read as JSON only once the signature holds.
	text := []byte(raw)
	var buf [MaxTokenLength]byte // header and payload, decoded: base64 only shrinks
	header, okH := decodePart(buf[:0], text[:len(headerPart)])
	payload, okP := decodePart(buf[len(header):len(header)], text[len(headerPart)+1:dot])
	sig, okS := decodePart(nil, text[dot+1:])
	if !okH || !okP || !okS {
		return nil, MalformedToken
	}
	var store [16]member // the members of header, then payload
	hdr, err := shapeOf(header, headerShape, store[:0])
	if err != nil {
		return nil, MalformedToken
	}
	alg, kid, hasAlg, hasKid := readHeader(hdr) // before store is reused
	if !hasAlg || jwt.GetSigningMethod(alg) == nil {
		return nil, MalformedToken
	}
	k, reason := v.Keys.lookup(kid, hasKid)
	if reason != Allowed {
		return nil, reason
	}
	if alg != string(k.Alg) {
		return nil, AlgMismatch
	}
	if !k.verifySignature(text[:dot], sig) {
		return nil, BadSignature
	}

	present, err := shapeOf(payload, claimShape, store[:0])
	if err != nil {
		return nil, MalformedToken
	}
	c, err := decodeClaims(present)
	if err != nil || c.check() != nil {
		return nil, MalformedToken
	}
	c.kid = k.ID
	// RFC 7519 4.1.3: a token that names audiences is for them only, so a
	// gateway that names none refuses it, even with an empty aud, rather
	// than guess it is meant.
	if v.Audience == "" && present.has("aud") || v.Audience != "" && !contains(c.Audience, v.Audience) {
		return nil, AudienceMismatch
	}
	return c, Allowed
}

// decodePart appends the bytes of one base64url part to dst, refusing
// padding and non-zero trailing bits (one text per token).
func decodePart(dst, part []byte) ([]byte, bool) {
	out, err := base64.RawURLEncoding.Strict().AppendDecode(dst, part)
	return out, err == nil
}

// readHeader takes alg and kid from a header shapeOf accepted (both
// strings there).
func readHeader(h members) (alg, kid string, hasAlg, hasKid bool) {
	for _, x := range h.list {
		switch x.name {
		case "alg":
			alg, _ = unquote(x.value)
			hasAlg = true
		case "kid":
			kid, _ = unquote(x.value)
			hasKid = true
		}
	}
	return alg, kid, hasAlg, hasKid
}

// Valid checks the time claims at now, with the verifier's leeway and TTL
// ceiling. It is cheap, and runs on every request, cached or not.
func (v *Verifier) Valid(c *Claims, now time.Time) Reason {
	exp := c.ExpiresAt.Time
	if !now.Before(exp.Add(v.Leeway)) {
		return Expired
	}
	if c.NotBefore != nil && now.Add(v.Leeway).Before(c.NotBefore.Time) {
		return NotYetValid
	}
	if v.MaxTTL > 0 {
		from := now
		if c.IssuedAt != nil && c.IssuedAt.Before(now) {
			from = c.IssuedAt.Time
		}
		if exp.Sub(from) > v.MaxTTL+v.Leeway {
			return TTLTooLong
		}
	}
	return Allowed
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
