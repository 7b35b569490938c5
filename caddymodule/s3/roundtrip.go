package s3

import (
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/valetstore"
)

// RoundTrip sends r to the bucket as a signed S3 request and turns the
// answer into one fit for the client.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	out, op, rf := t.outbound(r)
	if rf != nil {
		t.logger.Debug("refused before reaching the bucket",
			zap.String("method", r.Method), zap.Int("status", rf.status), zap.String("reason", rf.msg))
		res := textResponse(r, rf.status, rf.msg)
		if rf.reason != "" {
			res.Header.Set(valetstore.ReasonHeader, rf.reason)
		}
		return res, nil
	}
	res, err := t.HTTP.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	switch {
	case res.StatusCode >= 400 || res.StatusCode >= 300 && res.StatusCode != http.StatusNotModified:
		return t.mapError(r, out, res), nil
	case op == opList:
		return t.listing(r, out, res), nil
	}
	cleanHeaders(res.Header)
	return res, nil
}

// textResponse is an answer the gateway composes itself: a status and a
// one-line plain text body, nothing from the bucket.
func textResponse(r *http.Request, status int, msg string) *http.Response {
	body := msg + "\n"
	h := http.Header{
		"Content-Type":           {"text/plain; charset=utf-8"},
		"Content-Length":         {strconv.Itoa(len(body))},
		"X-Content-Type-Options": {"nosniff"},
	}
	if status == http.StatusMethodNotAllowed {
		h.Set("Allow", "GET, HEAD, PUT, DELETE")
	}
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}
}

// cleanHeaders drops what the bucket says about itself: its Server header
// (Caddy sets its own, and two would reach the client), request ids,
// x-amz-* metadata and anything that could set state on the gateway's
// origin.
func cleanHeaders(h http.Header) {
	for name := range h {
		lower := strings.ToLower(name)
		if lower == "server" || lower == "set-cookie" ||
			strings.HasPrefix(lower, "x-amz-") || strings.HasPrefix(lower, "x-goog-") ||
			strings.HasPrefix(lower, "x-ms-") || strings.HasPrefix(lower, "x-minio-") {
			delete(h, name)
		}
	}
}

// maxErrorBody bounds how much of an S3 error document is read.
const maxErrorBody = 64 << 10

// s3Error is the XML error document S3 answers with.
type s3Error struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// clientErrors are the S3 error codes a client's own request can cause,
// with the status the client gets. Every other error (bad signature, wrong
// credentials, missing bucket, access denied, server trouble) is the
// gateway's fault and becomes 502, logged, never shown to the client.
var clientErrors = map[string]int{
	"NoSuchKey":                  http.StatusNotFound,
	"PreconditionFailed":         http.StatusPreconditionFailed,
	"InvalidRange":               http.StatusRequestedRangeNotSatisfiable,
	"EntityTooLarge":             http.StatusRequestEntityTooLarge,
	"MissingContentLength":       http.StatusLengthRequired,
	"BadDigest":                  http.StatusBadRequest,
	"InvalidDigest":              http.StatusBadRequest,
	"IncompleteBody":             http.StatusBadRequest,
	"KeyTooLongError":            http.StatusBadRequest,
	"RequestTimeout":             http.StatusRequestTimeout,
	"ConditionalRequestConflict": http.StatusConflict,
	"InvalidContinuationToken":   http.StatusBadRequest,
	"SlowDown":                   http.StatusServiceUnavailable,
	"ServiceUnavailable":         http.StatusServiceUnavailable,
}

// Without a body (HEAD), only the status tells what happened.
var clientStatuses = map[int]bool{
	http.StatusNotFound:                     true,
	http.StatusPreconditionFailed:           true,
	http.StatusRequestedRangeNotSatisfiable: true,
}

// credentialErrors are the codes that mean the store did not accept who
// the gateway is: the log line says so plainly.
var credentialErrors = map[string]bool{
	"SignatureDoesNotMatch": true, "InvalidAccessKeyId": true, "AccessDenied": true,
	"ExpiredToken": true, "InvalidToken": true, "AuthorizationHeaderMalformed": true,
	"RequestTimeTooSkewed": true, "MissingSecurityHeader": true, "InvalidSecurity": true,
	"TokenRefreshRequired": true, "InvalidClientTokenId": true, "AccessForbidden": true,
}

// mapError turns an S3 error into a client status and a short body.
func (t *Transport) mapError(r, out *http.Request, res *http.Response) *http.Response {
	defer res.Body.Close()
	var doc s3Error
	if res.Body != nil && r.Method != http.MethodHead {
		_ = xml.NewDecoder(io.LimitReader(res.Body, maxErrorBody)).Decode(&doc)
	}
	status, known := clientErrors[doc.Code]
	if !known && doc.Code == "" && clientStatuses[res.StatusCode] {
		status, known = res.StatusCode, true
	}
	if known {
		t.logger.Debug("bucket refused the client's request",
			zap.String("method", r.Method), zap.Int("upstream_status", res.StatusCode), zap.String("code", doc.Code))
		mapped := textResponse(r, status, strings.ToLower(http.StatusText(status)))
		if status == http.StatusRequestedRangeNotSatisfiable {
			if cr := res.Header.Get("Content-Range"); cr != "" {
				mapped.Header.Set("Content-Range", cr)
			}
		}
		return mapped
	}
	msg := "S3 answered with an error the client cannot cause"
	if credentialErrors[doc.Code] || res.StatusCode == http.StatusForbidden {
		msg = "S3 refused the gateway's credentials or signature: check access key, secret, session token, region and endpoint"
	}
	t.logger.Error(msg,
		zap.String("method", r.Method),
		zap.String("bucket", t.Bucket),
		zap.String("upstream_host", out.Host),
		zap.Int("upstream_status", res.StatusCode),
		zap.String("code", doc.Code),
		zap.String("message", doc.Message))
	return textResponse(r, http.StatusBadGateway, "bad gateway")
}
