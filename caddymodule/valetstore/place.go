package valetstore

import (
	"os"
)

// placeFile puts a finished file that was written elsewhere (a resumable
// upload's data) at t, by the same steps as a PUT: the parents are made,
// the file becomes a temporary file in the target directory, then commit
// judges the preconditions under the path's lock and links or renames it
// into place. On the same file system the bytes are moved, not copied. The
// source is gone afterwards whatever the outcome; nothing partial is ever
// visible at t.
func (s *Store) placeFile(src string, t target, cond conditions) outcome {
	u, o := s.begin(t, cond)
	if u == nil {
		return o
	}
	if err := u.adopt(src); err != nil {
		u.abort()
		return outcome{reason: fsReason(err), err: err}
	}
	return u.commit()
}

// copyFrom fills the (empty) temporary file with the bytes of src, for when
// src cannot be moved into the root's file system, and removes src.
func (u *upload) copyFrom(src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if reason, err := copyBody(u.f, f, 0); reason != "" {
		if err == nil {
			err = reason
		}
		return err
	}
	return os.Remove(src)
}
