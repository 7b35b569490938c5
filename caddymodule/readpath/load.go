package readpath

import (
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/confine"
)

// open opens filename (the site root joined with the path) through fsys,
// the gate's confined file system, or the operating system's when there is
// none, as file_server would: the one place the read path opens a file.
func open(fsys *confine.FS, filename string) (*os.File, error) {
	if fsys == nil {
		return os.Open(filename)
	}
	return fsys.OpenFile(filename)
}

// load reads a file that is not cached (or no longer fresh): it answers
// from the opened file, and caches it when it is small and quiet. What is
// not a regular file (directories, with their index files and redirects),
// hidden files and unexpected errors go to file_server.
func (f *Files) load(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, k key, fsys *confine.FS) error {
	filename := caddyhttp.SanitizedPathJoin(k.root, k.path)
	if fileHidden(filename, f.Hide) {
		f.stats.pass.Inc()
		return f.FileServer.ServeHTTP(w, r, next)
	}
	file, err := open(fsys, filename)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		if f.PassThru {
			return next.ServeHTTP(w, r)
		}
		return caddyhttp.Error(http.StatusNotFound, nil)
	case errors.Is(err, fs.ErrPermission):
		return caddyhttp.Error(http.StatusForbidden, err)
	default:
		f.stats.pass.Inc()
		return f.FileServer.ServeHTTP(w, r, next)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.stats.pass.Inc()
		return f.FileServer.ServeHTTP(w, r, next)
	}
	id, _ := idOfInfo(fi)
	e := newEntry(filename, fi, id)
	if fi.Size() > f.MaxFileSize {
		f.stats.stream.Inc()
		return respond(w, r, e, file)
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(file, data); err != nil {
		f.stats.pass.Inc() // changed under us: let file_server answer
		return f.FileServer.ServeHTTP(w, r, next)
	}
	e.data = data
	f.stats.miss.Inc()
	if after, err := file.Stat(); err == nil {
		if id2, _ := idOfInfo(after); id2 == id && time.Now().UnixNano()-id.changedAt() >= int64(racyWindow) {
			e.checked.Store(time.Now().UnixNano())
			f.cacheWatched(k, e)
		}
	}
	return respond(w, r, e, nil)
}

// cacheWatched caches e, watched when the watcher can vouch for it: its
// watches stand, the path still names the file read (a stat after the
// watches, so any later change is reported), and no event was counted
// since the watches stood (one could be this file's, its drop done before
// the put). Otherwise e is revalidated by stat like any entry.
func (f *Files) cacheWatched(k key, e *entry) {
	w := f.watcher
	if w == nil {
		f.cache.put(k, e, nil)
		return
	}
	seen, err := w.watch(e.filename)
	ok := err == nil
	if ok {
		id, err := statID(e.filename)
		ok = err == nil && id == e.id
	}
	f.cache.put(k, e, func() bool { return ok && w.seen() == seen })
	if err != nil && w.firstRefusal() {
		f.logger.Info("valet_files: watch cannot vouch for a cached file, which is revalidated by stat instead (logged once per site)",
			zap.String("file", e.filename), zap.String("why", err.Error()))
	}
}

// newEntry computes the headers file_server sends for a file, named by its
// absolute path (what the watcher reports).
func newEntry(filename string, fi os.FileInfo, id fileID) *entry {
	if abs, err := filepath.Abs(filename); err == nil {
		filename = abs
	}
	e := &entry{filename: filename, id: id, name: fi.Name()}
	if mt := fi.ModTime(); usefulModTime(mt) {
		e.modTime = mt
		e.etag = `"` + strconv.FormatInt(mt.UnixNano(), 36) + "-" + strconv.FormatInt(fi.Size(), 36) + `"`
		e.lastModified = mt.UTC().Format(http.TimeFormat)
	}
	e.contentType = mime.TypeByExtension(filepath.Ext(filename))
	e.contentLength = strconv.FormatInt(fi.Size(), 10)
	return e
}

// usefulModTime is file_server's rule: the epoch and the second after it
// are no modification time (neither ETag nor Last-Modified is sent).
func usefulModTime(t time.Time) bool {
	s := t.Unix()
	return s != 0 && s != 1
}

// fileHidden is file_server's hide rule (unexported there): a hide entry
// without a separator hides every path component it matches as a glob; one
// with a separator hides that path and everything below it, or what it
// matches as a glob. filename is the site root joined with the path.
func fileHidden(filename string, hide []string) bool {
	if len(hide) == 0 {
		return false
	}
	if abs, err := caddy.FastAbs(filename); err == nil {
		filename = abs
	}
	const sep = string(filepath.Separator)
	var components []string
	for _, h := range hide {
		if !strings.Contains(h, sep) {
			if components == nil {
				components = strings.Split(filename, sep)
			}
			for _, c := range components {
				if hidden, _ := filepath.Match(h, c); hidden {
					return true
				}
			}
		} else if rest, ok := strings.CutPrefix(filename, h); ok && strings.HasPrefix(rest, sep) {
			return true
		}
		if hidden, _ := filepath.Match(h, filename); hidden {
			return true
		}
	}
	return false
}
