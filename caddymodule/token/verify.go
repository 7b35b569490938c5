package token

import (
	"errors"
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

// The algorithm is not listed here: the keyfunc binds it to the key the kid
// names, which also refuses "none" and every algorithm we do not know.
var parser = jwt.NewParser(
	jwt.WithoutClaimsValidation(), // Valid does time, with reasons of its own
	jwt.WithStrictDecoding(),      // one token, one spelling
)

// Parse checks everything about a token that does not depend on the clock:
// its text (canonical, see canonicalText), the header's shape, the
// signature with the key its kid names, the algorithm bound to that key,
// the claims' shape and the audience. The result may be cached until exp.
func (v *Verifier) Parse(raw string) (*Claims, Reason) {
	if raw == "" {
		return nil, MissingToken
	}
	if len(raw) > MaxTokenLength || !canonicalText(raw) {
		return nil, MalformedToken
	}
	header, payload, _ := strings.Cut(raw, ".")
	payload, _, _ = strings.Cut(payload, ".")
	if _, err := checkShape(header, headerShape); err != nil {
		return nil, MalformedToken
	}
	c := new(Claims)
	var keyReason Reason
	_, err := parser.ParseWithClaims(raw, c, func(t *jwt.Token) (any, error) {
		kid, hasKid := t.Header["kid"].(string) // a string, as checkShape saw
		k, reason := v.Keys.lookup(kid, hasKid)
		if reason != Allowed {
			keyReason = reason
			return nil, reason
		}
		if t.Method.Alg() != string(k.Alg) {
			keyReason = AlgMismatch
			return nil, keyReason
		}
		c.kid = k.ID
		return k.verify, nil
	})
	switch {
	case keyReason != Allowed:
		return nil, keyReason
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, BadSignature
	case err != nil:
		return nil, MalformedToken
	}
	present, err := checkShape(payload, claimShape)
	if err != nil || c.check() != nil {
		return nil, MalformedToken
	}
	// RFC 7519 4.1.3: a token that names audiences is for them only, so a
	// gateway that names none refuses it, even with an empty aud, rather
	// than guess it is meant.
	if v.Audience == "" && present.has("aud") || v.Audience != "" && !contains(c.Audience, v.Audience) {
		return nil, AudienceMismatch
	}
	return c, Allowed
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
