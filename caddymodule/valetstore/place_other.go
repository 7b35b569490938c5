//go:build !unix

package valetstore

// adopt fills the upload's temporary file with the bytes of src. Without
// renameat(2) on a directory handle the store copies rather than move a file
// by a path it has not judged.
func (u *upload) adopt(src string) error { return u.copyFrom(src) }
