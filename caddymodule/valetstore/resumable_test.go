package valetstore

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

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
	a := UploadID("jti-aaaaaaaaaaaaaaaa", "up/f.bin")
	if a != UploadID("jti-aaaaaaaaaaaaaaaa", "up/f.bin") {
		t.Fatal("not stable")
	}
	for _, other := range []string{
		UploadID("jti-bbbbbbbbbbbbbbbb", "up/f.bin"),
		UploadID("jti-aaaaaaaaaaaaaaaa", "up/g.bin"),
		UploadID("jti-aaaaaaaaaaaaaaaa\x00up", "f.bin"),
	} {
		if other == a {
			t.Fatal("two grants share an upload id")
		}
	}
	if len(a) != 32 {
		t.Fatalf("id %q", a)
	}
}

// The sweep removes uploads past their expiry, and data left without its
// info file, and nothing younger.
func TestSweepRemovesExpired(t *testing.T) {
	dir := t.TempDir()
	rs := &dirBackend{dir: dir, store: filestore.New(dir)}
	tus := &Tus{cfg: TusConfig{Backend: rs, Locker: memorylocker.New(), Expire: time.Hour}, logger: zap.NewNop()}
	old := time.Now().Add(-2 * time.Hour)
	write := func(name, content string, mtime time.Time) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mtime, mtime)
	}
	write("old", "bytes", old)
	write("old.info", `{"ID":"old","Size":10}`, old)
	write("orphan", "bytes", old)
	write("young", "bytes", time.Now())
	write("young.info", `{"ID":"young","Size":10}`, old) // written to a minute ago: alive
	write("fresh-orphan", "bytes", time.Now())
	tus.sweepOnce(time.Now())
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{"fresh-orphan", "young", "young.info"}; fmt.Sprint(left) != fmt.Sprint(want) {
		t.Fatalf("left %v, want %v", left, want)
	}
}

// A creation names its destination by path, or by directory and filename.
func TestTusDestination(t *testing.T) {
	c := &token.Claims{Paths: []string{"/up/"}}
	for _, tc := range []struct {
		path, filename, rel string
		reason              Reason
	}{
		{"/up/a.bin", "ignored.bin", "up/a.bin", ""},
		{"/up/", "b c.bin", "up/b c.bin", ""},
		{"/up/", "", "", NotAFile},
		{"/up/", "x/y.bin", "", NotAFile},
		{"/up/", `x\y.bin`, "", NotAFile},
		{"/up/", "..", "", AmbiguousPath},
		{"/up/", "a\x00.bin", "", AmbiguousPath},
		{"/other/", "a.bin", "", OutOfScope},
	} {
		r := httptest.NewRequest("POST", (&url.URL{Path: tc.path}).EscapedPath(), nil)
		got, reason := tusDestination(r, c, tc.filename)
		if reason != tc.reason || got.rel != tc.rel {
			t.Errorf("%s + %q: %q %q, want %q %q", tc.path, tc.filename, got.rel, reason, tc.rel, tc.reason)
		}
	}
	if OutOfScope.Status() != 403 {
		t.Fatalf("out_of_scope answers %d", OutOfScope.Status())
	}
}
