//go:build !linux

package confine

import (
	"errors"
	"os"
	"sync/atomic"
)

// oPath: without openat2, Stat goes through os.Root and never uses it.
const oPath = 0

// errNoOpenat2 says openat2 cannot be used here: only Linux has it.
var errNoOpenat2 = errors.New("openat2 unavailable")

func openScopeAt2(site, dir string) (int, error) { return -1, errNoOpenat2 }

func (d *Dir) openAt2(rel string, flags int) (*os.File, error) { return nil, errNoOpenat2 }

// haveOpenat2 is false: there is no openat2 here.
var haveOpenat2 atomic.Bool
