//go:build unix

package valetstore

import (
	"errors"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// adopt replaces the upload's empty temporary file with src in one
// rename(2). The target directory is opened through the os.Root, so the
// rename happens in the directory the store judged, not wherever a path
// might lead by the time it runs. Across file systems it copies instead.
func (u *upload) adopt(src string) error {
	dir, err := u.s.root.Open(u.t.dir())
	if err != nil {
		return err
	}
	defer dir.Close()
	err = unix.Renameat(unix.AT_FDCWD, src, int(dir.Fd()), path.Base(u.tmp))
	if errors.Is(err, unix.EXDEV) {
		return u.copyFrom(src)
	}
	if err != nil {
		return err
	}
	// u.f is the empty file the rename replaced; open the adopted one.
	u.f.Close()
	if u.f, err = u.s.root.OpenFile(u.tmp, os.O_RDWR, 0); err != nil {
		return err
	}
	return u.f.Chmod(0o644)
}
