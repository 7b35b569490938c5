// Package s3 provides a reverse_proxy transport that fronts a private
// S3-compatible bucket: it maps the request path to an object key, signs
// the upstream request with AWS SigV4 and never lets a client choose
// anything the gateway's credentials could do beyond plain object access.
package s3

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/aws/smithy-go/aws-http-auth/credentials"
	"github.com/aws/smithy-go/aws-http-auth/sigv4"
	v4 "github.com/aws/smithy-go/aws-http-auth/v4"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Transport{})
}

// Transport is a reverse_proxy transport for a private S3-compatible
// bucket. The request path (as the valet gate judged it) becomes the object
// key below Prefix; the upstream request is rebuilt from scratch, signed
// with SigV4 and sent through Caddy's HTTP transport. Bodies stream in both
// directions (UNSIGNED-PAYLOAD), so uploads need a Content-Length.
//
// Only plain object GET, HEAD, PUT and DELETE reach the bucket, plus a
// prefix listing (ListObjectsV2, rendered as JSON) when Listing is on.
type Transport struct {
	// Access names the bucket, the key prefix and the credentials.
	Access

	// Endpoint is the host name (with an optional port) the store expects
	// in the Host header, such as s3.eu-west-1.amazonaws.com. Default: the
	// upstream address reverse_proxy dials, without a default port.
	Endpoint string `json:"endpoint,omitempty"`

	// Listing lets a GET on a path ending in "/" list the objects and
	// sub-prefixes directly below it, as JSON. Behind the valet gate the
	// token must cover that path. Off by default.
	Listing bool `json:"listing,omitempty"`

	// HTTP configures the underlying HTTP transport (TLS, timeouts, dial
	// options), as reverse_proxy's http transport. Response compression is
	// off unless set here, so objects arrive byte for byte.
	HTTP *reverseproxy.HTTPTransport `json:"http,omitempty"`

	creds  credentials.Credentials
	signer *sigv4.Signer
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Transport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.transport.s3",
		New: func() caddy.Module { return new(Transport) },
	}
}

// Provision resolves credentials and sets up the HTTP transport.
func (t *Transport) Provision(ctx caddy.Context) error {
	t.logger = ctx.Logger()
	creds, err := t.Access.provision()
	if err != nil {
		return err
	}
	t.creds = creds
	t.signer = newSigner()
	if t.HTTP == nil {
		t.HTTP = new(reverseproxy.HTTPTransport)
	}
	if t.HTTP.Compression == nil {
		off := false
		t.HTTP.Compression = &off
	}
	if err := t.HTTP.Provision(ctx); err != nil {
		return fmt.Errorf("provisioning s3 transport's http transport: %w", err)
	}
	return nil
}

// newSigner returns a SigV4 signer configured for S3.
func newSigner() *sigv4.Signer {
	return sigv4.New(func(o *v4.SignerOptions) {
		o.DisableDoublePathEscape = true // the key is escaped once, the S3 way
		o.AddPayloadHashHeader = true    // S3 requires X-Amz-Content-Sha256
		o.DisableImplicitPayloadHashing = true
	})
}

// resolveCredentials expands placeholders in the configured credentials,
// falling back to the standard AWS environment variables.
func resolveCredentials(accessKey, secret, session string) (credentials.Credentials, error) {
	repl := caddy.NewReplacer()
	resolve := func(name, value, env string) (string, error) {
		if value == "" {
			return os.Getenv(env), nil
		}
		v, err := repl.ReplaceOrErr(value, true, true)
		if err != nil {
			return "", fmt.Errorf("s3 transport: %s: %w", name, err)
		}
		return v, nil
	}
	var c credentials.Credentials
	var err error
	if c.AccessKeyID, err = resolve("access_key_id", accessKey, "AWS_ACCESS_KEY_ID"); err != nil {
		return c, err
	}
	if c.SecretAccessKey, err = resolve("secret_access_key", secret, "AWS_SECRET_ACCESS_KEY"); err != nil {
		return c, err
	}
	// A session token belongs to the key it came with: take it from the
	// environment only when the key did too.
	sessionEnv := "AWS_SESSION_TOKEN"
	if accessKey != "" {
		sessionEnv = ""
	}
	if session != "" || sessionEnv != "" {
		if c.SessionToken, err = resolve("session_token", session, sessionEnv); err != nil {
			return c, err
		}
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return c, fmt.Errorf("s3 transport: no credentials: set access_key_id and secret_access_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	return c, nil
}

// Validate checks the configuration.
func (t *Transport) Validate() error {
	if err := t.Access.validate(); err != nil {
		return fmt.Errorf("s3 transport: %w", err)
	}
	if strings.ContainsAny(t.Endpoint, "/@ ") {
		return fmt.Errorf("s3 transport: endpoint %q must be a host name with an optional port, without scheme or path", t.Endpoint)
	}
	return nil
}

// validBucket applies S3's bucket naming rules, which also keep the name
// safe in a Host header and a path segment.
func validBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("bucket name %q may hold only a-z, 0-9, '-' and '.'", b)
		}
	}
	if b[0] == '-' || b[0] == '.' || b[len(b)-1] == '-' || b[len(b)-1] == '.' || strings.Contains(b, "..") {
		return fmt.Errorf("bucket name %q must start and end with a letter or digit", b)
	}
	return nil
}

// Cleanup closes idle upstream connections.
func (t *Transport) Cleanup() error {
	if t.HTTP == nil {
		return nil
	}
	return t.HTTP.Cleanup()
}

// TLSEnabled reports whether the upstream is reached over TLS.
func (t *Transport) TLSEnabled() bool {
	return t.HTTP != nil && t.HTTP.TLSEnabled()
}

// EnableTLS turns on TLS to the upstream (reverse_proxy https://...).
func (t *Transport) EnableTLS(base *reverseproxy.TLSConfig) error {
	if t.HTTP == nil {
		t.HTTP = new(reverseproxy.HTTPTransport)
	}
	return t.HTTP.EnableTLS(base)
}

// Interface guards
var (
	_ caddy.Provisioner         = (*Transport)(nil)
	_ caddy.Validator           = (*Transport)(nil)
	_ caddy.CleanerUpper        = (*Transport)(nil)
	_ http.RoundTripper         = (*Transport)(nil)
	_ reverseproxy.TLSTransport = (*Transport)(nil)
)
