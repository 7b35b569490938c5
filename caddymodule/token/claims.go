package token

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Claims is the payload of a valet token. The registered claims (exp, nbf,
// iat, jti, aud) keep their JWT meaning; the others are ours, with short
// names because tokens travel in URLs. docs/token.md defines each one.
type Claims struct {
	jwt.RegisteredClaims

	// Paths are the path scopes: "/a/b/" covers the subtree below it,
	// "/a/b.txt" exactly that path.
	Paths []string `json:"p"`
	// Methods are the granted HTTP methods; GET also grants HEAD.
	Methods []string `json:"m"`
	// IPs limits the client address to these CIDR prefixes.
	IPs []string `json:"ip,omitempty"`
	// HTTPSOnly refuses requests that did not arrive over TLS.
	HTTPSOnly bool `json:"https,omitempty"`
	// MaxBytes caps an upload body, counted on the stream.
	MaxBytes int64 `json:"maxb,omitempty"`
	// ContentTypes lists the media types an upload may declare.
	ContentTypes []string `json:"ctypes,omitempty"`
	// Overwrite lets an upload replace an existing file.
	Overwrite bool `json:"ow,omitempty"`
	// Group names a set of tokens that can be revoked together.
	Group string `json:"grp,omitempty"`
	// Uses caps how many requests the token may make, fleet-wide.
	Uses int64 `json:"uses,omitempty"`
	// Origins lists the browser origins allowed to use the token (CORS).
	Origins []string `json:"origins,omitempty"`
	// Response overrides headers of a successful download.
	Response *ResponseOverrides `json:"rsp,omitempty"`

	prefixes []netip.Prefix     // IPs, parsed once by check
	kid      string             // the key that verified the token
	dates    [3]jwt.NumericDate // what a decoded exp, nbf and iat point to: one allocation, not three
}

// KeyID is the id of the key that verified the token (set by Parse).
func (c *Claims) KeyID() string { return c.kid }

// ResponseOverrides are response headers the token's minter signed, like
// Azure's rscd/rsct/rscc: they let one stored file be downloaded under a
// chosen name or type without the store knowing.
type ResponseOverrides struct {
	ContentDisposition string `json:"cd,omitempty"`
	ContentType        string `json:"ct,omitempty"`
	CacheControl       string `json:"cc,omitempty"`
}

// MinIDLength is the shortest jti accepted: 16 base64url characters carry
// 96 bits, the least a guessable-by-nobody id needs.
const MinIDLength = 16

// grantable are the methods a token may name. HEAD comes with GET; OPTIONS
// is a CORS preflight, answered by the gateway, never granted. PATCH is what
// continues a resumable upload (tus); it grants nothing else.
var grantable = map[string]bool{"GET": true, "HEAD": true, "PUT": true, "POST": true, "PATCH": true, "DELETE": true}

// check validates the shape of the claims, the same for minting and
// verifying, so the gateway never accepts what Mint would refuse.
func (c *Claims) check() error {
	if c.ExpiresAt == nil {
		return fmt.Errorf("exp is required")
	}
	if err := CheckID(c.ID); err != nil {
		return err
	}
	if len(c.Paths) == 0 {
		return fmt.Errorf("at least one path scope is required")
	}
	for _, p := range c.Paths {
		if err := checkScope(p); err != nil {
			return fmt.Errorf("path scope %q: %w", p, err)
		}
	}
	if len(c.Methods) == 0 {
		return fmt.Errorf("at least one method is required")
	}
	for _, m := range c.Methods {
		if !grantable[m] {
			return fmt.Errorf("method %q cannot be granted (use upper case GET, HEAD, PUT, POST, PATCH or DELETE)", m)
		}
	}
	c.prefixes = c.prefixes[:0]
	for _, s := range c.IPs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("ip %q: %w", s, err)
		}
		c.prefixes = append(c.prefixes, p.Masked())
	}
	if c.MaxBytes < 0 || c.Uses < 0 {
		return fmt.Errorf("maxb and uses must not be negative")
	}
	if err := CheckGroup(c.Group); err != nil {
		return err
	}
	if o := c.Response; o != nil && !(printable(o.ContentDisposition) && printable(o.ContentType) && printable(o.CacheControl)) {
		return fmt.Errorf("rsp header values must be printable")
	}
	return nil
}

// checkScope refuses scopes that could mean two things: a scope is an
// absolute, clean path, as CanonicalPath would produce it.
func checkScope(p string) error {
	if p == "" || p[0] != '/' {
		return fmt.Errorf("must be absolute")
	}
	if got, reason := canonical(p); reason != Allowed || got != p {
		return fmt.Errorf("must be a clean path (no dot segments, //, %% or control characters)")
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
