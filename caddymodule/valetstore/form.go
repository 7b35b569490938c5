package valetstore

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
)

// FormOverhead bounds what a multipart form may carry besides the file:
// boundaries, part headers and other fields. It is counted on the stream
// like the file, so the whole body is bounded by max_bytes plus this.
const FormOverhead = 64 << 10

// post stores the file field of a multipart/form-data POST at t, under the
// same rules as a PUT: the part's declared type is the upload's type, the
// part's bytes count against the size limit, the checksum headers cover the
// request body as sent. A plain HTML form with the token in its action URL
// can upload this way.
func (s *Store) post(r *http.Request, t target, l limits) outcome {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return outcome{reason: UnsupportedType}
	}
	if l.maxBytes > 0 && r.ContentLength > l.maxBytes+FormOverhead {
		return outcome{reason: TooLarge}
	}
	sums, reason := checksums(r.Header)
	if reason != "" {
		return outcome{reason: reason}
	}
	cond := conditionsOf(r, l)
	// Fail fast on the path and preconditions, before reading the body.
	if current, _, reason, err := s.inspect(t); reason != "" || cond.check(current) != "" {
		if reason == "" {
			reason = cond.check(current)
		}
		return outcome{reason: reason, err: err}
	}

	raw := newBody(r.Body, sums)
	f := form{mr: multipart.NewReader(raw, params["boundary"]), raw: raw}
	var u *upload
	fail := func(reason Reason, err error) outcome {
		if u != nil {
			u.abort()
		}
		return outcome{reason: reason, err: err}
	}
	for {
		part, reason, err := f.next()
		if reason != "" {
			return fail(reason, err)
		}
		if part == nil {
			break
		}
		if part.FormName() != s.FormField {
			if reason, err := f.skip(part); reason != "" {
				return fail(reason, err)
			}
			continue
		}
		if u != nil {
			return fail(BadForm, nil) // two files for one path
		}
		if !l.allowsType(part.Header.Values("Content-Type")) {
			return fail(UnsupportedType, nil)
		}
		var o outcome
		if u, o = s.begin(t, cond); u == nil {
			return o
		}
		if reason, err := copyBody(u.f, part, l.maxBytes); reason != "" {
			if reason == IncompleteBody { // the part ended without its boundary
				reason = f.blame(BadForm)
			}
			return fail(reason, err)
		}
	}
	if u == nil {
		return fail(BadForm, nil)
	}
	// the epilogue after the closing boundary, so the checksums see it all
	if reason, err := copyBody(io.Discard, raw, FormOverhead); reason != "" {
		return fail(f.blame(reason), err)
	}
	if !verify(sums) {
		return fail(ChecksumMismatch, nil)
	}
	return u.commit()
}

// form reads the parts of a multipart body within FormOverhead.
type form struct {
	mr       *multipart.Reader
	raw      *body
	overhead int64
}

// next returns the next part, or nil at the closing boundary.
func (f *form) next() (*multipart.Part, Reason, error) {
	before := f.raw.n
	part, err := f.mr.NextPart()
	f.overhead += f.raw.n - before // boundaries and headers, roughly
	switch {
	case errors.Is(err, io.EOF):
		return nil, "", nil
	case err != nil:
		return nil, f.blame(BadForm), err
	case f.overhead > FormOverhead:
		return nil, TooLarge, nil
	}
	return part, "", nil
}

// skip reads a field that is not the file, counting it as overhead.
func (f *form) skip(part *multipart.Part) (Reason, error) {
	n, err := io.Copy(io.Discard, io.LimitReader(part, FormOverhead-f.overhead+1))
	f.overhead += n
	switch {
	case err != nil:
		return f.blame(BadForm), err
	case f.overhead > FormOverhead:
		return TooLarge, nil
	}
	return "", nil
}

// blame tells a client that went away from a malformed form: the multipart
// reader reports both as a read error, but only the first breaks the raw
// body.
func (f *form) blame(reason Reason) Reason {
	if f.raw.err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(f.raw.err, &tooBig) {
			return TooLarge
		}
		return IncompleteBody
	}
	return reason
}
