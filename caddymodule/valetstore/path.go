package valetstore

import (
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"syscall"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// target is a file path below the root, relative ("a/b/c.txt").
type target struct {
	rel   string
	parts []string
}

func (t target) dir() string {
	if d := path.Dir(t.rel); d != "." {
		return d
	}
	return "."
}

// target is the file a request writes: the request path as the gate left
// it. The gate already judged it with token.CanonicalPath; judging it again
// here (the same function, never a second rule) keeps the store safe if a
// handler between the two rewrote the path. A directory path (trailing
// slash, or the root) names no file. No segment may begin with the
// prefix of the store's own temporary files, which are never served.
func (s *Store) target(r *http.Request) (target, Reason) {
	p := r.URL.Path
	canon, reason := token.CanonicalPath(r.URL.EscapedPath())
	switch {
	case reason != token.Allowed || canon != p:
		return target{}, AmbiguousPath
	case strings.HasSuffix(p, "/"):
		return target{}, NotAFile
	case strings.Contains(p, "/"+TempPrefix):
		return target{}, ReservedName
	}
	rel := p[1:]
	return target{rel: rel, parts: strings.Split(rel, "/")}, ""
}

// inspect looks at the path without following links: every existing parent
// must be a real directory, and the target, if it exists, a regular file.
// It returns the target's info (nil when absent) and how many parents exist.
//
// os.Root already keeps every access inside the root, links included; this
// refuses links inside the root too, which could otherwise carry a write out
// of the token's scope ("/a/link" -> "/b"). Links are made only by someone
// with a shell on the machine, never through the store.
func (s *Store) inspect(t target) (fs.FileInfo, int, Reason, error) {
	for i := range len(t.parts) - 1 {
		fi, err := s.root.Lstat(strings.Join(t.parts[:i+1], "/"))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, i, "", nil
		case errors.Is(err, syscall.ENOTDIR):
			return nil, i, NotAFile, nil
		case err != nil:
			return nil, i, StoreError, err
		case fi.Mode()&fs.ModeSymlink != 0:
			return nil, i, Symlink, nil
		case !fi.IsDir():
			return nil, i, NotAFile, nil
		}
	}
	parents := len(t.parts) - 1
	fi, err := s.root.Lstat(t.rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, parents, "", nil
	case err != nil:
		return nil, parents, StoreError, err
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, parents, Symlink, nil
	case !fi.Mode().IsRegular():
		return nil, parents, NotAFile, nil
	}
	return fi, parents, "", nil
}

// mkdirs creates the missing parents, from index have on, and returns the
// ones it created, so a failed upload can take them away again.
func (s *Store) mkdirs(t target, have int) ([]string, Reason, error) {
	var created []string
	for i := have; i < len(t.parts)-1; i++ {
		dir := strings.Join(t.parts[:i+1], "/")
		err := s.root.Mkdir(dir, 0o755)
		switch {
		case err == nil:
			created = append(created, dir)
		case errors.Is(err, fs.ErrExist):
			// made by a concurrent upload; inspect it like any parent
			fi, err := s.root.Lstat(dir)
			if err != nil || !fi.IsDir() {
				s.rmdirs(created)
				return nil, NotAFile, err
			}
		default:
			s.rmdirs(created)
			return nil, fsReason(err), err
		}
	}
	return created, "", nil
}

// rmdirs removes directories mkdirs created, deepest first. A directory a
// concurrent upload has put something into is not empty and stays.
func (s *Store) rmdirs(created []string) {
	for i := len(created) - 1; i >= 0; i-- {
		s.root.Remove(created[i])
	}
}

// fsReason names a file system error: a full disk or quota is the client's
// to know about (507); anything else is ours (500).
func fsReason(err error) Reason {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return StorageFull
	}
	return StoreError
}
