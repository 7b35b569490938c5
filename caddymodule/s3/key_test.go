package s3

import "testing"

func TestEscapeKey(t *testing.T) {
	for key, want := range map[string]string{
		"/a/b.txt":          "/a/b.txt",
		"/a b+c=d&e.txt":    "/a%20b%2Bc%3Dd%26e.txt",
		"/(x)~y_z-1.2":      "/%28x%29~y_z-1.2",
		"/é/日本":             "/%C3%A9/%E6%97%A5%E6%9C%AC",
		"/*!'$,;:@?#%[]":    "/%2A%21%27%24%2C%3B%3A%40%3F%23%25%5B%5D",
		"/ABCxyz0189/-_.~/": "/ABCxyz0189/-_.~/",
	} {
		if got := escapeKey(key); got != want {
			t.Errorf("escapeKey(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestJudgedPathRefusesWhatCouldClimbOut(t *testing.T) {
	for _, p := range []string{
		"/a/../b", "/..", "/a/./b", "//a", "/a//b", "/a%2Fb", "/a%b", "/a\\b",
		"/a\x00b", "/a\nb", "a/b", "", "/\xff",
	} {
		if got, ok := judgedPath(p); ok {
			t.Errorf("judgedPath(%q) = %q, want refused", p, got)
		}
	}
	for _, p := range []string{"/a/b", "/a b/+=&(~).txt", "/é", "/dir/", "/"} {
		if got, ok := judgedPath(p); !ok || got != p {
			t.Errorf("judgedPath(%q) = %q, %v, want it unchanged", p, got, ok)
		}
	}
}
