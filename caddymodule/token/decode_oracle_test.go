package token

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzDecodeClaims holds decodeClaims to encoding/json: for every payload
// shapeOf accepts, the claims it builds are the ones json.Unmarshal builds
// (the decoder golang-jwt uses).
func FuzzDecodeClaims(f *testing.F) {
	for _, seed := range []string{
		`{"exp":1700000000,"nbf":1,"iat":0,"jti":"0123456789abcdef","p":["/a/","/b.txt"],"m":["GET","PUT"]}`,
		`{"aud":"x","iss":"i","sub":"s","grp":"g","uses":3,"maxb":9007199254740991,"https":true,"ow":false}`,
		`{"aud":[],"ip":["10.0.0.0/8"],"ctypes":["image/png"],"origins":["https://a.example"]}`,
		`{"aud":["a","b"],"rsp":{"cd":"inline","ct":"text/plain","cc":"no-store"}}`,
		`{"rsp":{"CD":"a","cd":"b","x":"y"},"other":[1,{"p":2}]}`,
		`{"jti":"a\"b\u00e9\/","p":["\u002fa"],"m" : [ "GET" ] , "exp" : 5 }`,
		`{}`, ` {"https":false} `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := shapeOf(data, claimShape, nil)
		if err != nil {
			return
		}
		got, err := decodeClaims(m)
		var want Claims
		wantErr := json.Unmarshal(data, &want)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%q: decodeClaims err %v, json.Unmarshal err %v", data, err, wantErr)
		}
		if err != nil {
			return
		}
		// The dates point into the claims' own storage; compare what they say.
		g := *got
		g.ExpiresAt, g.NotBefore, g.IssuedAt = detach(g.ExpiresAt), detach(g.NotBefore), detach(g.IssuedAt)
		g.dates = [3]jwt.NumericDate{}
		if !reflect.DeepEqual(g, want) {
			t.Fatalf("%q:\n decodeClaims %+v\n json.Unmarshal %+v", data, *got, want)
		}
	})
}

// detach copies a date out of the storage it points into.
func detach(d *jwt.NumericDate) *jwt.NumericDate {
	if d == nil {
		return nil
	}
	c := *d
	return &c
}
