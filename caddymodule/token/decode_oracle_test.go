package token

import (
	"encoding/json"
	"reflect"
	"testing"
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
		if err == nil && !reflect.DeepEqual(*got, want) {
			t.Fatalf("%q:\n decodeClaims %+v\n json.Unmarshal %+v", data, *got, want)
		}
	})
}
