package valetstore

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/http"
	"strings"
)

// A checksum is one digest the client announced for the request body.
type checksum struct {
	want []byte
	h    hash.Hash
}

// checksums reads the integrity headers a client may send: Content-MD5
// (RFC 1864), Content-Digest and Repr-Digest (RFC 9530) and the older
// Digest (RFC 3230), each as SHA-256 (MD5 only for Content-MD5). They cover
// the body as sent. A header that is present but unreadable, or names no
// algorithm we verify, is refused: a client that asks for a check must get
// one, never silent acceptance.
func checksums(h http.Header) ([]checksum, Reason) {
	var out []checksum
	for _, v := range h.Values("Content-MD5") {
		sum, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil || len(sum) != md5.Size {
			return nil, BadChecksum
		}
		out = append(out, checksum{want: sum, h: md5.New()})
	}
	for _, name := range []string{"Content-Digest", "Repr-Digest"} {
		for _, v := range h.Values(name) {
			sum, reason := sfDigest(v)
			if reason != "" {
				return nil, reason
			}
			out = append(out, checksum{want: sum, h: sha256.New()})
		}
	}
	for _, v := range h.Values("Digest") {
		sum, reason := legacyDigest(v)
		if reason != "" {
			return nil, reason
		}
		out = append(out, checksum{want: sum, h: sha256.New()})
	}
	return out, ""
}

// sfDigest finds sha-256 in an RFC 9530 dictionary: sha-256=:BASE64:.
func sfDigest(v string) ([]byte, Reason) {
	for _, member := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(member), "=")
		if !ok {
			return nil, BadChecksum
		}
		if k != "sha-256" {
			continue
		}
		if len(val) < 2 || val[0] != ':' || val[len(val)-1] != ':' {
			return nil, BadChecksum
		}
		return decodeSHA256(val[1 : len(val)-1])
	}
	return nil, BadChecksum
}

// legacyDigest finds SHA-256 in an RFC 3230 list: SHA-256=BASE64.
func legacyDigest(v string) ([]byte, Reason) {
	for _, member := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(member), "=")
		if ok && strings.EqualFold(k, "sha-256") {
			return decodeSHA256(val)
		}
	}
	return nil, BadChecksum
}

func decodeSHA256(b64 string) ([]byte, Reason) {
	sum, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(sum) != sha256.Size {
		return nil, BadChecksum
	}
	return sum, ""
}

// verify reports whether every announced checksum matches what was hashed.
func verify(sums []checksum) bool {
	for _, c := range sums {
		if !bytes.Equal(c.h.Sum(nil), c.want) {
			return false
		}
	}
	return true
}
