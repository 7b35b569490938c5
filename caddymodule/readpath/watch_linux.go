package readpath

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watcher tells the cache when a file it holds may have changed, through
// the kernel's inotify, so a watched entry is served without a stat. It
// watches the file itself (a write through any of its hard links reaches
// that watch) and every directory from / down to it (a rename, removal or
// link placed anywhere on the path reaches those). Each event drops the
// cached files at or below the path it names.
//
// The kernel queues an event before the call that made the change returns,
// but the watcher handles it a little later. A watched entry is therefore
// trusted only while the watcher has caught up (see caughtUp): otherwise it
// is revalidated by stat, and the staleness bound stays zero.
type watcher struct {
	file    *os.File        // the inotify descriptor, read by run through the poller
	conn    syscall.RawConn // file's, to read events
	fd      int             // the same descriptor, for inotify_add_watch and inotify_rm_watch
	changed func(path string)

	mu     sync.Mutex
	paths  map[int32]string // watch descriptor -> absolute path
	wds    map[string]int32
	max    int  // watches this watcher may hold
	closed bool // no more watches: fd is closed, or may be another file's

	events  atomic.Uint64 // events handled: a load that saw none may trust its watches
	behind  atomic.Bool   // events taken from the kernel are not all handled yet
	stopped atomic.Bool   // closed or broken: no event will be handled again
	refused atomic.Bool   // a file could not be watched (the first one is logged)
	done    chan struct{}
}

const (
	fileEvents = syscall.IN_MODIFY | syscall.IN_ATTRIB | syscall.IN_CLOSE_WRITE |
		syscall.IN_DELETE_SELF | syscall.IN_MOVE_SELF
	dirEvents = syscall.IN_ATTRIB | syscall.IN_CREATE | syscall.IN_DELETE |
		syscall.IN_MOVED_FROM | syscall.IN_MOVED_TO | syscall.IN_DELETE_SELF |
		syscall.IN_MOVE_SELF | syscall.IN_ONLYDIR
)

// maxWatches bounds the watches of one site's cache (files and directories):
// past it the watcher starts over (see watch). Past the kernel's own limit,
// files are revalidated by stat.
const maxWatches = 1 << 16

// newWatcher starts a watcher that calls changed with the absolute path of
// whatever changed ("" when the kernel lost events: everything).
func newWatcher(changed func(path string)) (*watcher, error) {
	w, err := openWatcher(changed)
	if err != nil {
		return nil, err
	}
	go w.run()
	return w, nil
}

// openWatcher makes a watcher that reads no events until run.
func openWatcher(changed func(path string)) (*watcher, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	w := &watcher{
		file: os.NewFile(uintptr(fd), "inotify"), fd: fd, changed: changed,
		paths: map[int32]string{}, wds: map[string]int32{}, max: maxWatches,
		done: make(chan struct{}),
	}
	if w.conn, err = w.file.SyscallConn(); err != nil {
		w.file.Close()
		return nil, err
	}
	return w, nil
}

// caughtUp reports whether every change the kernel reported before the
// call has been handled: no event waits in the kernel's queue (FIONREAD),
// and none the watcher took from it is still unhandled. In that order: an
// event queued before the call is either still queued, or was taken by a
// read that set behind first and clears it only once the event is handled.
// It costs one ioctl, against a stat's walk of the whole path.
//
// The ioctl names the descriptor by number, without holding the file (that
// would allocate per call): if close has let the number go to another
// file, stopped was set before, and is read after.
func (w *watcher) caughtUp() bool {
	queued, err := unix.IoctlGetInt(w.fd, unix.TIOCINQ) // FIONREAD: bytes of events queued
	return err == nil && queued == 0 && !w.behind.Load() && !w.stopped.Load()
}

// seen is the number of events handled so far.
func (w *watcher) seen() uint64 { return w.events.Load() }

// firstRefusal reports whether this is the first file watch could not
// vouch for, so the read path logs only that one.
func (w *watcher) firstRefusal() bool { return w.refused.CompareAndSwap(false, true) }

// watch makes sure filename (absolute, clean) and every directory above it
// are watched, and returns the count of events handled once they are (see
// Files.cacheWatched). It returns why when they cannot be: a symbolic link
// on the way (a change to its target would reach other watches), a file
// system whose changes the kernel may not report (network shares, FUSE,
// overlays), or a watch the kernel refused.
//
// Watches outlive the cached files they were placed for (one file can be
// cached under several scopes), so when the next file's would pass the
// limit, the watcher starts over: every watch removed, every cached file
// dropped, each to be read and watched again on its next request.
func (w *watcher) watch(filename string) (seen uint64, err error) {
	if real, err := filepath.EvalSymlinks(filename); err != nil || real != filename {
		return 0, errors.New("its path has a symbolic link, or changed meanwhile")
	}
	if err := reportsChanges(filename); err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.wds)+strings.Count(filename, "/")+1 > w.max {
		w.reset()
	}
	for dir := filepath.Dir(filename); ; dir = filepath.Dir(dir) {
		if err := w.add(dir, dirEvents); err != nil {
			return 0, err
		}
		if dir == "/" {
			break
		}
	}
	// Read under mu: a reset (which counts an event) either came before
	// these watches were placed, or comes after this count.
	return w.seen(), w.add(filename, fileEvents)
}

// add watches one path, once (callers hold mu).
func (w *watcher) add(path string, events uint32) error {
	if _, ok := w.wds[path]; ok {
		return nil
	}
	if w.closed {
		return errors.New("the watcher is closed")
	}
	wd, err := syscall.InotifyAddWatch(w.fd, path, events)
	if err != nil {
		return &os.PathError{Op: "inotify_add_watch", Path: path, Err: err}
	}
	w.paths[int32(wd)], w.wds[path] = path, int32(wd)
	return nil
}

// reset removes every watch and drops every cached file; an event is
// counted, so a load in progress trusts none of its watches (callers hold
// mu).
func (w *watcher) reset() {
	for wd := range w.paths {
		if !w.closed {
			syscall.InotifyRmWatch(w.fd, uint32(wd))
		}
	}
	clear(w.paths)
	clear(w.wds)
	w.notify("")
}

// run reads events until the watcher is closed.
func (w *watcher) run() {
	defer close(w.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := w.read(buf)
		if err != nil {
			// Closed, or broken: no more notices, so nothing may be trusted
			// to them. Refuse new watches; when broken, also drop every
			// cached file and count an event, so a load in progress does
			// not trust its own.
			w.stopped.Store(true)
			w.mu.Lock()
			closing := w.closed
			w.closed = true
			w.mu.Unlock()
			if !closing {
				w.notify("")
			}
			return
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
			off += syscall.SizeofInotifyEvent + int(ev.Len)
			w.handle(ev.Wd, ev.Mask, strings.TrimRight(string(name), "\x00"))
		}
		w.behind.Store(false)
	}
}

// read waits for events and takes them from the kernel's queue into buf,
// setting behind just before (see caughtUp); run clears it once they are
// handled.
func (w *watcher) read(buf []byte) (n int, err error) {
	cerr := w.conn.Read(func(fd uintptr) bool {
		w.behind.Store(true)
		n, err = syscall.Read(int(fd), buf)
		if err == syscall.EAGAIN || err == syscall.EINTR {
			w.behind.Store(false) // nothing taken: wait until readable
			return false
		}
		return true
	})
	if cerr != nil {
		return 0, cerr
	}
	if err == nil && n < syscall.SizeofInotifyEvent {
		err = fmt.Errorf("inotify: read %d bytes", n)
	}
	return n, err
}

// handle drops what one event may have changed, then counts it. An event
// of a watch no longer known (removed by a start-over, or after its path
// changed) concerns no cached file, and is not counted: a start-over's own
// removals would otherwise keep the files cached after it unwatched.
func (w *watcher) handle(wd int32, mask uint32, name string) {
	if mask&syscall.IN_Q_OVERFLOW != 0 {
		w.notify("")
		return
	}
	w.mu.Lock()
	path, ok := w.paths[wd]
	if ok && mask&(syscall.IN_IGNORED|syscall.IN_DELETE_SELF|syscall.IN_MOVE_SELF) != 0 {
		// The watch no longer stands for its path: forget it, so the next
		// load watches whatever the path names now.
		delete(w.paths, wd)
		if w.wds[path] == wd {
			delete(w.wds, path)
		}
		if mask&syscall.IN_IGNORED == 0 && !w.closed {
			syscall.InotifyRmWatch(w.fd, uint32(wd))
		}
	}
	w.mu.Unlock()
	if !ok {
		return
	}
	if name != "" {
		path = filepath.Join(path, name)
	}
	w.notify(path)
}

// notify counts an event, then drops what it names. Counted first: a load
// that finds the count unchanged when it caches a file (under the cache's
// lock, see cache.put) knows any drop of an earlier event is done.
func (w *watcher) notify(path string) {
	w.events.Add(1)
	w.changed(path)
}

// close stops the watcher and removes its watches.
func (w *watcher) close() {
	w.stopped.Store(true) // before the descriptor's number is free (see caughtUp)
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.file.Close()
	<-w.done
}

// reportsChanges tells whether the kernel tells inotify of every change
// to the file at path: yes (nil) on local disk and memory file systems, no
// on network shares, FUSE and overlays, whose files can change elsewhere.
// (The directories above a file are watched wherever they are: what
// matters there is a rename made through this machine's view of them.)
func reportsChanges(path string) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	switch uint32(st.Type) {
	case 0xEF53, // ext2, ext3, ext4
		0x58465342, // xfs
		0x9123683E, // btrfs
		0x01021994, // tmpfs
		0xF2F52010, // f2fs
		0x2FC12FC1: // zfs
		return nil
	}
	return fmt.Errorf("its file system (type %#x) is not a local disk or memory file system whose changes inotify reports", uint32(st.Type))
}
