package s3

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func s3Answer(status int, body string) *http.Response {
	return &http.Response{
		StatusCode: status,
		Header:     http.Header{"Content-Type": {"application/xml"}},
		Body:       io.NopCloser(strings.NewReader(body)),
	}
}

func TestMapError(t *testing.T) {
	tr := testTransport(false)
	get := proxied("GET", "/k", "", nil)
	head := proxied("HEAD", "/k", "", nil)
	doc := func(code string) string {
		return `<?xml version="1.0"?><Error><Code>` + code + `</Code><Message>The canonical request was
GET /photos/tenant/k AKIDSECRET</Message><StringToSign>x</StringToSign></Error>`
	}
	for name, c := range map[string]struct {
		r        *http.Request
		upstream *http.Response
		want     int
	}{
		"no such key":      {get, s3Answer(404, doc("NoSuchKey")), 404},
		"precondition":     {get, s3Answer(412, doc("PreconditionFailed")), 412},
		"range":            {get, s3Answer(416, doc("InvalidRange")), 416},
		"signature":        {get, s3Answer(403, doc("SignatureDoesNotMatch")), 502},
		"access denied":    {get, s3Answer(403, doc("AccessDenied")), 502},
		"no such bucket":   {get, s3Answer(404, doc("NoSuchBucket")), 502},
		"wrong region":     {get, s3Answer(301, doc("PermanentRedirect")), 502},
		"unknown 400":      {get, s3Answer(400, doc("InvalidArgument")), 502},
		"internal":         {get, s3Answer(500, doc("InternalError")), 502},
		"head 404":         {head, s3Answer(404, ""), 404},
		"head 403":         {head, s3Answer(403, ""), 502},
		"not xml 404 body": {get, s3Answer(404, "nope"), 404},
	} {
		res := tr.mapError(c.r, c.r, c.upstream)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d", name, res.StatusCode, c.want)
		}
		if strings.Contains(string(body), "AKID") || strings.Contains(string(body), "<") {
			t.Errorf("%s: S3's error document leaked: %q", name, body)
		}
	}
}

func TestCleanHeaders(t *testing.T) {
	h := http.Header{
		"Server":           {"VERSITYGW"},
		"X-Amz-Request-Id": {"A", "A"}, // versitygw sends it twice, in two spellings
		"X-Amz-Meta-Owner": {"alice"},
		"Set-Cookie":       {"x=1"},
		"Etag":             {`"e"`},
		"Content-Range":    {"bytes 0-1/2"},
	}
	cleanHeaders(h)
	if len(h) != 2 || h.Get("Etag") == "" || h.Get("Content-Range") == "" {
		t.Errorf("after cleaning: %v", h)
	}
}
