package valetstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
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

	store  filestore.FileStore
	locker tusd.Locker
	post   http.Handler
	head   http.Handler
	patch  http.Handler
	del    http.Handler
	stop   chan struct{}
	expire time.Duration
	logger *zap.Logger
}

// DefaultExpire is how long an unfinished upload lives after its last write.
const DefaultExpire = 24 * time.Hour

// provision builds the tus handler around the file store and the locker.
func (rs *Resumable) provision(ctx caddy.Context, s *Store) error {
	rs.logger = s.logger.Named("resumable")
	rs.expire = time.Duration(rs.Expire)
	if rs.expire == 0 {
		rs.expire = DefaultExpire
	}
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
	rs.store = filestore.New(dir)
	composer := tusd.NewStoreComposer()
	rs.store.UseIn(composer)
	if rs.Redis != nil {
		rs.locker = rs.Redis.provision(rs.logger)
	} else {
		rs.locker = memorylocker.New()
	}
	composer.UseLocker(rs.locker)
	h, err := tusd.NewUnroutedHandler(tusd.Config{
		StoreComposer:             composer,
		BasePath:                  "/",
		DisableDownload:           true,
		DisableConcatenation:      true,
		Cors:                      &tusd.CorsConfig{Disable: true},
		PreUploadCreateCallback:   s.tusCreating,
		PreFinishResponseCallback: s.tusFinished,
		Logger:                    errorLogger(rs.logger),
	})
	if err != nil {
		return fmt.Errorf("resumable: %w", err)
	}
	rs.post = h.Middleware(http.HandlerFunc(h.PostFile))
	rs.head = h.Middleware(http.HandlerFunc(h.HeadFile))
	rs.patch = h.Middleware(http.HandlerFunc(h.PatchFile))
	rs.del = h.Middleware(http.HandlerFunc(h.DelFile))
	rs.stop = make(chan struct{})
	go rs.sweep(rs.stop)
	return nil
}

func (rs *Resumable) validate() error {
	if rs.Expire < 0 {
		return fmt.Errorf("resumable expire must not be negative")
	}
	if rs.Redis != nil {
		return rs.Redis.validate()
	}
	return nil
}

func (rs *Resumable) cleanup() {
	if rs.stop != nil {
		close(rs.stop)
	}
	if rs.Redis != nil {
		rs.Redis.cleanup()
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

// uploadID names the upload a token (by its jti) makes at a path: the same
// on every gateway, different for any other token or path, and never
// guessable into a valid request, since using it needs the token anyway.
func uploadID(jti, rel string) string {
	sum := sha256.Sum256([]byte("valet-tus\x00" + jti + "\x00" + rel))
	return hex.EncodeToString(sum[:16])
}

// lastWrite is when an upload was last written: its data or its info file.
func (rs *Resumable) lastWrite(id string) (time.Time, bool) {
	var last time.Time
	found := false
	for _, p := range []string{filepath.Join(rs.Dir, id), filepath.Join(rs.Dir, id+".info")} {
		if fi, err := os.Stat(p); err == nil {
			found = true
			if fi.ModTime().After(last) {
				last = fi.ModTime()
			}
		}
	}
	return last, found
}

func (rs *Resumable) expired(id string, now time.Time) bool {
	last, found := rs.lastWrite(id)
	return found && now.Sub(last) > rs.expire
}

// discard removes an upload under its lock: its data and its info file.
func (rs *Resumable) discard(ctx context.Context, id string) error {
	lock, err := rs.locker.NewLock(id)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := lock.Lock(ctx, func() {}); err != nil {
		return err
	}
	defer lock.Unlock()
	return rs.terminate(ctx, id)
}

// terminate removes an upload; the caller holds its lock.
func (rs *Resumable) terminate(ctx context.Context, id string) error {
	up, err := rs.store.GetUpload(ctx, id)
	if err != nil {
		// the info file without its data (a crash mid-completion)
		os.Remove(filepath.Join(rs.Dir, id+".info"))
		return nil
	}
	return rs.store.AsTerminatableUpload(up).Terminate(ctx)
}

// sweep removes expired uploads until stop is closed.
func (rs *Resumable) sweep(stop <-chan struct{}) {
	every := min(max(rs.expire/4, time.Second), 10*time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			rs.sweepOnce(now)
		}
	}
}

func (rs *Resumable) sweepOnce(now time.Time) {
	entries, err := os.ReadDir(rs.Dir)
	if err != nil {
		rs.logger.Error("listing unfinished uploads", zap.Error(err))
		return
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".info")
		if !ok {
			// data whose info file was never written (a crash at creation)
			if _, err := os.Stat(filepath.Join(rs.Dir, e.Name()+".info")); errors.Is(err, fs.ErrNotExist) && rs.expired(e.Name(), now) {
				os.Remove(filepath.Join(rs.Dir, e.Name()))
			}
			continue
		}
		if !rs.expired(id, now) {
			continue
		}
		if err := rs.discard(context.Background(), id); err != nil {
			rs.logger.Error("removing an expired upload", zap.String("upload", id), zap.Error(err))
			continue
		}
		rs.logger.Info("removed an expired upload", zap.String("upload", id))
	}
}
