// Package confine opens files of a site relative to a token's path scope, so
// that a symbolic link cannot carry a read out of the scope. It is the one
// place where caddy-valet opens a judged path for reading: the gate hands
// file_server a file system built on it (FS), and other readers call Open or
// OpenDir. It does not import Caddy.
//
// # Policies
//
// A Policy says which symbolic links a read may pass through:
//
//   - Scope (the default): a link is followed only when its target resolves
//     inside the scope directory. Links whose target leaves the scope
//     (relative with "..", or absolute, whatever they point at), loops, and
//     chains longer than the system follows (40 links with openat2, 8 with
//     os.Root), are refused with ErrSymlink.
//   - Never: no component of the path below the site root may be a link.
//   - Follow: plain operating-system behaviour, links followed wherever they
//     lead. Only for operators who write it.
//
// # What is checked where
//
// The site root is the operator's: links in the site root's own path are
// followed. Below it, under Scope and Never alike, every component from the
// site root down to the scope directory must be a real directory, not a link:
// a link there would move the whole scope somewhere else, and it is the
// component a user who owns the scope could replace. The scope directory of
// "/photos/alice/" is photos/alice and its subtree is readable; the scope
// directory of an exact-file scope "/photos/alice/a.jpg" is photos/alice, but
// only a.jpg is readable, and a.jpg itself must not be a link (its target
// could not be "inside" a one-file scope).
//
// Enforcement happens when the file is opened, with no window between a
// check and the open. On Linux the kernel resolves each path in one call
// (openat2): first the whole name with no link allowed anywhere, which a
// path without links passes (and is then lexically inside the scope); a
// path with a link is resolved from the scope directory, held open for it,
// with RESOLVE_BENEATH (and RESOLVE_NO_SYMLINKS where no link may be
// followed). Elsewhere every path is resolved from the scope directory by an
// os.Root (Go's openat-based walk refuses links that leave it), where each
// component that must not be a link is opened and then compared by identity
// (device and inode) with what an lstat of the same name found. A link
// swapped in while a request is in flight can therefore at worst be refused;
// it never leads a read outside the scope.
//
// Not covered: hard links (a hard link is the file itself; the file system
// cannot tell it from the original), bind mounts, and directories renamed
// out of the scope by someone with write access to both places while a
// request is walking them.
package confine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// Policy says which symbolic links a confined read may pass through.
type Policy uint8

// The policies. The zero value is Scope, the safe default.
const (
	Scope  Policy = iota // follow a link only when it stays inside the scope
	Never                // follow no link below the site root
	Follow               // the operating system's behaviour: follow every link
)

// ParsePolicy reads a policy's name: "scope", "never" or "follow". The empty
// string is Scope.
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "", "scope":
		return Scope, nil
	case "never":
		return Never, nil
	case "follow":
		return Follow, nil
	}
	return Scope, fmt.Errorf("symlink policy must be scope, never or follow, not %q", s)
}

// String is the policy's name, as ParsePolicy reads it.
func (p Policy) String() string {
	switch p {
	case Never:
		return "never"
	case Follow:
		return "follow"
	default:
		return "scope"
	}
}

// refusal is an error a confined read answers with. It counts as
// fs.ErrPermission, so file servers answer 403 rather than 404 or 500.
type refusal string

func (e refusal) Error() string        { return string(e) }
func (e refusal) Is(target error) bool { return target == fs.ErrPermission }

var (
	// ErrSymlink refuses a path that goes through a symbolic link the policy
	// does not follow (including loops and chains too long to follow).
	ErrSymlink error = refusal("symlink refused by the confinement policy")

	// ErrOutside refuses a name that is not inside the scope (or, for FS,
	// not under the site root) the reader was confined to.
	ErrOutside error = refusal("name outside the confined scope")
)

// Dir is a scope's directory held open under a policy. Its methods take the
// judged request path (like "/photos/alice/a.jpg", as token.CanonicalPath
// gives it), which must be inside the scope. A Dir is safe for concurrent
// use; Close it when done.
//
// On Linux paths are resolved by the kernel with openat2: a path without
// links in one call from the working directory, and one with a link from
// the scope directory, opened as a file descriptor when first needed
// (RESOLVE_BENEATH, and RESOLVE_NO_SYMLINKS where no link may be followed).
// Where openat2 is missing (other systems, kernels before 5.6,
// sandboxes that filter it) it is held as an os.Root instead, which walks
// one component at a time; directories are always listed through an
// os.Root, whose entries are described relative to the open directory,
// never by path.
type Dir struct {
	site   string // the site root
	dir    string // the scope directory below it ("" for the site root)
	scope  string // the token's scope
	exact  string // an exact-file scope's last segment; "" for a subtree
	policy Policy

	at2    bool // resolve with openat2
	fdOnce sync.Once
	fd     int // the scope directory, opened when a path has a link; -1 when not
	fdErr  error

	rootOnce sync.Once
	root     *os.Root // the scope directory as an os.Root, opened when needed
	rootErr  error
}

// OpenDir opens the directory a scope confines reads to, below siteRoot (a
// directory path on the local file system, relative to the working directory
// or absolute). scope is a token path scope: "/photos/alice/" for a subtree,
// "/photos/alice/a.jpg" for one file, "/" for the whole site root. No
// component from siteRoot down to the scope directory may be a link (unless
// the policy is Follow).
func OpenDir(siteRoot, scope string, p Policy) (*Dir, error) {
	dir, exact, ok := splitScope(scope)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: scope, Err: ErrOutside}
	}
	d := &Dir{site: siteRoot, dir: dir, scope: scope, exact: exact, policy: p, fd: -1}
	if p == Follow {
		return d, nil
	}
	if haveOpenat2.Load() {
		d.at2 = true // the scope directory is opened when first needed
		return d, nil
	}
	if _, err := d.osRoot(); err != nil {
		return nil, relabel(err, scope)
	}
	return d, nil
}

// scopeFd is the scope directory for openat2, opened on first use.
func (d *Dir) scopeFd() (int, error) {
	d.fdOnce.Do(func() { d.fd, d.fdErr = openScopeAt2(d.site, d.dir) })
	return d.fd, d.fdErr
}

// Open opens the file or directory at urlPath, confined to siteRoot and
// scope by p: the one-shot form of OpenDir and Dir.Open.
func Open(siteRoot, scope, urlPath string, p Policy) (*os.File, error) {
	d, err := OpenDir(siteRoot, scope, p)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Open(urlPath)
}

// Close releases the scope directory. Files opened from it stay usable.
func (d *Dir) Close() error {
	d.fdOnce.Do(func() { d.fdErr = fs.ErrClosed })
	if d.fd >= 0 {
		syscall.Close(d.fd)
		d.fd = -1
	}
	d.rootOnce.Do(func() { d.rootErr = fs.ErrClosed })
	if d.root != nil {
		return d.root.Close()
	}
	return nil
}

// Open opens the file or directory at urlPath for reading.
func (d *Dir) Open(urlPath string) (*os.File, error) {
	f, _, err := d.open(urlPath)
	return f, err
}

// open opens urlPath and describes what it opened.
func (d *Dir) open(urlPath string) (*os.File, fs.FileInfo, error) {
	rel, err := d.rel(urlPath)
	if err != nil {
		return nil, nil, err
	}
	var f *os.File
	switch {
	case d.policy == Follow:
		f, err = os.Open(filepath.Join(d.site, filepath.FromSlash(urlPath)))
	case d.at2:
		if f, err = d.openAt2(rel, syscall.O_RDONLY); errors.Is(err, errNoOpenat2) {
			f, err = d.openInRoot(rel)
		}
	default:
		f, err = d.openInRoot(rel)
	}
	if err != nil {
		return nil, nil, relabel(err, urlPath)
	}
	fi, err := f.Stat()
	if err == nil && fi.IsDir() && d.at2 {
		// A directory is listed through an os.Root (see Dir).
		f.Close()
		if f, err = d.openInRoot(rel); err != nil {
			return nil, nil, relabel(err, urlPath)
		}
		fi, err = f.Stat()
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// Stat describes the file or directory at urlPath, following the links the
// policy follows.
func (d *Dir) Stat(urlPath string) (fs.FileInfo, error) {
	rel, err := d.rel(urlPath)
	if err != nil {
		return nil, err
	}
	var fi fs.FileInfo
	switch {
	case d.policy == Follow:
		fi, err = os.Stat(filepath.Join(d.site, filepath.FromSlash(urlPath)))
	case d.at2:
		var f *os.File
		if f, err = d.openAt2(rel, oPath); err == nil {
			fi, err = f.Stat()
			f.Close()
		} else if errors.Is(err, errNoOpenat2) {
			fi, err = d.statInRoot(rel)
		}
	default:
		fi, err = d.statInRoot(rel)
	}
	if err != nil {
		return nil, relabel(err, urlPath)
	}
	return fi, nil
}

// osRoot is the scope directory as an os.Root, reached from the site root
// through real directories only, opened on first use.
func (d *Dir) osRoot() (*os.Root, error) {
	d.rootOnce.Do(func() {
		root, err := os.OpenRoot(d.site)
		if err == nil && d.dir != "" {
			for name := range strings.SplitSeq(d.dir, "/") {
				sub, e := openDirNoLink(root, name)
				root.Close()
				if root, err = sub, e; err != nil {
					break
				}
			}
		}
		if err != nil {
			root = nil
		}
		d.root, d.rootErr = root, err
	})
	return d.root, d.rootErr
}

// openInRoot opens rel through the os.Root, without any link under Never
// and for an exact-file scope.
func (d *Dir) openInRoot(rel string) (*os.File, error) {
	root, err := d.osRoot()
	if err != nil {
		return nil, err
	}
	if d.policy == Never || d.exact != "" {
		return openNoLink(root, rel)
	}
	return root.Open(rel)
}

// statInRoot describes rel through the os.Root, like openInRoot opens it.
func (d *Dir) statInRoot(rel string) (fs.FileInfo, error) {
	root, err := d.osRoot()
	if err != nil {
		return nil, err
	}
	if d.policy == Never || d.exact != "" {
		parent, name, err := walkNoLink(root, rel)
		if err != nil {
			return nil, err
		}
		defer release(root, parent)
		return lstatNoLink(parent, name)
	}
	return root.Stat(rel)
}

// Covers reports whether urlPath is inside the scope: the scope's path
// (token.InScope's rule) or, for a subtree, the scope directory itself
// without its trailing slash, as file servers name it.
func (d *Dir) Covers(urlPath string) bool {
	return token.InScope(d.scope, urlPath) || urlPath+"/" == d.scope
}

// rel turns a judged request path into a name below the scope directory
// ("." for the directory itself), refusing anything outside the scope.
func (d *Dir) rel(urlPath string) (string, error) {
	if !d.Covers(urlPath) {
		return "", &fs.PathError{Op: "open", Path: urlPath, Err: ErrOutside}
	}
	if d.exact != "" {
		return d.exact, nil
	}
	rel := strings.TrimPrefix(strings.TrimSuffix(urlPath, "/")+"/", d.scope)
	if rel == "" {
		return ".", nil
	}
	rel = strings.TrimSuffix(rel, "/")
	if !fs.ValidPath(rel) {
		return "", &fs.PathError{Op: "open", Path: urlPath, Err: ErrOutside}
	}
	return rel, nil
}

// openNoLink opens rel below root when no component of it is a link:
// every directory on the way through openDirNoLink, the last one by lstat,
// open, and a comparison of the two, so a link swapped in between is
// refused.
func openNoLink(root *os.Root, rel string) (*os.File, error) {
	parent, name, err := walkNoLink(root, rel)
	if err != nil {
		return nil, err
	}
	defer release(root, parent)
	want, err := lstatNoLink(parent, name)
	if err != nil {
		return nil, err
	}
	f, err := parent.Open(name)
	if err != nil {
		return nil, err
	}
	got, err := f.Stat()
	if err != nil || !os.SameFile(want, got) {
		f.Close()
		return nil, ErrSymlink
	}
	return f, nil
}

// walkNoLink opens the directories of rel below root, none of them a link,
// and returns the last one with the final name in it.
func walkNoLink(root *os.Root, rel string) (*os.Root, string, error) {
	if rel == "." {
		return root, ".", nil
	}
	dirs, name := "", rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		dirs, name = rel[:i], rel[i+1:]
	}
	cur := root
	if dirs != "" {
		for part := range strings.SplitSeq(dirs, "/") {
			sub, err := openDirNoLink(cur, part)
			release(root, cur)
			if err != nil {
				return nil, "", err
			}
			cur = sub
		}
	}
	return cur, name, nil
}

// release closes a directory walkNoLink opened below root, never root.
func release(root, r *os.Root) {
	if r != root {
		r.Close()
	}
}

// openDirNoLink opens the directory name inside parent, refusing a link:
// the opened directory must be the very one an lstat of name found, so a
// link swapped in after the lstat is refused, not followed.
func openDirNoLink(parent *os.Root, name string) (*os.Root, error) {
	want, err := lstatNoLink(parent, name)
	if err != nil {
		return nil, err
	}
	if !want.IsDir() {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.ENOTDIR}
	}
	sub, err := parent.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	got, err := sub.Stat(".")
	if err != nil || !os.SameFile(want, got) {
		sub.Close()
		return nil, ErrSymlink
	}
	return sub, nil
}

// lstatNoLink describes name inside parent without following it, refusing
// a link.
func lstatNoLink(parent *os.Root, name string) (fs.FileInfo, error) {
	fi, err := parent.Lstat(name)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, ErrSymlink
	}
	return fi, nil
}

// relabel reports a failed open as a PathError on the name the caller
// asked for (never a name a link pointed to), with the link refusals of
// os.Root made ErrSymlink: a chain of too many links (ELOOP), and a path
// that escapes the root, which os.Root reports with an error that is not a
// system errno, and openat2 reports as EXDEV. Names reaching either are
// valid paths without "..", so only a link can make them escape.
func relabel(err error, name string) error {
	var pe *fs.PathError
	switch {
	case errors.Is(err, ErrSymlink), errors.Is(err, ErrOutside):
		err = unwrapRefusal(err)
	case errors.Is(err, syscall.ELOOP), errors.Is(err, syscall.EXDEV):
		err = ErrSymlink
	case errors.As(err, &pe):
		if _, isErrno := pe.Err.(syscall.Errno); !isErrno {
			err = ErrSymlink
		} else {
			err = pe.Err
		}
	}
	return &fs.PathError{Op: "open", Path: name, Err: err}
}

func unwrapRefusal(err error) error {
	if errors.Is(err, ErrSymlink) {
		return ErrSymlink
	}
	return ErrOutside
}

// splitScope splits a scope into its directory below the site root
// ("photos/alice", "" for the root) and, for an exact-file scope, the file's
// name. It refuses a scope that is not a clean absolute path.
func splitScope(scope string) (dir, exact string, ok bool) {
	if scope == "/" {
		return "", "", true
	}
	if !strings.HasPrefix(scope, "/") {
		return "", "", false
	}
	if rel := strings.TrimSuffix(scope[1:], "/"); rel == "." || !fs.ValidPath(rel) {
		return "", "", false
	}
	if strings.HasSuffix(scope, "/") {
		return scope[1 : len(scope)-1], "", true
	}
	i := strings.LastIndexByte(scope, '/')
	return scope[1:i], scope[i+1:], true
}

// WidestScope is the scope, of a token's scopes, that confines a read of
// urlPath: the widest that covers it (token.InScope), since a link may lead
// anywhere the token could read directly. Scopes covering one path are
// nested, so the widest is the shortest. When none covers urlPath (a gate
// never admits that), it is urlPath itself, an exact-file scope.
func WidestScope(scopes []string, urlPath string) string {
	scope := ""
	for _, s := range scopes {
		if token.InScope(s, urlPath) && (scope == "" || len(s) < len(scope)) {
			scope = s
		}
	}
	if scope == "" {
		return urlPath
	}
	return scope
}
