package readpath

import (
	"os"
	"syscall"
)

// fileID identifies one version of a file: which inode it is (so a file
// renamed over it is another), its size (truncation), and its modification
// and change times in nanoseconds (a write in place moves both).
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

// statID describes the file at name, following links, with one stat(2).
func statID(name string) (fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(name, &st); err != nil {
		return fileID{}, err
	}
	return idOf(&st), nil
}

// idOfInfo is the identity of an opened file's own fstat.
func idOfInfo(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return idOf(st), true
}

func idOf(st *syscall.Stat_t) fileID {
	return fileID{
		dev: uint64(st.Dev), ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Sec*1e9 + st.Mtim.Nsec,
		ctime: st.Ctim.Sec*1e9 + st.Ctim.Nsec,
	}
}

// changedAt is the later of the modification and change times.
func (id fileID) changedAt() int64 { return max(id.mtime, id.ctime) }
