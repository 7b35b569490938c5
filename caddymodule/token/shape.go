package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A token is judged exactly as written: other JWT libraries must not be
// able to read it differently from this package. The JSON decoder alone is
// too forgiving (it lets a later member win, matches names without regard
// to case, reads a NumericDate from a string, takes null for anything and
// turns invalid UTF-8 into U+FFFD), so each part is walked once more here.

// kind is the JSON shape a member must have.
type kind int

const (
	kString    kind = iota + 1
	kStrings        // a non-empty array of strings
	kAudience       // a string or an array of strings
	kInteger        // an integer literal from 0 to MaxInteger
	kPositive       // an integer literal from 1 to MaxInteger
	kBool           // true or false
	kObject         // an object of string members
	kAny            // ignored by the gateway, any JSON value
	kForbidden      // must not be present
)

// MaxInteger is the largest integer a claim may hold, 2^53-1: the largest
// every JSON implementation reads exactly.
const MaxInteger = 1<<53 - 1

// headerShape and claimShape are the members this package reads, spelled
// as the spec does.
var (
	headerShape = map[string]kind{"alg": kString, "kid": kString, "typ": kAny, "crit": kForbidden}
	claimShape  = map[string]kind{
		"exp": kInteger, "nbf": kInteger, "iat": kInteger, "jti": kString, "aud": kAudience,
		"iss": kString, "sub": kString,
		"p": kStrings, "m": kStrings, "ip": kStrings, "https": kBool, "maxb": kPositive,
		"ctypes": kStrings, "ow": kBool, "grp": kString, "uses": kInteger,
		"origins": kStrings, "rsp": kObject,
	}
)

// canonicalText reports whether raw is three base64url runs (alphabet
// A-Z a-z 0-9 - _, no padding) joined by two dots, the only spelling of a
// JWS compact token; the signature may be empty (the key then refuses it). CR, LF, spaces and percent escapes
// are refused, so a token has one text everywhere (caches, logs, carriers).
func canonicalText(raw string) bool {
	parts, runLen := 1, 0
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '.':
			if runLen == 0 || parts == 3 {
				return false
			}
			parts, runLen = parts+1, 0
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			runLen++
		default:
			return false
		}
	}
	return parts == 3
}

// checkShape walks one base64url part (header or payload): valid UTF-8,
// a JSON object, each member at most once and never a case variant of a
// name in shape, each known member of its kind, and no U+FFFD in any of
// their strings (what a decoder leaves for a lone surrogate escape). It
// returns the names present.
func checkShape(part string, shape map[string]kind) (map[string]bool, error) {
	data, err := base64.RawURLEncoding.Strict().DecodeString(part)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name := t.(string)
		if seen[name] {
			return nil, fmt.Errorf("member %q appears twice", name)
		}
		seen[name] = true
		var value any
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		k, ours := shape[name]
		if !ours {
			for known := range shape {
				if strings.EqualFold(name, known) {
					return nil, fmt.Errorf("member %q must be spelled %q", name, known)
				}
			}
			continue
		}
		if err := checkKind(value, k); err != nil {
			return nil, fmt.Errorf("member %q: %w", name, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the JSON object")
	}
	return seen, nil
}

func checkKind(v any, k kind) error {
	switch k {
	case kAny:
		return nil
	case kForbidden:
		return fmt.Errorf("must not be present")
	case kString:
		if s, ok := v.(string); ok {
			return cleanString(s)
		}
		return fmt.Errorf("must be a string")
	case kAudience:
		if s, ok := v.(string); ok {
			return cleanString(s)
		}
		return checkStrings(v, false)
	case kStrings:
		return checkStrings(v, true)
	case kInteger, kPositive:
		n, ok := v.(json.Number)
		if !ok || strings.ContainsAny(n.String(), "-.eE") {
			return fmt.Errorf("must be an integer number (no sign, fraction or exponent)")
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil || i > MaxInteger || (k == kPositive && i < 1) {
			return fmt.Errorf("out of range")
		}
		return nil
	case kBool:
		if _, ok := v.(bool); ok {
			return nil
		}
		return fmt.Errorf("must be true or false")
	case kObject:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("must be an object")
		}
		for _, x := range m {
			s, ok := x.(string)
			if !ok {
				return fmt.Errorf("members must be strings")
			}
			if err := cleanString(s); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown kind")
}

func checkStrings(v any, nonEmpty bool) error {
	list, ok := v.([]any)
	if !ok {
		return fmt.Errorf("must be an array of strings")
	}
	if nonEmpty && len(list) == 0 {
		return fmt.Errorf("must not be empty when present")
	}
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return fmt.Errorf("must be an array of strings")
		}
		if err := cleanString(s); err != nil {
			return err
		}
	}
	return nil
}

// cleanString refuses U+FFFD: a decoder puts it where the text held an
// unpaired surrogate escape, so two different ids could read the same.
func cleanString(s string) error {
	if strings.ContainsRune(s, utf8.RuneError) {
		return fmt.Errorf("contains U+FFFD (an unpaired surrogate or a replacement character)")
	}
	return nil
}
