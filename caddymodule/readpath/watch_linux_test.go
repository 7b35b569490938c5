package readpath

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"
)

// watchedFiles is a read path with a watched cache over a fresh tree, the
// way load leaves it: no Caddy, just the cache and the watcher.
func watchedFiles(t *testing.T) *Files {
	t.Helper()
	f := &Files{cache: newCache(1<<20, newMetrics()), logger: zap.NewNop()}
	w, err := newWatcher(f.cache.dropUnder)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	f.watcher = w
	return f
}

// cacheFile caches name as load does and reports whether it is watched.
func (f *Files) cacheFile(t *testing.T, name string) (key, *entry) {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := idOfInfo(fi)
	e := newEntry(name, fi, id)
	k := key{root: "/", scope: "/", path: name}
	f.cacheWatched(k, e)
	return k, e
}

func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWatchDropsChangedFiles changes a watched file in every way a file
// can change under its path, and requires each change to drop it from the
// cache once the kernel's notice is read (within a second here; the delay
// seen is logged), while an unrelated change drops nothing.
func TestWatchDropsChangedFiles(t *testing.T) {
	for name, change := range map[string]func(t *testing.T, root, file string){
		"written in place": func(t *testing.T, _, file string) {
			f, err := os.OpenFile(file, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte("X"), 0)
			f.Close()
		},
		"renamed over": func(t *testing.T, root, file string) {
			write(t, filepath.Join(root, "a/b/.tmp"), "other")
			if err := os.Rename(filepath.Join(root, "a/b/.tmp"), file); err != nil {
				t.Fatal(err)
			}
		},
		"truncated": func(t *testing.T, _, file string) { os.Truncate(file, 1) },
		"deleted":   func(t *testing.T, _, file string) { os.Remove(file) },
		"written through a hard link elsewhere": func(t *testing.T, root, file string) {
			other := filepath.Join(root, "elsewhere/link")
			os.MkdirAll(filepath.Dir(other), 0o755)
			if err := os.Link(file, other); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(other, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("more"))
			f.Close()
		},
		"its directory renamed away": func(t *testing.T, root, _ string) {
			if err := os.Rename(filepath.Join(root, "a/b"), filepath.Join(root, "a/gone")); err != nil {
				t.Fatal(err)
			}
		},
		"a directory above replaced by a link": func(t *testing.T, root, _ string) {
			write(t, filepath.Join(root, "decoy/b/file.txt"), "decoy")
			os.Rename(filepath.Join(root, "a"), filepath.Join(root, "old-a"))
			if err := os.Symlink(filepath.Join(root, "decoy"), filepath.Join(root, "a")); err != nil {
				t.Fatal(err)
			}
		},
		"made unreadable": func(t *testing.T, _, file string) { os.Chmod(file, 0) },
	} {
		t.Run(name, func(t *testing.T) {
			root, _ := filepath.EvalSymlinks(t.TempDir())
			file := filepath.Join(root, "a/b/file.txt")
			write(t, file, "content")
			write(t, filepath.Join(root, "a/b/sibling.txt"), "sibling")
			f := watchedFiles(t)
			k, e := f.cacheFile(t, file)
			if !e.watched.Load() {
				t.Fatal("a file on a local disk, with no link on its path, is not watched")
			}
			sk, _ := f.cacheFile(t, filepath.Join(root, "a/b/sibling.txt"))

			// An unrelated change beside it drops nothing.
			write(t, filepath.Join(root, "a/b/unrelated.txt"), "x")
			if waitDropped(f.cache, k, 200*time.Millisecond) >= 0 {
				t.Fatal("a new file beside it dropped the cached file")
			}

			change(t, root, file)
			lag := waitDropped(f.cache, k, time.Second)
			if lag < 0 {
				t.Fatal("still cached a second after the change")
			}
			t.Logf("dropped %v after the change", lag)
			if name == "written in place" && f.cache.get(sk) == nil {
				t.Fatal("a change to one file dropped its sibling")
			}
		})
	}
}

// TestWatchIsNeverBehind: a watched file is served without a stat only
// while the watcher has handled every event the kernel queued. A change the
// kernel has queued but the watcher not yet read, or read but not yet
// handled, sends the very next request to the stat, which sees it: the
// staleness bound stays zero. So does a request that found the entry just
// before the watcher dropped it.
func TestWatchIsNeverBehind(t *testing.T) {
	setup := func(t *testing.T, f *Files) (string, key, *entry) {
		t.Helper()
		root, _ := filepath.EvalSymlinks(t.TempDir())
		file := filepath.Join(root, "a/file.txt")
		write(t, file, "content")
		k, e := f.cacheFile(t, file)
		if !e.watched.Load() || !f.fresh(e) {
			t.Fatal("a quiet watched file is not fresh")
		}
		return file, k, e
	}
	t.Run("queued, not read", func(t *testing.T) {
		f := &Files{cache: newCache(1<<20, newMetrics()), logger: zap.NewNop()}
		w, err := openWatcher(f.cache.dropUnder) // run is not started: events stay queued
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { go w.run(); w.close() })
		f.watcher = w
		file, _, e := setup(t, f)
		os.Truncate(file, 1)
		if f.fresh(e) {
			t.Fatal("a change the kernel queued was served from the cache")
		}
	})
	t.Run("read, not handled", func(t *testing.T) {
		f := watchedFiles(t)
		file, k, e := setup(t, f)
		f.watcher.mu.Lock() // handle waits for it, after run has taken the event
		os.Truncate(file, 1)
		for start := time.Now(); queuedBytes(t, f.watcher) > 0; time.Sleep(time.Millisecond) {
			if time.Since(start) > time.Second {
				f.watcher.mu.Unlock()
				t.Fatal("the watcher did not read the event")
			}
		}
		fresh := f.fresh(e)
		f.watcher.mu.Unlock()
		if fresh {
			t.Fatal("a change the watcher had read but not handled was served from the cache")
		}
		if waitDropped(f.cache, k, time.Second) < 0 {
			t.Fatal("not dropped once handled")
		}
	})
	t.Run("found before the drop", func(t *testing.T) {
		f := watchedFiles(t)
		file, k, e := setup(t, f)
		os.Truncate(file, 1)
		if waitDropped(f.cache, k, time.Second) < 0 {
			t.Fatal("not dropped")
		}
		if f.fresh(e) { // e as a lookup made before the drop holds it
			t.Fatal("a dropped entry is still trusted")
		}
	})
}

func queuedBytes(t *testing.T, w *watcher) int {
	n, err := unix.IoctlGetInt(w.fd, unix.TIOCINQ)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitDropped polls until k leaves the cache, returning how long that
// took, or -1 past limit.
func waitDropped(c *cache, k key, limit time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < limit {
		if c.get(k) == nil {
			return time.Since(start)
		}
		time.Sleep(time.Millisecond)
	}
	return -1
}

// TestWatchLeavesLinkedPathsToStat: a file reached through a symbolic link
// is not watched (a change to the link's target reaches other watches); it
// stays revalidated by stat, and the first such file is logged with why.
func TestWatchLeavesLinkedPathsToStat(t *testing.T) {
	root, _ := filepath.EvalSymlinks(t.TempDir())
	write(t, filepath.Join(root, "real/file.txt"), "content")
	if err := os.Symlink("real", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	f := watchedFiles(t)
	core, logs := observer.New(zap.InfoLevel)
	f.logger = zap.New(core)
	k, e := f.cacheFile(t, filepath.Join(root, "link/file.txt"))
	if e.watched.Load() {
		t.Fatal("a file behind a link is watched")
	}
	f.cacheFile(t, filepath.Join(root, "link/file.txt")) // again: not logged twice
	if n := logs.Len(); n != 1 || !strings.Contains(logs.All()[0].ContextMap()["why"].(string), "symbolic link") {
		t.Fatalf("%d log lines, want one saying why the file is not watched: %v", n, logs.All())
	}
	if !f.fresh(e) || f.cache.get(k) == nil {
		t.Fatal("an unwatched file is not served after its stat")
	}
	os.Truncate(filepath.Join(root, "real/file.txt"), 1)
	if f.fresh(e) {
		t.Fatal("an unwatched file changed on disk is still fresh: the stat was skipped")
	}
}

// BenchmarkServeHitWatch: a cached file with watch on: no stat, a change
// would have dropped it.
func BenchmarkServeHitWatch(b *testing.B) {
	f, r := benchFiles(b)
	w, err := newWatcher(f.cache.dropUnder)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.close)
	f.watcher = w
	runServe(b, f, r)
	for _, e := range f.cache.m {
		if !e.watched.Load() {
			b.Fatal("the file was not watched")
		}
	}
}

// TestWatchStartsOverAtTheLimit: when a file's watches would pass the
// limit, every watch is removed and every cached file dropped, and the new
// file is watched; a file cached before, changed afterwards, is read again.
func TestWatchStartsOverAtTheLimit(t *testing.T) {
	root, _ := filepath.EvalSymlinks(t.TempDir())
	f := watchedFiles(t)
	first := filepath.Join(root, "d0/file.txt")
	write(t, first, "content")
	k0, e0 := f.cacheFile(t, first)
	f.watcher.max = len(f.watcher.wds) + 1 // room for one more file beside it, not a directory too
	next := filepath.Join(root, "d1/file.txt")
	write(t, next, "content")
	k1, e1 := f.cacheFile(t, next)
	if !e1.watched.Load() {
		t.Fatal("a file within the limit is not watched")
	}
	if f.cache.get(k0) != nil || e0.watched.Load() || f.cache.get(k1) == nil {
		t.Fatal("starting over kept the files cached before, or lost the new one")
	}
	if len(f.watcher.wds) > f.watcher.max {
		t.Fatalf("%d watches, over the limit of %d", len(f.watcher.wds), f.watcher.max)
	}
	// The first file's watches are gone: cached again, it is watched anew.
	k0, e0 = f.cacheFile(t, first)
	watched := e0.watched.Load()
	os.Truncate(first, 1)
	if !watched || waitDropped(f.cache, k0, time.Second) < 0 {
		t.Fatal("a file cached again after the watcher started over is not watched")
	}
}

// TestWatcherClosesWhileIdle: a config reload closes the watcher of the
// old config; it must stop at once, with watches placed and no event
// coming, and place no watch afterwards.
func TestWatcherClosesWhileIdle(t *testing.T) {
	root, _ := filepath.EvalSymlinks(t.TempDir())
	write(t, filepath.Join(root, "a/file.txt"), "content")
	w, err := newWatcher(func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.watch(filepath.Join(root, "a/file.txt")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let run wait in its read
	closed := make(chan struct{})
	go func() { w.close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("close still waits for an event 2s later")
	}
	write(t, filepath.Join(root, "b/file.txt"), "content")
	if _, err := w.watch(filepath.Join(root, "b/file.txt")); err == nil {
		t.Fatal("a closed watcher placed a watch")
	}
}
