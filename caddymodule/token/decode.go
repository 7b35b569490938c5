package token

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// decodeClaims fills Claims from the members of a payload shapeOf accepted.
// The walk has already fixed the kind of every member this package reads,
// so each is one conversion of its text, not a reflective decode; the
// result is what json.Unmarshal would make of the payload (FuzzDecodeClaims
// holds it to that). Members the package does not read are ignored, as the
// decoder ignores them.
func decodeClaims(m members) (*Claims, error) {
	c := new(Claims)
	var err error
	for _, x := range m.list {
		v := x.value
		switch x.name {
		case "exp":
			c.ExpiresAt = numericDate(&c.dates[0], v)
		case "nbf":
			c.NotBefore = numericDate(&c.dates[1], v)
		case "iat":
			c.IssuedAt = numericDate(&c.dates[2], v)
		case "jti":
			c.ID, err = unquote(v)
		case "iss":
			c.Issuer, err = unquote(v)
		case "sub":
			c.Subject, err = unquote(v)
		case "grp":
			c.Group, err = unquote(v)
		case "aud":
			if v[0] == '"' {
				var s string
				s, err = unquote(v)
				c.Audience = jwt.ClaimStrings{s}
			} else {
				c.Audience, err = rawStrings(v, false)
			}
		case "p":
			c.Paths, err = rawStrings(v, true)
		case "m":
			c.Methods, err = rawStrings(v, true)
		case "ip":
			c.IPs, err = rawStrings(v, true)
		case "ctypes":
			c.ContentTypes, err = rawStrings(v, true)
		case "origins":
			c.Origins, err = rawStrings(v, true)
		case "https":
			c.HTTPSOnly = v == "true"
		case "ow":
			c.Overwrite = v == "true"
		case "maxb":
			c.MaxBytes, err = strconv.ParseInt(v, 10, 64)
		case "uses":
			c.Uses, err = strconv.ParseInt(v, 10, 64)
		case "rsp": // rare: the decoder's own rules for an object
			err = json.Unmarshal([]byte(v), &c.Response)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// numericDate reads an integer literal shapeOf checked (0 to MaxInteger)
// into d, as jwt.NumericDate does, and returns d.
func numericDate(d *jwt.NumericDate, v string) *jwt.NumericDate {
	s, _ := strconv.ParseInt(v, 10, 64)
	*d = *jwt.NewNumericDate(time.Unix(s, 0))
	return d
}
