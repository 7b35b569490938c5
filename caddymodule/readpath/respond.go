package readpath

import (
	"bytes"
	"io"
	"net/http"
	"os"
)

// respond answers a GET or HEAD with a file's content: e.data, or the open
// file when it is too big to cache. A request with a Range or a
// precondition, or a writer already set to encode, goes through
// http.ServeContent, as file_server's does; a plain request gets the same
// status, headers and body written directly.
//
// A file is copied with io.Copy rather than ServeContent's io.CopyN: Caddy's
// idle-timeout writer wraps the reader it is given in an io.LimitedReader,
// and the net package finds the file for sendfile(2) under one
// LimitedReader but not under two, so CopyN's own wrapper makes every
// response a user-space copy through a fresh 32 KiB buffer. The
// Content-Length sent is the size fstat gave; a file that grows meanwhile
// gets its connection closed after the response, as Go's server does for
// any body longer than declared.
func respond(w http.ResponseWriter, r *http.Request, e *entry, file *os.File) error {
	h := w.Header()
	if conditional(r.Header) || h["Content-Encoding"] != nil {
		if file != nil {
			return serveContent(w, r, e, file)
		}
		return serveContent(w, r, e, bytes.NewReader(e.data))
	}
	vals := make([]string, 6) // one allocation for all the header values
	vals[0], vals[1], vals[2], vals[3], vals[4] = "Accept-Encoding", e.etag, "bytes", e.contentLength, e.contentType
	h["Vary"] = append(h["Vary"], vals[0])
	if e.etag != "" {
		h["Etag"] = vals[1:2:2]
	}
	if v := h["Content-Type"]; len(v) == 0 || v[0] == "" {
		if e.contentType != "" {
			h["Content-Type"] = vals[4:5:5]
		} else {
			h["Content-Type"] = nil // present and empty: no sniffing, no header
		}
	}
	if e.lastModified != "" {
		vals[5] = e.lastModified
		h["Last-Modified"] = vals[5:6:6]
	}
	h["Accept-Ranges"] = vals[2:3:3]
	h["Content-Length"] = vals[3:4:4]
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	// Like http.ServeContent, a failed write ends the response quietly.
	if file != nil {
		io.Copy(w, file)
	} else {
		w.Write(e.data)
	}
	return nil
}

// conditional reports whether a request needs http.ServeContent's
// precondition or range handling.
func conditional(h http.Header) bool {
	return h["Range"] != nil || h["If-None-Match"] != nil || h["If-Modified-Since"] != nil ||
		h["If-Match"] != nil || h["If-Unmodified-Since"] != nil
}

// serveContent answers with file_server's headers and http.ServeContent,
// from memory or from the open file.
func serveContent(w http.ResponseWriter, r *http.Request, e *entry, content io.ReadSeeker) error {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	if e.etag != "" {
		h.Set("Etag", e.etag)
	}
	if h.Get("Content-Type") == "" {
		if e.contentType == "" {
			h["Content-Type"] = nil
		} else {
			h.Set("Content-Type", e.contentType)
		}
	}
	http.ServeContent(w, r, e.name, e.modTime, content)
	return nil
}
