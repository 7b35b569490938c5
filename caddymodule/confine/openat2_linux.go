package confine

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// oPath opens a file only to describe it (Stat), never to read it.
const oPath = unix.O_PATH

// haveOpenat2 turns false for good when the kernel or a sandbox refuses
// openat2; the os.Root engine then does the work.
var haveOpenat2 atomic.Bool

func init() { haveOpenat2.Store(true) }

// errNoOpenat2 says openat2 cannot be used here.
var errNoOpenat2 = errors.New("openat2 unavailable")

// openScopeAt2 opens the scope directory dir below site for openat2: no
// component of dir may be a link, nor lead out of site.
func openScopeAt2(site, dir string) (int, error) {
	if !haveOpenat2.Load() {
		return -1, errNoOpenat2
	}
	siteFd, err := unix.Open(site, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: site, Err: err}
	}
	if dir == "" {
		return siteFd, nil
	}
	defer unix.Close(siteFd)
	return openat2(siteFd, dir, unix.O_PATH|unix.O_DIRECTORY, unix.RESOLVE_BENEATH|unix.RESOLVE_NO_SYMLINKS)
}

// openAt2 opens rel below the scope directory. Most paths have no link at
// all: one openat2 of the whole name (site root, scope directory, rel) with
// no link allowed anywhere opens them with no descriptor of the scope, and
// a path without links is lexically inside the scope (rel and the scope
// are clean names). A path with a link somewhere (in the site root's own
// path too) is resolved from the scope directory instead: the kernel
// refuses a link that leads out of it (EXDEV), and under Never or for an
// exact-file scope any link at all (ELOOP).
func (d *Dir) openAt2(rel string, flags int) (*os.File, error) {
	name := filepath.Join(d.site, d.dir, rel)
	fd, err := openat2(unix.AT_FDCWD, name, flags, unix.RESOLVE_NO_SYMLINKS)
	if errors.Is(err, unix.ELOOP) {
		var resolve uint64 = unix.RESOLVE_BENEATH
		if d.policy == Never || d.exact != "" {
			resolve |= unix.RESOLVE_NO_SYMLINKS
		}
		var scope int
		if scope, err = d.scopeFd(); err == nil {
			fd, err = openat2(scope, rel, flags, resolve)
		}
	}
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// openat2 opens name (below dirfd, with RESOLVE_BENEATH) never through a
// magic link of /proc, retrying when the kernel saw a rename race.
func openat2(dirfd int, name string, flags int, resolve uint64) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: resolve | unix.RESOLVE_NO_MAGICLINKS,
	}
	for try := 0; ; try++ {
		fd, err := unix.Openat2(dirfd, name, &how)
		switch {
		case err == nil:
			return fd, nil
		case err == unix.ENOSYS || err == unix.EPERM:
			haveOpenat2.Store(false)
			return -1, errNoOpenat2
		case (err == unix.EAGAIN || err == unix.EINTR) && try < 8:
			continue
		}
		return -1, &fs.PathError{Op: "openat2", Path: name, Err: err}
	}
}
