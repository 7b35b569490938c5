package token

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"
)

// shapeByDecoder is the walk shapeOf replaced, kept as its oracle: the same
// rules, with a json.Decoder tokenizing each member.
func shapeByDecoder(data []byte, shape map[string]kind) (map[string]bool, error) {
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

// FuzzShape holds shapeOf to the decoder-based walk: the same verdict and,
// when both accept, the same member names, for header and claim shapes.
// Its seed {}} is the one case where they differ by design.
func FuzzShape(f *testing.F) {
	for _, seed := range []string{
		`{"alg":"HS256","kid":"hs1","typ":"JWT"}`,
		`{"exp":1700000000,"jti":"0123456789abcdef","p":["/a/"],"m":["GET"],"aud":"x","rsp":{"cd":"inline"}}`,
		`{"exp":1,"exp":2}`, `{"EXP":1}`, `{"p":[]}`, `{"p":[null]}`, `{"jti":"\ud800"}`, `{"p":"\u0070"}`,
		`{"\u0070":["/"],"p":["/"]}`, `{"uses":-1}`, `{"maxb":0}`, `{"exp":1e3}`, `{"ow":null}`, ` { } `, `[]`,
		`{"a":{"b":[1,{"c":"}"}]},"https":true}`, `{"jti":"a\"b"}`, `{"aud":["a","b"]}`, `{"crit":["x"]}`, `{} x`,
	} {
		f.Add([]byte(seed))
	}
	var many strings.Builder // past the 32 members a list is indexed
	for i := range 40 {
		fmt.Fprintf(&many, `,"m%d":%d`, i, i)
	}
	f.Add([]byte(`{"jti":"x"` + many.String() + `}`))
	f.Add([]byte(`{"jti":"x"` + many.String() + `,"m3":0}`))
	f.Add([]byte(`{"jti":"x"` + many.String() + `,"JTI":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, shape := range []map[string]kind{headerShape, claimShape} {
			got, gotErr := shapeOf(data, shape, nil)
			want, wantErr := shapeByDecoder(data, shape)
			// The decoder walk let text after the object through when it
			// closes a bracket ("{}}"); shapeOf refuses anything json.Valid
			// refuses (JWT libraries refuse it too). Otherwise they agree.
			if (gotErr == nil) != (wantErr == nil) && (gotErr == nil || json.Valid(data)) {
				t.Fatalf("%q: shapeOf err %v, decoder err %v", data, gotErr, wantErr)
			}
			names := map[string]bool{}
			for _, x := range got.list {
				names[x.name] = true
			}
			if gotErr == nil && (!maps.Equal(names, want) || len(names) != len(got.list)) {
				t.Fatalf("%q: names %v, decoder %v", data, got, want)
			}
		}
	})
}
