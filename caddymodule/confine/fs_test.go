package confine

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// file_server's walk through Caddy's file system wrapper: fs.Stat opens,
// describes and closes a file, then the file is opened again and read. The
// FS serves both with one open: the second Open gets the file the first
// described, rewound, even when another file was renamed over it in
// between; another name or a closed FS opens afresh, and nothing parked
// outlives the FS.
func TestFSParksTheDescribedFile(t *testing.T) { engines(t, testFSParks) }

func testFSParks(t *testing.T) {
	site := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(site, "photos", "alice"), 0o755))
	name := filepath.Join(site, "photos", "alice", "a.txt")
	other := filepath.Join(site, "photos", "alice", "b.txt")
	must(t, os.WriteFile(other, []byte("other"), 0o644))
	read := func(fsys fs.FS, n string) string {
		t.Helper()
		f, err := fsys.Open(n)
		if err != nil {
			t.Fatalf("Open(%s): %v", n, err)
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	for _, p := range []Policy{Scope, Never} {
		must(t, os.WriteFile(name, []byte("first"), 0o644))
		fsys := NewFS(site, "/photos/alice/", p)
		fi, err := fs.Stat(hideStat{fsys}, name)
		if err != nil || fi.Size() != 5 {
			t.Fatalf("%v: Stat = %v, %v", p, fi, err)
		}
		must(t, os.WriteFile(name+".new", []byte("second!"), 0o644))
		must(t, os.Rename(name+".new", name))
		if got := read(fsys, name); got != "first" {
			t.Errorf("%v: Open after Stat read %q, want the file the Stat described", p, got)
		}
		if got := read(fsys, name); got != "first" { // parked again, read from the start
			t.Errorf("%v: Open after a read read %q", p, got)
		}
		if got := read(fsys, other); got != "other" {
			t.Errorf("%v: another name read %q", p, got)
		}
		fsys.Close()
		fresh := NewFS(site, "/photos/alice/", p)
		if got := read(fresh, name); got != "second!" {
			t.Errorf("%v: a new FS read %q", p, got)
		}
		fresh.Close()
	}

	before := openDescriptors(t)
	for range 50 {
		fsys := NewFS(site, "/photos/alice/", Scope)
		if _, err := fs.Stat(hideStat{fsys}, name); err != nil {
			t.Fatal(err)
		}
		f, err := fsys.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		fsys.Close()
		f.Close() // closed after its FS: closed for real
	}
	if after := openDescriptors(t); after > before {
		t.Errorf("open descriptors grew from %d to %d", before, after)
	}
}

// hideStat is how Caddy's file system map hands an FS to file_server:
// only Open is visible, so fs.Stat opens, describes and closes.
type hideStat struct{ fs.FS }

func openDescriptors(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting open descriptors: %v", err)
	}
	return len(entries)
}
