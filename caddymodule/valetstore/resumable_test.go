package valetstore

import "testing"

// The upload dir must be outside the root: inside it, a token for the root
// could write into an unfinished upload's state, or a file server show it.
func TestResumableDirOutsideRoot(t *testing.T) {
	for _, c := range []struct {
		root, dir string
		inside    bool
	}{
		{"/srv/nas", "/srv/nas", true},
		{"/srv/nas", "/srv/nas/.tus", true},
		{"/srv/nas", "/srv/nas/a/b", true},
		{"/srv/nas", "/srv/nas2", false},
		{"/srv/nas", "/srv/..nas", false},
		{"/srv/nas", "/srv/tus", false},
		{"/srv/nas/", "/var/lib/tus", false},
		{"/srv/nas", "/srv", false},
	} {
		if got := inside(c.root, c.dir); got != c.inside {
			t.Errorf("inside(%q, %q) = %v", c.root, c.dir, got)
		}
	}
}

// An upload's id depends on the token id and the path, nothing else.
func TestUploadIDBinding(t *testing.T) {
	a := uploadID("jti-aaaaaaaaaaaaaaaa", "up/f.bin")
	if a != uploadID("jti-aaaaaaaaaaaaaaaa", "up/f.bin") {
		t.Fatal("not stable")
	}
	for _, other := range []string{
		uploadID("jti-bbbbbbbbbbbbbbbb", "up/f.bin"),
		uploadID("jti-aaaaaaaaaaaaaaaa", "up/g.bin"),
		uploadID("jti-aaaaaaaaaaaaaaaa\x00up", "f.bin"),
	} {
		if other == a {
			t.Fatal("two grants share an upload id")
		}
	}
	if len(a) != 32 {
		t.Fatalf("id %q", a)
	}
}
