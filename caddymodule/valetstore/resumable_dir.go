package valetstore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tus/tusd/v2/pkg/filestore"
	tusd "github.com/tus/tusd/v2/pkg/handler"
)

// dirBackend keeps resumable uploads in a directory (TusBackend): an
// upload is the file <dir>/<id> with its <id>.info, finished by moving it
// into the root like a PUT.
type dirBackend struct {
	dir   string
	store filestore.FileStore
	site  *Store
}

// UseIn puts tusd's file store in the composer.
func (b *dirBackend) UseIn(c *tusd.StoreComposer) { b.store.UseIn(c) }

// NewID is UploadID: the id follows from the token and the path.
func (b *dirBackend) NewID(jti, rel string) string { return UploadID(jti, rel) }

// Find is the same id; the data store then tells whether it exists.
func (b *dirBackend) Find(_ context.Context, jti, rel string) (string, bool) {
	return UploadID(jti, rel), true
}

// Check judges the destination with the checks of a PUT.
func (b *dirBackend) Check(_ context.Context, rel string, overwrite bool) (Reason, error) {
	return b.site.precheck(target{rel: rel, parts: strings.Split(rel, "/")}, conditions{overwrite: overwrite})
}

// Finish places the data file like a PUT.
func (b *dirBackend) Finish(_ context.Context, up tusd.FileInfo, rel string, overwrite bool) (string, Reason, error) {
	o := b.site.placeFile(up.Storage[filestore.StorageKeyPath], target{rel: rel, parts: strings.Split(rel, "/")}, conditions{overwrite: overwrite})
	return o.etag, o.reason, o.err
}

// LastWrite is the newer of the data and the info file.
func (b *dirBackend) LastWrite(_ context.Context, id string) (time.Time, bool) {
	var last time.Time
	found := false
	for _, p := range []string{filepath.Join(b.dir, id), filepath.Join(b.dir, id+".info")} {
		if fi, err := os.Stat(p); err == nil {
			found = true
			if fi.ModTime().After(last) {
				last = fi.ModTime()
			}
		}
	}
	return last, found
}

// Terminate removes the data and the info file.
func (b *dirBackend) Terminate(ctx context.Context, id string) error {
	up, err := b.store.GetUpload(ctx, id)
	if err != nil {
		// the info file without its data (a crash mid-completion)
		os.Remove(filepath.Join(b.dir, id+".info"))
		return nil
	}
	return b.store.AsTerminatableUpload(up).Terminate(ctx)
}

// Unfinished lists every .info file; data whose info
// file was never written (a crash at creation) is removed when stale.
func (b *dirBackend) Unfinished(_ context.Context, staleBefore time.Time) ([]string, error) {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".info")
		if ok {
			ids = append(ids, id)
			continue
		}
		if _, err := os.Stat(filepath.Join(b.dir, e.Name()+".info")); errors.Is(err, fs.ErrNotExist) {
			if last, found := b.LastWrite(context.Background(), e.Name()); found && last.Before(staleBefore) {
				os.Remove(filepath.Join(b.dir, e.Name()))
			}
		}
	}
	return ids, nil
}

var _ TusBackend = (*dirBackend)(nil)
