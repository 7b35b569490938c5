package token

import (
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
		case base64URL[c]:
			runLen++
		case c == '.' && runLen > 0 && parts < 3:
			parts, runLen = parts+1, 0
		default:
			return false
		}
	}
	return parts == 3
}

// base64URL holds the bytes of the base64url alphabet: a table, because
// every cold token's text is checked byte by byte.
var base64URL = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		t[c] = true
	}
	return t
}()

// shapeOf walks one decoded part (header or payload): valid UTF-8, a JSON
// object, each member at most once and never a case variant of a name in
// shape, each known member of its kind, and no U+FFFD in any of their
// strings (what a decoder leaves for a lone surrogate escape). It returns
// the members, their values as JSON text, appended to list (which the
// caller may hold on its stack).
//
// Every cold token pays for it, so it walks the text once json.Valid has
// vouched for it, instead of tokenizing with a json.Decoder (three times
// slower); strings are decoded by encoding/json only when they hold an
// escape, and members other than scalars and arrays of strings by
// json.Unmarshal. A differential fuzz target (FuzzShape) holds it to the
// decoder-based walk it replaces.
func shapeOf(data []byte, shape map[string]kind, list []member) (members, error) {
	seen := members{list: list}
	if !utf8.Valid(data) {
		return seen, fmt.Errorf("not valid UTF-8")
	}
	if !json.Valid(data) {
		return seen, fmt.Errorf("not JSON")
	}
	w := jsonWalk{data: string(data)} // one copy: decoded claims are slices of it
	if !w.take('{') {
		return seen, fmt.Errorf("not a JSON object")
	}
	if w.take('}') {
		return seen, nil
	}
	for {
		name, err := w.str()
		if err != nil {
			return seen, err
		}
		w.take(':')
		value := w.value()
		var added bool
		if seen, added = seen.add(name, value); !added {
			return seen, fmt.Errorf("member %q appears twice", name)
		}
		if k, ours := shape[name]; ours {
			if err := checkRaw(value, k); err != nil {
				return seen, fmt.Errorf("member %q: %w", name, err)
			}
		} else {
			for known := range shape {
				if strings.EqualFold(name, known) {
					return seen, fmt.Errorf("member %q must be spelled %q", name, known)
				}
			}
		}
		if w.take('}') {
			return seen, nil // json.Valid: only white space follows
		}
		w.take(',')
	}
}

// member is one member of an object: its decoded name and its value as
// JSON text.
type member struct{ name, value string }

// members are an object's members, in order; a long list is also indexed,
// so a crafted token with hundreds of members costs no quadratic search.
type members struct {
	list  []member
	index map[string]bool
}

// add records a member, reporting false when its name was already there.
// It returns the grown members rather than growing m in place, so that a
// list the caller keeps on its stack stays there.
func (m members) add(name, value string) (members, bool) {
	if m.has(name) {
		return m, false
	}
	m.list = append(m.list, member{name, value})
	if m.index != nil {
		m.index[name] = true
	} else if len(m.list) > 32 {
		m.index = make(map[string]bool, 64)
		for _, x := range m.list {
			m.index[x.name] = true
		}
	}
	return m, true
}

// has reports whether name is a member.
func (m members) has(name string) bool {
	if m.index != nil {
		return m.index[name]
	}
	for _, x := range m.list {
		if x.name == name {
			return true
		}
	}
	return false
}

// checkRaw is checkKind on a member's JSON text.
func checkRaw(raw string, k kind) error {
	switch {
	case k == kAny:
		return nil
	case k == kString || (k == kAudience && raw[0] == '"'):
		if raw[0] != '"' {
			return fmt.Errorf("must be a string")
		}
		s, err := unquote(raw)
		if err != nil {
			return err
		}
		return cleanString(s)
	case k == kStrings || k == kAudience:
		_, err := walkStrings(raw, k == kStrings, false)
		return err
	case k == kInteger || k == kPositive:
		for i := 0; i < len(raw); i++ {
			if c := raw[i]; c < '0' || c > '9' {
				return fmt.Errorf("must be an integer number (no sign, fraction or exponent)")
			}
		}
		i, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || i > MaxInteger || (k == kPositive && i < 1) {
			return fmt.Errorf("out of range")
		}
		return nil
	case k == kBool:
		if raw == "true" || raw == "false" {
			return nil
		}
		return fmt.Errorf("must be true or false")
	}
	var v any // kObject and kForbidden: rare, decoded in full
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return err
	}
	return checkKind(v, k)
}

// rawStrings decodes an array of strings, non-empty when asked, each free
// of U+FFFD.
func rawStrings(raw string, nonEmpty bool) ([]string, error) {
	return walkStrings(raw, nonEmpty, true)
}

// walkStrings judges an array of strings as rawStrings does, and returns
// them when keep is set: the shape check only judges, so a cold token's
// lists are built once, by decodeClaims.
func walkStrings(raw string, nonEmpty, keep bool) ([]string, error) {
	w := jsonWalk{data: raw}
	if !w.take('[') {
		return nil, fmt.Errorf("must be an array of strings")
	}
	if w.take(']') {
		if nonEmpty {
			return nil, fmt.Errorf("must not be empty when present")
		}
		return nil, nil
	}
	var list []string
	if keep {
		list = make([]string, 0, 4)
	}
	for {
		s, err := w.str()
		if err != nil {
			return nil, fmt.Errorf("must be an array of strings")
		}
		if err := cleanString(s); err != nil {
			return nil, err
		}
		if keep {
			list = append(list, s)
		}
		if w.take(']') {
			return list, nil
		}
		w.take(',')
	}
}

// jsonWalk steps through JSON text that json.Valid accepted, so it never
// meets a syntax error of its own: it only needs to find where each part
// ends.
type jsonWalk struct {
	data string
	i    int
}

func (w *jsonWalk) space() {
	for w.i < len(w.data) {
		switch w.data[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// take consumes c (after white space) if it comes next.
func (w *jsonWalk) take(c byte) bool {
	w.space()
	if w.i < len(w.data) && w.data[w.i] == c {
		w.i++
		return true
	}
	return false
}

// str reads a string, decoded.
func (w *jsonWalk) str() (string, error) {
	w.space()
	if w.i >= len(w.data) || w.data[w.i] != '"' {
		return "", fmt.Errorf("not a string")
	}
	start := w.i
	w.skipString()
	return unquote(w.data[start:w.i])
}

// value reads any value and returns its text.
func (w *jsonWalk) value() string {
	w.space()
	start, depth := w.i, 0
	for w.i < len(w.data) {
		switch c := w.data[w.i]; c {
		case '"':
			w.skipString()
			if depth == 0 {
				return w.data[start:w.i]
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return w.data[start:w.i]
			}
			depth--
			if depth == 0 {
				w.i++
				return w.data[start:w.i]
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return w.data[start:w.i]
			}
		}
		w.i++
	}
	return w.data[start:w.i]
}

// skipString steps over the string that starts at w.i.
func (w *jsonWalk) skipString() {
	for w.i++; w.i < len(w.data); w.i++ {
		switch w.data[w.i] {
		case '\\':
			w.i++
		case '"':
			w.i++
			return
		}
	}
}

// unquote decodes a JSON string literal; only one with an escape needs the
// decoder (and a copy).
func unquote(lit string) (string, error) {
	if strings.IndexByte(lit, '\\') < 0 {
		return lit[1 : len(lit)-1], nil
	}
	var s string
	err := json.Unmarshal([]byte(lit), &s)
	return s, err
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
