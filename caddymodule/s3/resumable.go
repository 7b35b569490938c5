package s3

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"github.com/tus/tusd/v2/pkg/s3store"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/valetstore"
)

func init() {
	caddy.RegisterModule(Resumable{})
}

// Resumable is the Caddy handler http.handlers.valet_s3_resumable: tus 1.0
// resumable uploads into an S3 bucket, as S3 multipart uploads. It sits
// behind the valet gate and before reverse_proxy with the s3 transport,
// handles the tus requests (POST, HEAD, PATCH, DELETE with a Tus-Resumable
// header) and passes every other request on.
//
// The grant is valet_store's (docs/uploads.md): an upload is bound to the
// token's jti and its destination, judged under maxb, ctypes and ow. The
// multipart upload is completed directly into the destination key, so
// nothing partial is ever visible there; the upload's state (tusd's .info
// and .part objects) lives in the bucket under <prefix>.valet-tus/, which
// the s3 transport never lets a client reach, so gateways sharing the
// bucket (and a Redis for the locks) continue each other's uploads.
type Resumable struct {
	// Access names the bucket, the key prefix and the credentials, as for
	// the s3 transport: give both the same bucket and prefix.
	Access

	// Endpoint is the store's URL with scheme, such as
	// http://127.0.0.1:7070 or https://s3.eu-west-1.amazonaws.com (this
	// handler talks to the store itself, not through reverse_proxy).
	// Default: AWS's endpoint for the region.
	Endpoint string `json:"endpoint,omitempty"`

	// Expire is how long an unfinished upload lives after its last write.
	// Past it the upload is refused as not found, its multipart upload is
	// aborted and its state removed by a sweep that runs every Expire/4 (at
	// most every 10m). Default: 24h.
	Expire caddy.Duration `json:"expire,omitempty"`

	// MaxBytes caps the size of an upload; the token's maxb may lower it.
	// 0 means no limit of the site's own.
	MaxBytes int64 `json:"max_bytes,omitempty"`

	// TempDir holds the parts of a PATCH on their way to the bucket
	// (tusd buffers each part on disk before sending it). Keep it outside
	// anything served. Default: valet-tus-s3 in Caddy's data directory.
	TempDir string `json:"temp_dir,omitempty"`

	// Redis, when set, holds the uploads' locks in Redis (valet_store's
	// resumable redis block), so gateways sharing the bucket continue each
	// other's uploads. Without it the locks live in this process.
	Redis *valetstore.RedisLocker `json:"redis,omitempty"`

	client *s3.Client
	http   *http.Transport
	keys   tusKeys
	tus    *valetstore.Tus
	logger *zap.Logger
}

// Part sizes: S3's minimum part is 5 MiB; parts of 8 MiB keep a PATCH's
// buffered parts on disk small while a 10000-part upload still reaches
// 78 GiB before tusd grows the part size.
const (
	minPartSize       = 5 << 20
	preferredPartSize = 8 << 20
	bufferedParts     = 4
)

// CaddyModule returns the Caddy module information.
func (Resumable) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.valet_s3_resumable",
		New: func() caddy.Module { return new(Resumable) },
	}
}

// Provision connects to the bucket and builds the tus handler.
func (h *Resumable) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	creds, err := h.Access.provision()
	h.keys = tusKeys{prefix: h.Prefix}
	if err != nil {
		return fmt.Errorf("valet_s3_resumable: %w", err)
	}
	h.http = http.DefaultTransport.(*http.Transport).Clone()
	opts := s3.Options{
		Region:       h.Region,
		UsePathStyle: !h.virtual(),
		Credentials:  awscreds.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken),
		HTTPClient:   &http.Client{Transport: h.http},
		// Checksums only where S3 requires them (DeleteObjects): not every
		// S3-compatible store takes the SDK's default CRC trailers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if h.Endpoint != "" {
		opts.BaseEndpoint = aws.String(h.Endpoint)
	}
	h.client = s3.New(opts)

	dir := caddy.NewReplacer().ReplaceKnown(h.TempDir, "")
	if dir == "" {
		dir = filepath.Join(caddy.AppDataDir(), "valet-tus-s3")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("valet_s3_resumable: temp_dir: %w", err)
	}
	store := s3store.New(h.Bucket, &bucketView{S3API: h.client, keys: h.keys})
	store.ObjectPrefix = h.keys.objects()
	store.MetadataObjectPrefix = h.keys.state()
	store.MinPartSize, store.PreferredPartSize, store.MaxBufferedParts = minPartSize, preferredPartSize, bufferedParts
	store.TemporaryDirectory = dir

	var locker tusd.Locker = memorylocker.New()
	if h.Redis != nil {
		locker = h.Redis.Locker(h.logger)
	}
	h.tus, err = valetstore.NewTus(valetstore.TusConfig{
		Backend:  &bucketBackend{client: h.client, store: store, bucket: h.Bucket, keys: h.keys},
		Locker:   locker,
		Expire:   time.Duration(h.Expire),
		MaxBytes: h.MaxBytes,
		Logger:   h.logger,
	})
	if err != nil {
		return fmt.Errorf("valet_s3_resumable: %w", err)
	}
	return nil
}

// Validate checks the configuration.
func (h *Resumable) Validate() error {
	if err := h.Access.validate(); err != nil {
		return fmt.Errorf("valet_s3_resumable: %w", err)
	}
	if h.Endpoint != "" {
		u, err := url.Parse(h.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("valet_s3_resumable: endpoint %q must be a URL like https://host[:port], without a path", h.Endpoint)
		}
	}
	if h.Expire < 0 || h.MaxBytes < 0 {
		return fmt.Errorf("valet_s3_resumable: expire and max_bytes must not be negative")
	}
	if h.Redis != nil {
		return h.Redis.Validate()
	}
	return nil
}

// Cleanup stops the sweep, the Redis client and idle connections.
func (h *Resumable) Cleanup() error {
	h.tus.Close()
	if h.Redis != nil {
		h.Redis.Close()
	}
	if h.http != nil {
		h.http.CloseIdleConnections()
	}
	return nil
}

// ServeHTTP runs a tus request and passes any other on.
func (h *Resumable) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !valetstore.IsTus(r) {
		return next.ServeHTTP(w, r)
	}
	h.tus.ServeHTTP(w, r)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Resumable)(nil)
	_ caddy.Validator             = (*Resumable)(nil)
	_ caddy.CleanerUpper          = (*Resumable)(nil)
	_ caddyhttp.MiddlewareHandler = (*Resumable)(nil)
)
