package valetstore

import (
	"context"
	"fmt"
	"net/http"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"
	"go.uber.org/zap"
)

// TusBackend is where resumable uploads keep their bytes until they are
// finished: a directory (valet_store's resumable) or an S3 bucket
// (valet_s3_resumable). Tus holds everything else, the same for every
// backend: the grant (destination, limits, the binding to the jti), the
// protocol answers, locks and expiry.
//
// Paths are relative to the store ("a/b.txt"), already judged by
// targetOf. Ids are tus upload ids, as tusd routes and locks by them.
type TusBackend interface {
	// UseIn puts the tusd data store (core, termination, deferred length)
	// in the composer.
	UseIn(composer *tusd.StoreComposer)
	// NewID is the id a creation by the token jti at rel gets.
	NewID(jti, rel string) string
	// Find is the id of the upload the token jti started at rel, if any
	// may exist; Tus reads its state through the data store.
	Find(ctx context.Context, jti, rel string) (id string, found bool)
	// Check judges the destination before an upload is created: without
	// overwrite an existing file is Exists; any other Reason refuses too.
	Check(ctx context.Context, rel string, overwrite bool) (Reason, error)
	// Finish puts a finished upload at rel, judging overwrite again at
	// that moment, and returns the stored file's ETag. Tus terminates the
	// upload afterwards whatever the outcome.
	Finish(ctx context.Context, up tusd.FileInfo, rel string, overwrite bool) (etag string, reason Reason, err error)
	// Terminate removes an upload's bytes and state, never a finished
	// file at its destination; the caller holds the upload's lock.
	Terminate(ctx context.Context, id string) error
	// LastWrite is when the upload was last written; found is false when
	// it has no state any more.
	LastWrite(ctx context.Context, id string) (last time.Time, found bool)
	// Unfinished lists the ids of the uploads that have state, removing
	// leftovers without it (a crash mid-creation) last written before
	// staleBefore.
	Unfinished(ctx context.Context, staleBefore time.Time) ([]string, error)
}

// TusConfig is what a store hands Tus: its backend and its site limits.
type TusConfig struct {
	Backend      TusBackend
	Locker       tusd.Locker
	Expire       time.Duration // after the last write; 0: DefaultExpire
	MaxBytes     int64         // the site's own limit; 0: none
	ContentTypes []string      // the site's own list; none: any
	NoOverwrite  bool          // the site never replaces files
	Logger       *zap.Logger
}

// Tus serves the tus 1.0 requests of one store (core, creation,
// creation-with-upload, creation-defer-length, termination, expiration):
// tusd speaks the protocol, Tus binds each upload to the token that
// started it and judges it under the grant's limits. docs/uploads.md is
// the contract.
type Tus struct {
	cfg    TusConfig
	core   tusd.DataStore
	post   http.Handler
	head   http.Handler
	patch  http.Handler
	del    http.Handler
	stop   chan struct{}
	logger *zap.Logger
}

// DefaultExpire is how long an unfinished upload lives after its last write.
const DefaultExpire = 24 * time.Hour

// NewTus builds the tus handler around the backend and starts its sweep;
// Close stops it.
func NewTus(cfg TusConfig) (*Tus, error) {
	if cfg.Expire == 0 {
		cfg.Expire = DefaultExpire
	}
	t := &Tus{cfg: cfg, logger: cfg.Logger}
	composer := tusd.NewStoreComposer()
	cfg.Backend.UseIn(composer)
	composer.UseLocker(cfg.Locker)
	t.core = composer.Core
	h, err := tusd.NewUnroutedHandler(tusd.Config{
		StoreComposer:             composer,
		BasePath:                  "/",
		DisableDownload:           true,
		DisableConcatenation:      true,
		Cors:                      &tusd.CorsConfig{Disable: true},
		PreUploadCreateCallback:   t.creating,
		PreFinishResponseCallback: t.finished,
		Logger:                    errorLogger(t.logger),
	})
	if err != nil {
		return nil, fmt.Errorf("resumable: %w", err)
	}
	t.post = h.Middleware(http.HandlerFunc(h.PostFile))
	t.head = h.Middleware(http.HandlerFunc(h.HeadFile))
	t.patch = h.Middleware(http.HandlerFunc(h.PatchFile))
	t.del = h.Middleware(http.HandlerFunc(h.DelFile))
	t.stop = make(chan struct{})
	go t.sweep(t.stop)
	return t, nil
}

// Close stops the sweep.
func (t *Tus) Close() {
	if t != nil && t.stop != nil {
		close(t.stop)
		t.stop = nil
	}
}

func (t *Tus) expired(ctx context.Context, id string, now time.Time) bool {
	last, found := t.cfg.Backend.LastWrite(ctx, id)
	return found && now.Sub(last) > t.cfg.Expire
}

// info reads an upload's state; found is false when there is none.
func (t *Tus) info(ctx context.Context, id string) (tusd.FileInfo, bool) {
	up, err := t.core.GetUpload(ctx, id)
	if err != nil {
		return tusd.FileInfo{}, false
	}
	info, err := up.GetInfo(ctx)
	return info, err == nil
}

// discard removes an upload under its lock.
func (t *Tus) discard(ctx context.Context, id string) error {
	lock, err := t.cfg.Locker.NewLock(id)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := lock.Lock(ctx, func() {}); err != nil {
		return err
	}
	defer lock.Unlock()
	return t.cfg.Backend.Terminate(ctx, id)
}

// sweep removes expired uploads every Expire/4 (at least every second, at
// most every 10 minutes) until stop is closed.
func (t *Tus) sweep(stop <-chan struct{}) {
	every := min(max(t.cfg.Expire/4, time.Second), 10*time.Minute)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			t.sweepOnce(now)
		}
	}
}

func (t *Tus) sweepOnce(now time.Time) {
	ctx := context.Background()
	ids, err := t.cfg.Backend.Unfinished(ctx, now.Add(-t.cfg.Expire))
	if err != nil {
		t.logger.Error("listing unfinished uploads", zap.Error(err))
		return
	}
	for _, id := range ids {
		if !t.expired(ctx, id, now) {
			continue
		}
		if err := t.discard(ctx, id); err != nil {
			t.logger.Error("removing an expired upload", zap.String("upload", id), zap.Error(err))
			continue
		}
		t.logger.Info("removed an expired upload", zap.String("upload", id))
	}
}
