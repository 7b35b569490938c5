package confine

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// FS is a read-only fs.FS over one scope, for a file server that names files
// the way Caddy's file_server does: the site root joined with the request
// path (filepath.Join(siteRoot, urlPath), like
// "examples/files/photos/alice/a.jpg" or "/srv/nas/photos"), not fs.ValidPath
// names. It implements fs.StatFS and fs.ReadDirFS.
//
// A name not under the site root is refused with ErrOutside (the file
// server's root is not the one the FS was made for: fail closed). A name
// under the root but outside the scope does not exist, as far as the FS
// says: a file server probing for sidecar files (precompressed copies, ETag
// files, index files) treats it as absent. Directory listings omit the links
// the policy would not follow, so a listing neither shows nor leads to them.
//
// The scope directory is opened on first use; Close releases it.
//
// Caddy registers a file system behind a wrapper that hides Stat, so
// file_server opens every file twice: fs.Stat opens, describes and closes
// it, then the file is opened again to be served. An FS therefore parks a
// regular file its caller closes and hands it to the next Open of the same
// name: one open instead of two, and the file served is the one described,
// even when another was renamed over it in between.
type FS struct {
	site   string // filepath.Clean(siteRoot)
	scope  string
	policy Policy

	once sync.Once
	dir  *Dir
	err  error

	mu     sync.Mutex
	parked *file  // closed by its caller, open until the next Open or Close
	closed bool   // since Close, until Reset
	gen    uint64 // counts Resets: a file parks only in the FS that opened it
}

// NewFS returns the FS of one scope below siteRoot under p. Nothing is opened
// until the FS is first used.
func NewFS(siteRoot, scope string, p Policy) *FS {
	return &FS{site: filepath.Clean(siteRoot), scope: scope, policy: p}
}

// Reset makes a closed FS the FS of another scope, as NewFS would, so a
// caller can keep one registered in Caddy's file system map and reuse it.
// Files the FS opened before stay usable and are closed for real when
// their caller closes them.
func (f *FS) Reset(siteRoot, scope string, p Policy) {
	f.mu.Lock()
	open := !f.closed // a pool closes it on release: no second Close
	f.mu.Unlock()
	if open {
		f.Close()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.site, f.scope, f.policy = filepath.Clean(siteRoot), scope, p
	f.once, f.dir, f.err = sync.Once{}, nil, nil
	f.closed = false
	f.gen++
}

// Close releases the scope directory, if the FS opened it, and a parked
// file. Files still open stay usable.
func (f *FS) Close() error {
	f.mu.Lock()
	parked := f.parked
	f.parked, f.closed = nil, true
	f.mu.Unlock()
	if parked != nil {
		parked.File.Close()
	}
	f.once.Do(func() { f.err = fs.ErrClosed })
	if f.dir != nil {
		return f.dir.Close()
	}
	return nil
}

// Open opens the named file or directory. A regular file comes as an
// fs.File whose Close parks it (see FS); OpenFile gives the *os.File.
func (f *FS) Open(name string) (fs.File, error) {
	d, urlPath, err := f.resolve(name)
	if err != nil {
		return nil, err
	}
	if p := f.unpark(name); p != nil {
		return p, nil
	}
	osFile, fi, err := d.open(urlPath)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return &dirFile{file: osFile, dir: d, path: urlPath}, nil
	}
	f.mu.Lock()
	gen := f.gen
	f.mu.Unlock()
	return &file{File: osFile, info: fi, fsys: f, name: name, gen: gen}, nil
}

// OpenFile opens the named regular file as an *os.File, for a caller that
// hands it to the kernel (sendfile); it is never parked.
func (f *FS) OpenFile(name string) (*os.File, error) {
	d, urlPath, err := f.resolve(name)
	if err != nil {
		return nil, err
	}
	osFile, fi, err := d.open(urlPath)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		osFile.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: errIsDir}
	}
	return osFile, nil
}

var errIsDir = errors.New("is a directory")

// unpark hands over the parked file if it has this name, rewound.
func (f *FS) unpark(name string) *file {
	f.mu.Lock()
	p := f.parked
	if p == nil || p.name != name {
		f.mu.Unlock()
		return nil
	}
	f.parked = nil
	f.mu.Unlock()
	if _, err := p.File.Seek(0, io.SeekStart); err != nil {
		p.File.Close()
		return nil
	}
	return p
}

// park keeps a file its caller closed for the next Open of its name,
// closing the one parked before; after Close nothing is parked.
func (f *FS) park(p *file) error {
	f.mu.Lock()
	if f.closed || p.gen != f.gen {
		f.mu.Unlock()
		return p.File.Close()
	}
	old := f.parked
	f.parked = p
	f.mu.Unlock()
	if old != nil {
		return old.File.Close()
	}
	return nil
}

// file is a regular file an FS opened. Stat answers from the fstat the
// open made; Close parks it in its FS.
type file struct {
	*os.File
	info fs.FileInfo
	fsys *FS
	name string
	gen  uint64
}

func (p *file) Stat() (fs.FileInfo, error) { return p.info, nil }
func (p *file) Close() error               { return p.fsys.park(p) }

// Stat describes the named file or directory.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	d, urlPath, err := f.resolve(name)
	if err != nil {
		return nil, err
	}
	return d.Stat(urlPath)
}

// ReadDir lists the named directory, sorted by name, without the links the
// policy would not follow.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	dir, ok := file.(fs.ReadDirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	entries, err := dir.ReadDir(-1)
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, err
}

// resolve maps a file server's name to the request path it stands for and
// the scope's Dir, opened on first use.
func (f *FS) resolve(name string) (*Dir, string, error) {
	urlPath, ok := f.urlPath(name)
	if !ok {
		return nil, "", &fs.PathError{Op: "open", Path: name, Err: ErrOutside}
	}
	f.once.Do(func() { f.dir, f.err = OpenDir(f.site, f.scope, f.policy) })
	if f.err != nil {
		return nil, "", f.err
	}
	if !f.dir.Covers(urlPath) {
		return nil, "", &fs.PathError{Op: "open", Path: urlPath, Err: fs.ErrNotExist}
	}
	return f.dir, urlPath, nil
}

// urlPath undoes filepath.Join(site, urlPath): "examples/files/a/b" under the
// site "examples/files" is "/a/b". Names that do not start with the site
// root are not ours.
func (f *FS) urlPath(name string) (string, bool) {
	name = filepath.ToSlash(name)
	site := filepath.ToSlash(f.site)
	var rel string
	switch {
	case site == ".":
		if name != "." {
			rel = name
		}
	case name == site:
	case strings.HasPrefix(name, site) && strings.HasSuffix(site, "/"):
		rel = name[len(site):]
	case strings.HasPrefix(name, site) && name[len(site)] == '/':
		rel = name[len(site)+1:]
	default:
		return "", false
	}
	if rel != "" && !fs.ValidPath(rel) {
		return "", false
	}
	return "/" + rel, true
}

// dirFile is an open directory whose listing leaves out the links the
// policy would not follow. It offers only what fs.ReadDirFile asks for, so
// no unfiltered listing method of *os.File is reachable through it.
type dirFile struct {
	file *os.File
	dir  *Dir
	path string // the directory's request path
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.file.Stat() }
func (d *dirFile) Close() error               { return d.file.Close() }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: errors.New("is a directory")}
}

// ReadDir reads the directory like os.File.ReadDir, without the entries
// that are links the policy would not follow.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	for {
		entries, err := d.file.ReadDir(n)
		kept := entries[:0]
		for _, e := range entries {
			if d.dir.lists(d.path, e) {
				kept = append(kept, e)
			}
		}
		if len(kept) > 0 || err != nil || n <= 0 {
			return kept, err
		}
	}
}

// lists reports whether a listing of the directory at dirPath shows e: any
// entry that is not a link; a link only when the policy would follow it to
// something that exists.
func (d *Dir) lists(dirPath string, e fs.DirEntry) bool {
	if e.Type()&fs.ModeSymlink == 0 || d.policy == Follow {
		return true
	}
	if d.policy == Never {
		return false
	}
	_, err := d.Stat(path.Join(dirPath, e.Name()))
	return err == nil
}
