package testenv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Tree describes everything under dir: each file with its content, each
// directory, each symlink with its target, so a test can show a failed
// write left the directory exactly as it was.
func Tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while we walked: a server cleaning up
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			m[rel] = "link:" + target
			return err
		case d.IsDir():
			m[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			m[rel] = string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// SameTree fails the test when dir no longer matches an earlier Tree.
func SameTree(t testing.TB, dir string, before map[string]string) {
	t.Helper()
	after := Tree(t, dir)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("directory changed:\nbefore %v\nafter  %v", brief(before), brief(after))
	}
}

// brief keeps big file contents out of failure messages.
func brief(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if len(v) > 64 {
			v = fmt.Sprintf("%.32q... (%d bytes)", v, len(v))
		}
		out[k] = v
	}
	return out
}
