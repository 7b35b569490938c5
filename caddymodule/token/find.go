package token

import "encoding/base64"

// ContainsToken reports whether text holds something a JWS compact token
// could be made from: a run of base64 characters (either alphabet, padding
// allowed) that decodes to the start of a JSON object, a dot, another run,
// and a second dot. It is generous on purpose: log filters use it to keep
// anything that could be turned back into a usable token out of a log, so
// a spelling the gateway itself refuses (escaped, padded, standard
// base64) must be found too. Callers remove white space and control
// characters first, which a client may have slipped into the text.
func ContainsToken(text string) bool {
	for p := 0; p < len(text); p++ {
		if !isB64(text[p]) || p > 0 && isURLB64(text[p-1]) || !objectStart(text[p:]) {
			continue
		}
		i := p
		for i < len(text) && isB64(text[i]) {
			i++
		}
		if i == len(text) || text[i] != '.' {
			continue
		}
		j := i + 1
		for j < len(text) && isB64(text[j]) {
			j++
		}
		if j > i+1 && j < len(text) && text[j] == '.' {
			return true
		}
	}
	return false
}

func isURLB64(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

func isB64(c byte) bool { return isURLB64(c) || c == '+' || c == '/' || c == '=' }

// objectStart reports whether a base64 run decodes to JSON white space
// followed by '{', as every JWS header does. Its first 12 characters
// suffice (9 bytes).
func objectStart(run string) bool {
	buf := make([]byte, 0, 12)
	for i := 0; i < len(run) && len(buf) < 12 && run[i] != '='; i++ {
		switch c := run[i]; c {
		case '+':
			buf = append(buf, '-')
		case '/':
			buf = append(buf, '_')
		default:
			buf = append(buf, c)
		}
	}
	data, err := base64.RawURLEncoding.DecodeString(string(buf[:len(buf)/4*4]))
	if err != nil {
		return false
	}
	for _, b := range data {
		switch b {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}
