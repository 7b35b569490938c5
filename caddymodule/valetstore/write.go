package valetstore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"hash/maphash"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"

	"go.uber.org/zap"
)

// put stores the request body at t.
func (s *Store) put(r *http.Request, t target, l limits) outcome {
	if !l.allowsType(r.Header.Values("Content-Type")) {
		return outcome{reason: UnsupportedType}
	}
	if l.maxBytes > 0 && r.ContentLength > l.maxBytes {
		return outcome{reason: TooLarge} // before a byte is read or a file made
	}
	sums, reason := checksums(r.Header)
	if reason != "" {
		return outcome{reason: reason}
	}
	u, o := s.begin(t, conditionsOf(r, l))
	if u == nil {
		return o
	}
	raw := newBody(r.Body, sums)
	if reason, err := copyBody(u.f, raw, l.maxBytes); reason != "" {
		u.abort()
		return outcome{reason: reason, err: err}
	}
	if !verify(sums) {
		u.abort()
		return outcome{reason: ChecksumMismatch}
	}
	return u.commit()
}

// delete removes the file at t.
func (s *Store) delete(r *http.Request, t target) outcome {
	cond := conditions{ifMatch: r.Header.Get("If-Match"), ifNoneMatch: r.Header.Get("If-None-Match"), overwrite: true}
	defer lockPath(s.Root, t.rel)()
	current, _, reason, err := s.inspect(t)
	switch {
	case reason != "":
		return outcome{reason: reason, err: err}
	case current == nil && cond.ifMatch == "":
		return outcome{reason: NotFound}
	}
	if reason := cond.check(current); reason != "" {
		return outcome{reason: reason}
	}
	if err := s.root.Remove(t.rel); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return outcome{reason: NotFound}
		}
		return outcome{reason: fsReason(err), err: err}
	}
	s.syncDirs([]string{t.dir()})
	return outcome{}
}

// upload is one file on its way in: a temporary file beside its target,
// and the parent directories made for it.
type upload struct {
	s       *Store
	t       target
	cond    conditions
	created []string
	tmp     string
	f       *os.File
}

// begin checks what can be checked before the body is read, then makes the
// missing parents and the temporary file.
func (s *Store) begin(t target, cond conditions) (*upload, outcome) {
	for attempt := 0; ; attempt++ {
		current, have, reason, err := s.inspect(t)
		if reason == "" {
			reason = cond.check(current)
		}
		if reason != "" {
			return nil, outcome{reason: reason, err: err}
		}
		created, reason, err := s.mkdirs(t, have)
		if reason != "" {
			return nil, outcome{reason: reason, err: err}
		}
		u := &upload{s: s, t: t, cond: cond, created: created, tmp: tempName(t)}
		u.f, err = s.root.OpenFile(u.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return u, outcome{}
		}
		s.rmdirs(created)
		// A concurrent upload that failed may have removed a parent it made
		// just after we found it; one retry makes it again.
		if !errors.Is(err, fs.ErrNotExist) || attempt > 0 {
			return nil, outcome{reason: fsReason(err), err: err}
		}
	}
}

// TempPrefix starts the name of every temporary upload file. A file_server
// in front of the same root should hide it: `hide .valet-*`.
const TempPrefix = ".valet-"

func tempName(t target) string {
	b := make([]byte, 12)
	rand.Read(b)
	return path.Join(t.dir(), TempPrefix+hex.EncodeToString(b)+".tmp")
}

// abort leaves the directory as it was: no temporary file, no new parents.
func (u *upload) abort() {
	if u.f != nil {
		u.f.Close()
		u.f = nil
	}
	u.s.root.Remove(u.tmp)
	u.s.rmdirs(u.created)
}

// commit makes the upload durable, then visible: sync the data, judge the
// preconditions again under the path's lock, put the file in place in one
// step, sync the directories.
func (u *upload) commit() outcome {
	fail := func(reason Reason, err error) outcome {
		u.abort()
		return outcome{reason: reason, err: err}
	}
	if err := u.f.Sync(); err != nil {
		return fail(fsReason(err), err)
	}
	fi, err := u.f.Stat()
	if err != nil {
		return fail(StoreError, err)
	}
	err = u.f.Close()
	u.f = nil
	if err != nil {
		return fail(fsReason(err), err)
	}

	defer lockPath(u.s.Root, u.t.rel)()
	current, _, reason, err := u.s.inspect(u.t)
	if reason == "" {
		reason = u.cond.check(current)
	}
	if reason != "" {
		return fail(reason, err)
	}
	if u.cond.mustBeNew() {
		// link(2) refuses an existing name atomically, even against another
		// process writing the same directory; rename(2) would replace it.
		err = u.s.root.Link(u.tmp, u.t.rel)
		switch {
		case errors.Is(err, fs.ErrExist):
			if strings.TrimSpace(u.cond.ifNoneMatch) == "*" {
				return fail(ConditionFailed, nil)
			}
			return fail(Exists, nil)
		case err == nil:
			u.s.root.Remove(u.tmp)
		default:
			// a file system without hard links: the lock and the check
			// above decide, within this process
			err = u.s.root.Rename(u.tmp, u.t.rel)
		}
	} else {
		err = u.s.root.Rename(u.tmp, u.t.rel)
	}
	if err != nil {
		return fail(fsReason(err), err)
	}
	dirs := []string{u.t.dir()}
	for _, d := range u.created {
		dirs = append(dirs, path.Dir(d))
	}
	u.s.syncDirs(dirs)
	return outcome{created: current == nil, etag: etag(fi)}
}

// syncDirs makes renames, links and new directories durable. The file is
// already in place; a failure here is logged, not undone.
func (s *Store) syncDirs(dirs []string) {
	for _, d := range dirs {
		f, err := s.root.Open(d)
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		if err != nil {
			s.logger.Error("syncing directory", zap.String("dir", d), zap.Error(err))
		}
	}
}

// commitLocks serialise the check-and-commit of writes to one path, across
// every store of the process (and so across config reloads). Striped: a
// fixed set of mutexes, so nothing grows with the number of paths.
var (
	commitLocks [256]sync.Mutex
	lockSeed    = maphash.MakeSeed()
)

func lockPath(root, rel string) (unlock func()) {
	var h maphash.Hash
	h.SetSeed(lockSeed)
	h.WriteString(root)
	h.WriteByte(0)
	h.WriteString(rel)
	m := &commitLocks[h.Sum64()%uint64(len(commitLocks))]
	m.Lock()
	return m.Unlock
}
