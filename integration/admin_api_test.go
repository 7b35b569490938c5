package integration

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAdminAPIStrictJSON: a revocation is exactly one JSON object; a body
// with anything after it, or an unknown member, is refused and stores
// nothing.
func TestAdminAPIStrictJSON(t *testing.T) {
	g := startRevGateway(t, newKeys(t), fileRoot(t), "bolt")
	post := func(body string) (int, string) {
		resp, err := revClient.Post("http://"+g.AdminAddr+"/valet/revocations", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, body := range []string{
		`{"kind":"jti","id":"strict-json-jti-0001"} garbage`,
		`{"kind":"jti","id":"strict-json-jti-0002"}{"kind":"jti","id":"strict-json-jti-0003"}`,
		`{"kind":"jti","id":"strict-json-jti-0004","extra":1}`,
	} {
		if st, answer := post(body); st != http.StatusBadRequest {
			t.Errorf("%s: %d %s", body, st, answer)
		}
	}
	var list []map[string]any
	if st := g.admin(t, http.MethodGet, "", nil, &list); st != http.StatusOK || len(list) != 0 {
		t.Fatalf("refused bodies stored something: %d %v", st, list)
	}
	if st, answer := post(`{"kind":"jti","id":"strict-json-jti-0005"}` + "\n"); st != http.StatusOK {
		t.Fatalf("one object and a newline: %d %s", st, answer)
	}
}
