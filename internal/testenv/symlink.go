package testenv

import (
	"os"
	"testing"
)

// Relink points the symbolic link at link to target atomically, the way
// sync clients replace files: a new link is made beside it and renamed over
// it, so a reader finds the old link or the new one, never none.
func Relink(t testing.TB, link, target string) {
	tmp := link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Error(err)
	}
}

// FlipLinks flips each link between its two targets, over and over, until
// the returned stop is called; stop waits for the last flip to finish.
func FlipLinks(t testing.TB, links map[string][2]string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			for link, targets := range links {
				Relink(t, link, targets[i%2])
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
