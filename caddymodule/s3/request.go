package s3

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/smithy-go/aws-http-auth/sigv4"

	"github.com/valetkey/caddy-valet/caddymodule/grant"
	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/caddymodule/valetstore"
)

// Headers a client may send on to the bucket, per operation. Everything
// else (Authorization, Cookie, x-amz-*, forwarding headers) is dropped: the
// upstream request is built from nothing but these and the signature.
var (
	readHeaders   = []string{"Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"}
	writeHeaders  = []string{"Content-Type", "Content-MD5", "If-Match", "If-None-Match"}
	deleteHeaders = []string{"If-Match"}
)

// Listing query parameters the client may use, and the ListObjectsV2
// parameter each becomes. No other query parameter is accepted, so a client
// can never reach a sub-resource (?acl, ?policy, ?delete, ?uploads...) or a
// response-* override with the gateway's rights.
var listParams = map[string]string{"cursor": "continuation-token", "limit": "max-keys"}

const maxListKeys = 1000

// operation is what the gateway asks of the bucket for one request.
type operation int

const (
	opObject operation = iota
	opList
)

// refusal is an answer the transport gives itself, without asking the bucket.
type refusal struct {
	status int
	msg    string
	reason string // for the Valet-Reason header, when it is a store reason
}

func refuse(status int, format string, args ...any) *refusal {
	return &refusal{status: status, msg: fmt.Sprintf(format, args...)}
}

// emptySHA256 is the payload hash of a request without a body.
var emptySHA256 = []byte{
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
	0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
}

// outbound builds the signed upstream request for r, or a refusal. Only
// r.URL.Path (the judged path), the method, the allow-listed headers and the
// body are taken from the client.
func (t *Transport) outbound(r *http.Request) (*http.Request, operation, *refusal) {
	path, ok := judgedPath(r.URL.Path)
	if !ok {
		return nil, 0, refuse(http.StatusBadRequest, "path is not canonical")
	}
	if reservedPath(path) {
		rf := refuse(valetstore.ReservedName.Status(), "%s", valetstore.ReservedName)
		rf.reason = string(valetstore.ReservedName)
		return nil, 0, rf
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, 0, refuse(http.StatusBadRequest, "malformed query string")
	}
	key := t.Prefix + path[1:]
	dir := strings.HasSuffix(path, "/")
	claims, _ := grant.From(r)

	out := r.WithContext(r.Context()) // shallow copy; every field that matters is set below
	out.Header = make(http.Header)
	out.Body, out.ContentLength, out.GetBody = nil, 0, nil
	out.TransferEncoding, out.Trailer, out.Close = nil, nil, false
	out.Form, out.PostForm, out.MultipartForm, out.RequestURI = nil, nil, nil, ""
	outQuery := url.Values{}
	op := opObject

	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if dir {
			if !t.Listing {
				return nil, 0, refuse(http.StatusNotFound, "listing is disabled")
			}
			op = opList
			key = "" // a listing addresses the bucket, the prefix goes in the query
			if rf := listQuery(query, t.Prefix+path[1:], outQuery); rf != nil {
				return nil, 0, rf
			}
			out.Method = http.MethodGet
			break
		}
		if rf := noQuery(query); rf != nil {
			return nil, 0, rf
		}
		copyHeaders(out.Header, r.Header, readHeaders)
	case http.MethodPut:
		if dir {
			return nil, 0, refuse(http.StatusBadRequest, "cannot upload to a path ending in /")
		}
		if rf := noQuery(query); rf != nil {
			return nil, 0, rf
		}
		if r.ContentLength < 0 {
			return nil, 0, refuse(http.StatusLengthRequired, LengthRequiredMessage)
		}
		if claims != nil && claims.MaxBytes > 0 && r.ContentLength > claims.MaxBytes {
			return nil, 0, refuse(http.StatusRequestEntityTooLarge, "upload exceeds %d bytes", claims.MaxBytes)
		}
		if claims != nil && !token.AllowsMediaType(claims.ContentTypes, r.Header.Get("Content-Type")) {
			return nil, 0, refuse(http.StatusUnsupportedMediaType, "content type not allowed by the token")
		}
		copyHeaders(out.Header, r.Header, writeHeaders)
		if claims != nil && !claims.Overwrite {
			// The token grants creating, not replacing: let the store
			// refuse an existing key (412) instead of checking first.
			out.Header.Del("If-Match")
			out.Header.Set("If-None-Match", "*")
		}
		out.Body, out.ContentLength = r.Body, r.ContentLength
		if r.ContentLength == 0 {
			out.Body = http.NoBody
		}
	case http.MethodDelete:
		if dir {
			return nil, 0, refuse(http.StatusBadRequest, "cannot delete a path ending in /")
		}
		if rf := noQuery(query); rf != nil {
			return nil, 0, rf
		}
		copyHeaders(out.Header, r.Header, deleteHeaders)
	default:
		return nil, 0, refuse(http.StatusMethodNotAllowed, "method %s is not supported", r.Method)
	}

	objectPath := "/" + key
	if !t.virtual() {
		objectPath = strings.TrimSuffix("/"+t.Bucket+objectPath, "/") // /bucket for a listing
	}
	out.URL = &url.URL{
		Scheme:   r.URL.Scheme,
		Host:     r.URL.Host, // the dial address reverse_proxy chose
		Path:     objectPath,
		RawPath:  escapeKey(objectPath),
		RawQuery: outQuery.Encode(),
	}
	t.HTTP.SetScheme(out)
	out.Host = t.Endpoint
	if out.Host == "" {
		out.Host = withoutDefaultPort(out.URL)
	}
	if t.virtual() {
		out.Host = t.Bucket + "." + out.Host
	}
	out.Header.Set("User-Agent", "caddy-valet")

	payload := emptySHA256
	if out.Body != nil && out.Body != http.NoBody {
		payload = []byte("UNSIGNED-PAYLOAD") // stream, never buffer to hash
	}
	err = t.signer.SignRequest(&sigv4.SignRequestInput{
		Request:     out,
		PayloadHash: payload,
		Credentials: t.creds,
		Service:     "s3",
		Region:      t.Region,
	})
	if err != nil {
		return nil, 0, refuse(http.StatusBadGateway, "signing failed")
	}
	return out, op, nil
}

func copyHeaders(dst, src http.Header, names []string) {
	for _, name := range names {
		if v := src.Values(name); len(v) > 0 {
			dst[name] = append([]string(nil), v...)
		}
	}
}

func noQuery(q url.Values) *refusal {
	for name := range q {
		return refuse(http.StatusBadRequest, "query parameter %q is not allowed", name)
	}
	return nil
}

// listQuery fills a ListObjectsV2 query for prefix from the client's
// listing parameters.
func listQuery(q url.Values, prefix string, out url.Values) *refusal {
	out.Set("list-type", "2")
	out.Set("delimiter", "/")
	out.Set("prefix", prefix)
	out.Set("max-keys", strconv.Itoa(maxListKeys))
	for name, values := range q {
		s3Name, ok := listParams[name]
		if !ok {
			return refuse(http.StatusBadRequest, "query parameter %q is not allowed", name)
		}
		if len(values) != 1 || values[0] == "" {
			return refuse(http.StatusBadRequest, "query parameter %q must appear once with a value", name)
		}
		if name == "limit" {
			n, err := strconv.Atoi(values[0])
			if err != nil || n < 1 || n > maxListKeys {
				return refuse(http.StatusBadRequest, "limit must be 1 to %d", maxListKeys)
			}
		}
		out.Set(s3Name, values[0])
	}
	return nil
}

// withoutDefaultPort is the upstream's host as a Host header carries it.
func withoutDefaultPort(u *url.URL) string {
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return u.Host
	}
	if port == "443" && u.Scheme == "https" || port == "80" && u.Scheme != "https" {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return u.Host
}

// LengthRequiredMessage answers a PUT without a Content-Length: S3 takes no
// unsigned body of unknown length, and the gateway does not buffer one. It
// names the way out: a resumable (tus) upload, which sends a file of any
// length in parts.
const LengthRequiredMessage = "an upload needs a Content-Length; for a body of unknown length " +
	"use a resumable (tus) upload where the site offers one (docs/uploads.md)"

// reservedPath reports whether a path has a segment starting with ".valet-",
// the names the gateway keeps for itself (a resumable upload's state lives
// under <prefix>.valet-tus/): no client reaches them, as with valet_store.
func reservedPath(path string) bool {
	return strings.Contains(path, "/"+valetstore.TempPrefix)
}
