package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// claimNames are the claims this package reads, spelled as the spec does.
var claimNames = []string{"exp", "nbf", "iat", "jti", "aud", "iss", "sub",
	"p", "m", "ip", "https", "maxb", "ctypes", "ow", "grp", "uses", "origins", "rsp"}

// checkClaimNames refuses a payload that other JWT libraries could read
// differently from Go: a member named twice (which one wins differs), or
// a name that matches one of ours only when case is ignored ("P" for "p":
// Go's decoder would take it, others would not). Other names are ignored.
func checkClaimNames(payload string) error {
	data, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("payload is not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		name := t.(string)
		if seen[name] {
			return fmt.Errorf("claim %q appears twice", name)
		}
		seen[name] = true
		for _, ours := range claimNames {
			if name != ours && strings.EqualFold(name, ours) {
				return fmt.Errorf("claim %q must be spelled %q", name, ours)
			}
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}
