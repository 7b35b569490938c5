package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestPromisedWriterCopiesSmallBodies: a small body handed to ReadFrom (as
// file_server's io.CopyN hands a file) arrives whole and exact, a range of
// it too, a file shorter than promised sends what it has, and a large body
// still goes down the writer chain's own ReadFrom.
func TestPromisedWriterCopiesSmallBodies(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80 000 bytes
	name := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(name, content, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		offset, n int64
		want      []byte
		delegated bool
	}{
		{"small file", 0, 4096, content[:4096], false},
		{"range", 70_000, 100, content[70_000:70_100], false},
		{"shorter than promised", 79_000, 2000, content[79_000:], false},
		{"large", 0, 80_000, content, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			f.Seek(c.offset, io.SeekStart)
			rec := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
			pw := (&Handler{}).promiseHeaders(rec, httptest.NewRequest("GET", "/", nil), nil, carried{}).(*promisedWriter)
			n, err := pw.ReadFrom(&io.LimitedReader{R: f, N: c.n})
			if err != nil || n != int64(len(c.want)) || !bytes.Equal(rec.Body.Bytes(), c.want) {
				t.Fatalf("n=%d err=%v body %d bytes, want %d bytes", n, err, rec.Body.Len(), len(c.want))
			}
			if rec.readFrom != c.delegated {
				t.Fatalf("went down the chain's ReadFrom: %v, want %v", rec.readFrom, c.delegated)
			}
			if rec.Header().Get("Referrer-Policy") != referrerPolicy {
				t.Fatal("the promised header is missing")
			}
		})
	}
}

// TestPromisedWriterSmallBodyAllocations: a small body costs no buffer of
// its own (the pooled one is reused); the LimitedReader is the caller's.
func TestPromisedWriterSmallBodyAllocations(t *testing.T) {
	body := bytes.NewReader(bytes.Repeat([]byte("x"), 4096))
	w := discardResponse{h: http.Header{}}
	pw := (&Handler{}).promiseHeaders(w, httptest.NewRequest("GET", "/", nil), nil, carried{}).(*promisedWriter)
	lr := &io.LimitedReader{}
	allocs := testing.AllocsPerRun(100, func() {
		body.Seek(0, io.SeekStart)
		*lr = io.LimitedReader{R: body, N: 4096}
		if n, err := pw.ReadFrom(lr); n != 4096 || err != nil {
			t.Fatal(n, err)
		}
	})
	if allocs > 0 {
		t.Fatalf("%v allocations per small body, want none", allocs)
	}
}

// readFromRecorder records whether its ReadFrom was used.
type readFromRecorder struct {
	*httptest.ResponseRecorder
	readFrom bool
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.readFrom = true
	return io.Copy(r.ResponseRecorder, src)
}

// discardResponse is a ResponseWriter that keeps nothing but its header.
type discardResponse struct{ h http.Header }

func (d discardResponse) Header() http.Header         { return d.h }
func (d discardResponse) Write(b []byte) (int, error) { return len(b), nil }
func (d discardResponse) WriteHeader(int)             {}
