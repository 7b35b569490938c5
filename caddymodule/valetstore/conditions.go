package valetstore

import (
	"io/fs"
	"net/http"
	"strconv"
	"strings"
)

// etag is the entity tag of a stored file, computed exactly as Caddy's
// file_server does (modification time and size), so the ETag an upload
// answers with is the one a download of the same version shows, and a
// client can pass either back in If-Match.
func etag(fi fs.FileInfo) string {
	return `"` + strconv.FormatInt(fi.ModTime().UnixNano(), 36) + "-" +
		strconv.FormatInt(fi.Size(), 36) + `"`
}

// conditions are the preconditions of one write, read from its headers.
type conditions struct {
	ifMatch     string // raw If-Match, "" when absent
	ifNoneMatch string // raw If-None-Match, "" when absent
	overwrite   bool   // the grant (and site) allow replacing a file
}

func conditionsOf(r *http.Request, l limits) conditions {
	return conditions{
		ifMatch:     r.Header.Get("If-Match"),
		ifNoneMatch: r.Header.Get("If-None-Match"),
		overwrite:   l.overwrite,
	}
}

// mustBeNew reports whether the write may only create: then it commits with
// a hard link, which the kernel refuses atomically if the name exists.
func (c conditions) mustBeNew() bool {
	return !c.overwrite || strings.TrimSpace(c.ifNoneMatch) == "*"
}

// check judges the preconditions against the current file (nil: absent).
// It runs once before the body is read, to fail fast, and again under the
// commit lock, where it decides.
func (c conditions) check(current fs.FileInfo) Reason {
	tag := ""
	if current != nil {
		tag = etag(current)
	}
	if c.ifMatch != "" && (current == nil || !matches(c.ifMatch, tag)) {
		return ConditionFailed
	}
	if c.ifNoneMatch != "" && current != nil && matches(c.ifNoneMatch, tag) {
		return ConditionFailed
	}
	if current != nil && !c.overwrite {
		return Exists
	}
	return ""
}

// matches compares an If-Match / If-None-Match list with a current tag,
// strongly: "*" matches any file, a weak tag never matches.
func matches(list, tag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || (t == tag && tag != "") {
			return true
		}
	}
	return false
}

// precheck judges the path and the preconditions before a body is read, so
// a doomed upload fails fast; the commit judges them again and decides.
func (s *Store) precheck(t target, cond conditions) (Reason, error) {
	current, _, reason, err := s.inspect(t)
	if reason == "" {
		reason = cond.check(current)
	}
	return reason, err
}
