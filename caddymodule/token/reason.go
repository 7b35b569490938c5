package token

import "net/http"

// Reason is a short, machine-readable word for a decision. The empty Reason
// means "allowed". Each reason has one HTTP status; the gateway sends the
// reason in the Valet-Reason header and body, logs it and counts it.
type Reason string

// The decisions a gateway can reach. The set is closed: clients and
// dashboards may rely on these words.
const (
	Allowed Reason = ""

	// 400: the request itself cannot be judged.
	AmbiguousPath  Reason = "ambiguous_path"
	AmbiguousQuery Reason = "ambiguous_query"
	DuplicateToken Reason = "duplicate_token"

	// 401: no usable token.
	MissingToken     Reason = "missing_token"
	MalformedToken   Reason = "malformed_token"
	BadSignature     Reason = "bad_signature"
	UnknownKey       Reason = "unknown_key"
	AlgMismatch      Reason = "alg_mismatch"
	Expired          Reason = "expired"
	NotYetValid      Reason = "not_yet_valid"
	TTLTooLong       Reason = "ttl_too_long"
	AudienceMismatch Reason = "audience_mismatch"
	Revoked          Reason = "revoked"
	UsesExhausted    Reason = "uses_exhausted"

	// 403: a valid token that does not cover this request.
	OutOfScope       Reason = "out_of_scope"
	MethodNotAllowed Reason = "method_not_allowed"
	IPNotAllowed     Reason = "ip_not_allowed"
	HTTPSRequired    Reason = "https_required"
	OriginNotAllowed Reason = "origin_not_allowed"
	// The token counts its uses (uses) and this gateway has no revocation
	// store to count them in.
	UsesUnsupported Reason = "uses_unsupported"
	// The file is reached through a symbolic link the site's symlinks
	// policy does not follow (reading), or through any link (writing).
	Symlink Reason = "symlink"

	// 503: the gateway cannot tell whether the token was revoked.
	RevocationUnavailable Reason = "revocation_unavailable"
)

// Status is the HTTP status a gateway answers with for the reason.
// An expired token gets 401, not 410: the resource is still there, the key
// is what no longer opens it, and clients treat 401 as "fetch a new key".
func (r Reason) Status() int {
	switch r {
	case Allowed:
		return http.StatusOK
	case AmbiguousPath, AmbiguousQuery, DuplicateToken:
		return http.StatusBadRequest
	case OutOfScope, MethodNotAllowed, IPNotAllowed, HTTPSRequired, OriginNotAllowed, UsesUnsupported, Symlink:
		return http.StatusForbidden
	case RevocationUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusUnauthorized
	}
}

// Error makes a Reason usable as an error value.
func (r Reason) Error() string { return string(r) }

// Reasons lists every deny reason, for metrics and documentation.
var Reasons = []Reason{
	AmbiguousPath, AmbiguousQuery, DuplicateToken, MissingToken, MalformedToken, BadSignature,
	UnknownKey, AlgMismatch, Expired, NotYetValid, TTLTooLong, AudienceMismatch,
	Revoked, UsesExhausted, OutOfScope, MethodNotAllowed, IPNotAllowed,
	HTTPSRequired, OriginNotAllowed, UsesUnsupported, Symlink, RevocationUnavailable,
}
