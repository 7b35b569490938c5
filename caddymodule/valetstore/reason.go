package valetstore

import (
	"net/http"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// Reason is a short, machine-readable word for why the store refused a
// write. It travels like the gate's token.Reason: in the Valet-Reason header
// and as the body. These are the store's own refusals; a refusal that is
// about the token itself uses token.Reason.
type Reason string

// The store's refusals. The set is closed: clients may rely on these words.
const (
	TooLarge         Reason = "too_large"         // 413: the body passed max_bytes
	UnsupportedType  Reason = "unsupported_type"  // 415: content type not allowed
	Exists           Reason = "exists"            // 412: file exists and overwrite is not granted
	ConditionFailed  Reason = "condition_failed"  // 412: If-Match or If-None-Match failed
	BadChecksum      Reason = "bad_checksum"      // 400: unreadable Content-MD5 or digest header
	ChecksumMismatch Reason = "checksum_mismatch" // 400: the body does not match its checksum
	BadForm          Reason = "bad_form"          // 400: malformed multipart form or no file field
	IncompleteBody   Reason = "incomplete_body"   // 400: the client stopped sending mid-body
	NotAFile         Reason = "not_a_file"        // 409: a directory, or a file where a directory must be
	ReservedName     Reason = "reserved_name"     // 403: a name the store uses for its own files
	NotFound         Reason = "not_found"         // 404: nothing to delete
	StorageFull      Reason = "storage_full"      // 507: the disk or quota is full
	Ungated          Reason = "ungated"           // 500: no verified grant; the gate is not in front
	StoreError       Reason = "store_error"       // 500: an unexpected file system error

	// AmbiguousPath is the gate's word, reused: the path (rewritten after
	// the gate) is not one token.CanonicalPath accepts.
	AmbiguousPath = Reason(token.AmbiguousPath)
	// OutOfScope is the gate's word, reused: a resumable upload's filename
	// leads outside the token's scopes.
	OutOfScope = Reason(token.OutOfScope)
	// Symlink is the gate's word too (403): the path goes through a
	// symbolic link. Reads refuse the links the site's policy does not
	// follow; writes refuse every link.
	Symlink = Reason(token.Symlink)
)

// Reasons lists every store refusal, for documentation and tests.
var Reasons = []Reason{
	TooLarge, UnsupportedType, Exists, ConditionFailed, BadChecksum,
	ChecksumMismatch, BadForm, IncompleteBody, NotAFile, ReservedName, NotFound,
	StorageFull, Ungated, StoreError,
}

// Status is the HTTP status the store answers with for the reason.
func (r Reason) Status() int {
	switch r {
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case UnsupportedType:
		return http.StatusUnsupportedMediaType
	case Exists, ConditionFailed:
		return http.StatusPreconditionFailed
	case BadChecksum, ChecksumMismatch, BadForm, IncompleteBody, AmbiguousPath:
		return http.StatusBadRequest
	case NotAFile:
		return http.StatusConflict
	case Symlink, ReservedName, OutOfScope:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case StorageFull:
		return http.StatusInsufficientStorage
	default:
		return http.StatusInternalServerError
	}
}

// Error makes a Reason usable as an error value.
func (r Reason) Error() string { return string(r) }

// ReasonHeader is the response header carrying a refusal's reason; the gate
// uses the same header for token.Reason.
const ReasonHeader = "Valet-Reason"

// refuse answers a request with a reason, the same shape as the gate's
// denials: status, Valet-Reason header, the reason as the body.
func refuse(w http.ResponseWriter, status int, reason string) {
	h := w.Header()
	h.Set(ReasonHeader, reason)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("ETag")
	w.WriteHeader(status)
	w.Write([]byte(reason + "\n"))
}
