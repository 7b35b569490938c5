package valetstore

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzCopyBody fuzzes the upload limit reader:
//
//	go test -run '^$' -fuzz '^FuzzCopyBody$' -fuzztime 10s ./caddymodule/valetstore
//
// The body arrives in fuzzer-chosen chunk sizes, may break off with an
// error, and may sit behind an http.MaxBytesReader (a request_body limit).
// Whatever the chunking: a body over max is too_large and never more than
// max bytes reach the file; a complete body within every limit is written
// exactly; a broken one is incomplete_body, and nothing else is reported.
func FuzzCopyBody(f *testing.F) {
	f.Add([]byte("hello"), int64(5), []byte{1}, false, int64(0))
	f.Add([]byte("hello!"), int64(5), []byte{3, 3}, false, int64(0))
	f.Add([]byte("hello"), int64(0), []byte{}, true, int64(0))
	f.Add(bytes.Repeat([]byte("x"), 300<<10), int64(200<<10), []byte{255, 0, 7}, false, int64(0))
	f.Add([]byte("0123456789"), int64(20), []byte{2}, false, int64(4))
	f.Add([]byte("0123456789"), int64(4), []byte{0, 0, 9}, true, int64(6))
	f.Fuzz(func(t *testing.T, data []byte, max int64, chunks []byte, breaks bool, outer int64) {
		if max < 0 || outer < 0 {
			return
		}
		var src io.Reader = &chunky{data: data, sizes: chunks, breaks: breaks}
		if outer > 0 {
			src = http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(src), outer)
		}
		var dst bytes.Buffer
		reason, err := copyBody(&dst, src, max)

		sent := int64(len(data)) // what actually arrives
		if breaks && sent > 0 {
			sent--
		}
		overMax := max > 0 && sent > max
		overOuter := outer > 0 && sent > outer
		if max > 0 && int64(dst.Len()) > max {
			t.Fatalf("%d bytes reached the file with max_bytes %d", dst.Len(), max)
		}
		if !bytes.HasPrefix(data, dst.Bytes()) {
			t.Fatal("the file holds bytes the client did not send in that order")
		}
		switch reason {
		case "":
			if err != nil || overMax || overOuter || breaks || !bytes.Equal(dst.Bytes(), data) {
				t.Fatalf("accepted: err %v, over max %v, over outer %v, broken %v, wrote %d of %d", err, overMax, overOuter, breaks, dst.Len(), len(data))
			}
		case TooLarge:
			var tooBig *http.MaxBytesError
			if !overMax && !(overOuter && errors.As(err, &tooBig)) {
				t.Fatalf("too_large for %d bytes, max %d, outer %d, err %v", len(data), max, outer, err)
			}
		case IncompleteBody:
			if !breaks || !errors.Is(err, errClientGone) {
				t.Fatalf("incomplete_body for a body that did not break: %v", err)
			}
		default:
			t.Fatalf("unexpected reason %q (%v)", reason, err)
		}
	})
}

var errClientGone = errors.New("client went away")

// chunky hands out data in the given chunk sizes (cycling, at least one
// byte, as a network reader does), then io.EOF or, when breaks, an error
// in place of the last byte.
type chunky struct {
	data   []byte
	sizes  []byte
	i      int
	breaks bool
}

func (c *chunky) Read(p []byte) (int, error) {
	if len(c.data) == 0 || (c.breaks && len(c.data) == 1) {
		if c.breaks {
			return 0, errClientGone
		}
		return 0, io.EOF
	}
	n := min(len(p), len(c.data))
	if c.breaks {
		n = min(n, len(c.data)-1)
	}
	if len(c.sizes) > 0 {
		n = min(n, max(1, int(c.sizes[c.i%len(c.sizes)])))
		c.i++
	}
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}
