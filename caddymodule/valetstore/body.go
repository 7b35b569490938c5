package valetstore

import (
	"errors"
	"io"
	"net/http"
	"sync"
)

// body is the request body as it arrives: it counts the bytes, feeds the
// checksums, and remembers a read error (the client went away).
type body struct {
	r    io.Reader
	n    int64
	sums []checksum
	err  error
}

func newBody(r io.Reader, sums []checksum) *body { return &body{r: r, sums: sums} }

func (b *body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	for _, c := range b.sums {
		c.h.Write(p[:n])
	}
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// bufPool holds copy buffers, so memory stays flat whatever the upload size
// and however many run at once.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// copyBody streams src into dst, counting against max (0: no limit) on the
// stream itself, so neither a lying Content-Length nor a chunked body can
// pass it. It tells the client's failures (too large, gone mid-body) from
// the disk's (full, or another error).
func copyBody(dst io.Writer, src io.Reader, max int64) (Reason, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var total int64
	for {
		n, rerr := src.Read(buf)
		total += int64(n)
		if max > 0 && total > max {
			return TooLarge, nil
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return fsReason(err), err
			}
		}
		switch {
		case rerr == io.EOF:
			return "", nil
		case rerr != nil:
			var tooBig *http.MaxBytesError // a request_body limit in front of us
			if errors.As(rerr, &tooBig) {
				return TooLarge, rerr
			}
			return IncompleteBody, rerr
		}
	}
}
