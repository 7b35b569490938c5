package s3

import (
	"fmt"
	"strings"

	"github.com/aws/smithy-go/aws-http-auth/credentials"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Access is how the gateway reaches a bucket: which bucket, where in it,
// and with which credentials. The s3 transport and valet_s3_resumable
// embed it, so one site configures both the same way (its fields appear
// at the top level of either's JSON).
type Access struct {
	// Bucket is the name of the bucket. Required.
	Bucket string `json:"bucket,omitempty"`

	// Region is the region the bucket lives in, part of every signature.
	// Default: us-east-1.
	Region string `json:"region,omitempty"`

	// Addressing is "path" (https://endpoint/bucket/key, the default) or
	// "virtual" (https://bucket.endpoint/key).
	Addressing string `json:"addressing,omitempty"`

	// Prefix is a key prefix inside the bucket: the request path /a/b.txt
	// maps to the key Prefix + "a/b.txt". A trailing slash is added when
	// missing, so a client can never reach a sibling prefix.
	Prefix string `json:"prefix,omitempty"`

	// AccessKeyID is the access key the gateway signs with. Placeholders
	// such as {env.S3_ACCESS_KEY} or {file./run/secrets/key} are resolved
	// at provision time. Default: the AWS_ACCESS_KEY_ID environment variable.
	AccessKeyID string `json:"access_key_id,omitempty"`

	// SecretAccessKey is the secret of the access key, with the same
	// placeholders. Default: the AWS_SECRET_ACCESS_KEY environment variable.
	SecretAccessKey string `json:"secret_access_key,omitempty"`

	// SessionToken is the session token of temporary credentials, sent as
	// X-Amz-Security-Token. Default: AWS_SESSION_TOKEN when the access key
	// also came from the environment.
	SessionToken string `json:"session_token,omitempty"`
}

// provision sets the defaults and resolves the credentials.
func (a *Access) provision() (credentials.Credentials, error) {
	if a.Region == "" {
		a.Region = "us-east-1"
	}
	a.Prefix = keyPrefix(a.Prefix)
	return resolveCredentials(a.AccessKeyID, a.SecretAccessKey, a.SessionToken)
}

func (a *Access) virtual() bool { return a.Addressing == "virtual" }

// validate checks the bucket name, the addressing and the prefix.
func (a *Access) validate() error {
	if err := validBucket(a.Bucket); err != nil {
		return err
	}
	switch a.Addressing {
	case "", "path", "virtual":
	default:
		return fmt.Errorf("addressing must be path or virtual, not %q", a.Addressing)
	}
	return validPrefix(a.Prefix)
}

// keyPrefix is a configured prefix as keys start with it: without leading
// slashes, with one trailing slash, so a client never reaches a sibling.
func keyPrefix(p string) string {
	if p = strings.Trim(p, "/"); p != "" {
		return p + "/"
	}
	return ""
}

func validPrefix(p string) error {
	if p != "" {
		if _, ok := judgedPath("/" + p); !ok {
			return fmt.Errorf("prefix %q must be a clean key prefix (no dot segments, //, %% or control characters)", p)
		}
	}
	return nil
}

// option is the field a Caddyfile option of Access sets, or nil.
func (a *Access) option(name string) *string {
	return map[string]*string{
		"bucket": &a.Bucket, "region": &a.Region, "addressing": &a.Addressing, "prefix": &a.Prefix,
		"access_key_id": &a.AccessKeyID, "secret_access_key": &a.SecretAccessKey, "session_token": &a.SessionToken,
	}[name]
}

// stringOption reads the one argument of the option name into target,
// refusing an option given twice.
func stringOption(d *caddyfile.Dispenser, module, name string, target *string) error {
	if *target != "" {
		return d.Errf("%s option '%s' given twice", module, name)
	}
	if !d.NextArg() {
		return d.ArgErr()
	}
	*target = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}
