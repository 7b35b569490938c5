package valetstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/tus/tusd/v2/pkg/filestore"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"go.uber.org/zap"
)

// Resumable turns on resumable uploads (the tus 1.0 protocol: core,
// creation, creation-with-upload, creation-defer-length, termination and
// expiration) in valet_store. github.com/tus/tusd/v2 speaks the protocol
// and keeps the unfinished bytes; valet_store binds each upload to the
// token that started it and places the finished file like a PUT.
//
// A request carrying a Tus-Resumable header is a tus request. POST to the
// destination (or to a directory, naming the file in the Upload-Metadata
// key filename) creates an upload; the upload's URL is the destination's
// own URL, and only a token with the same jti can HEAD, PATCH or DELETE it
// there. docs/uploads.md is the contract.
type Resumable struct {
	// Dir holds the unfinished uploads (data and a small .info file each).
	// It must be outside the root, so nothing partial is ever served or
	// written through the store, and should be on the root's file system,
	// so a finished upload moves into place instead of being copied.
	// Gateways sharing a root share this directory too. Default: a folder
	// per root under Caddy's data directory.
	Dir string `json:"dir,omitempty"`

	// Expire is how long an unfinished upload lives after its last write
	// (creation or PATCH). Past it the upload is refused as not found and
	// removed by a sweep that runs every Expire/4 (at most every 10m), so an
	// abandoned upload is gone at most Expire plus one sweep interval after
	// its last byte. Default: 24h.
	Expire caddy.Duration `json:"expire,omitempty"`

	// Redis, when set, holds the uploads' locks in Redis, so gateways that
	// share Dir continue each other's uploads (see RedisLocker). Without it
	// the locks live in this process: one gateway per Dir.
	Redis *RedisLocker `json:"redis,omitempty"`

	tus    *Tus
	logger *zap.Logger
}

// provision builds the tus handler around the file store and the locker.
func (rs *Resumable) provision(ctx caddy.Context, s *Store) error {
	rs.logger = s.logger.Named("resumable")
	dir := caddy.NewReplacer().ReplaceKnown(rs.Dir, "")
	if dir == "" {
		sum := sha256.Sum256([]byte(s.Root))
		dir = filepath.Join(caddy.AppDataDir(), "valet-tus", hex.EncodeToString(sum[:8]))
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if inside(resolved(s.Root), resolved(dir)) {
		return fmt.Errorf("resumable dir %s must be outside the root %s", dir, s.Root)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("resumable dir: %w", err)
	}
	if inside(resolved(s.Root), resolved(dir)) { // a link made it so
		return fmt.Errorf("resumable dir %s must be outside the root %s", dir, s.Root)
	}
	rs.Dir = dir
	var locker tusd.Locker = memorylocker.New()
	if rs.Redis != nil {
		locker = rs.Redis.Locker(rs.logger)
	}
	rs.tus, err = NewTus(TusConfig{
		Backend:      &dirBackend{dir: dir, store: filestore.New(dir), site: s},
		Locker:       locker,
		Expire:       time.Duration(rs.Expire),
		MaxBytes:     s.MaxBytes,
		ContentTypes: s.ContentTypes,
		NoOverwrite:  s.NoOverwrite,
		Logger:       rs.logger,
	})
	return err
}

func (rs *Resumable) validate() error {
	if rs.Expire < 0 {
		return fmt.Errorf("resumable expire must not be negative")
	}
	if rs.Redis != nil {
		return rs.Redis.Validate()
	}
	return nil
}

func (rs *Resumable) cleanup() {
	rs.tus.Close()
	if rs.Redis != nil {
		rs.Redis.Close()
	}
}

// resolved is p with its symbolic links resolved, as far as it exists.
func resolved(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// inside reports whether dir is root or below it.
func inside(root, dir string) bool {
	root, err := filepath.Abs(root)
	if err != nil {
		return true
	}
	rel, err := filepath.Rel(root, dir)
	return err != nil || rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)))
}

// UploadID names the upload a token (by its jti) makes at a path: the same
// on every gateway, different for any other token or path, and never
// guessable into a valid request, since using it needs the token anyway.
func UploadID(jti, rel string) string {
	sum := sha256.Sum256([]byte("valet-tus\x00" + jti + "\x00" + rel))
	return hex.EncodeToString(sum[:16])
}
