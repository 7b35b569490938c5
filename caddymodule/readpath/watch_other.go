//go:build !linux

package readpath

import "errors"

// watcher is Linux's inotify; elsewhere every cached file is revalidated
// by stat.
type watcher struct{}

func newWatcher(func(path string)) (*watcher, error) {
	return nil, errors.New("watching files needs Linux (inotify)")
}

func (*watcher) seen() uint64                 { return 0 }
func (*watcher) watch(string) (uint64, error) { return 0, errors.ErrUnsupported }
func (*watcher) firstRefusal() bool           { return false }
func (*watcher) caughtUp() bool               { return false }
func (*watcher) close()                       {}
