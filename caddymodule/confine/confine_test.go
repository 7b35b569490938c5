package confine

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

const secret = "SECRET-bob-do-not-leak"

// tree builds a site root with every link shape the policies judge, and a
// secret outside it. It returns the site root.
func tree(t testing.TB) string {
	t.Helper()
	base := t.TempDir()
	site := filepath.Join(base, "site")
	files := map[string]string{
		"files/alice/a.txt":          "alice-a",
		"files/alice/sub/deep.txt":   "alice-deep",
		"files/alice/d1/d2/note.txt": "alice-note",
		"files/bob/secret.txt":       secret,
		"public.txt":                 "public",
	}
	for name, body := range files {
		p := filepath.Join(site, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(body), 0o644))
	}
	must(t, os.WriteFile(filepath.Join(base, "outside.txt"), []byte(secret), 0o644))
	links := map[string]string{
		"files/alice/inlink.txt":    "a.txt",
		"files/alice/insub":         "sub",
		"files/alice/sub/up.txt":    "../a.txt",
		"files/alice/link.txt":      "../bob/secret.txt",
		"files/alice/linkdir":       "../bob",
		"files/alice/d1/d2/far":     "../../../bob/secret.txt",
		"files/alice/d1/viadir":     "../linkdir",
		"files/alice/abs.txt":       filepath.Join(base, "outside.txt"),
		"files/alice/absin.txt":     filepath.Join(site, "files/alice/a.txt"),
		"files/alice/rootout.txt":   "../../../outside.txt",
		"files/alice/loop1":         "loop2",
		"files/alice/loop2":         "loop1",
		"files/alice/self":          "self",
		"files/alice/dangling.txt":  "missing.txt",
		"files/carol":               "alice",
		"files/pub.txt":             "../public.txt",
		"files/alice/roundtrip.txt": "../alice/a.txt",
		"files/alice/vialink.txt":   "insub/deep.txt",
		"files/alice/sub/in.txt":    "./../sub/deep.txt",
	}
	// chains of links, 8 and 41 long, ending at a.txt
	for n, prefix := range map[int]string{8: "c8-", 41: "c41-"} {
		for i := 1; i <= n; i++ {
			target := prefix + strconv.Itoa(i+1)
			if i == n {
				target = "a.txt"
			}
			links["files/alice/"+prefix+strconv.Itoa(i)] = target
		}
	}
	for name, target := range links {
		must(t, os.Symlink(target, filepath.Join(site, name)))
	}
	return site
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type want int

const (
	ok        want = iota // the body is read
	refused               // ErrSymlink
	notExist              // fs.ErrNotExist
	outOfView             // ErrOutside
)

func (w want) String() string {
	return [...]string{"ok", "symlink", "not exist", "outside"}[w]
}

// engines runs f with each way of resolving paths this system has: openat2
// (Linux) and os.Root.
func engines(t *testing.T, f func(t *testing.T)) {
	t.Run("os.Root", func(t *testing.T) {
		had := haveOpenat2.Load()
		haveOpenat2.Store(false)
		defer haveOpenat2.Store(had)
		f(t)
	})
	if haveOpenat2.Load() {
		t.Run("openat2", f)
	} else if runtime.GOOS == "linux" {
		t.Error("openat2 is unavailable on this Linux system; only os.Root was tested")
	}
}

func TestPolicies(t *testing.T) {
	engines(t, func(t *testing.T) { testPolicies(t, tree(t)) })
}

// The site root's own path may go through a link (the operator's): every
// judgement stays the same, through the link-free fast path's fallback.
func TestPoliciesThroughLinkedSiteRoot(t *testing.T) {
	engines(t, func(t *testing.T) {
		site := tree(t)
		linked := filepath.Join(t.TempDir(), "linked-site")
		must(t, os.Symlink(site, linked))
		testPolicies(t, linked)
	})
}

func testPolicies(t *testing.T, site string) {
	type c struct {
		scope, path string
		scopeW      want
		neverW      want
		body        string
	}
	cases := []c{
		{"/files/alice/", "/files/alice/a.txt", ok, ok, "alice-a"},
		{"/files/alice/", "/files/alice/sub/deep.txt", ok, ok, "alice-deep"},
		{"/files/alice/", "/files/alice/inlink.txt", ok, refused, "alice-a"},
		{"/files/alice/", "/files/alice/insub/deep.txt", ok, refused, "alice-deep"},
		{"/files/alice/", "/files/alice/sub/up.txt", ok, refused, "alice-a"},
		{"/files/alice/", "/files/alice/link.txt", refused, refused, ""},
		{"/files/alice/", "/files/alice/linkdir/secret.txt", refused, refused, ""},
		{"/files/alice/", "/files/alice/d1/d2/far", refused, refused, ""},
		{"/files/alice/", "/files/alice/d1/viadir/secret.txt", refused, refused, ""},
		{"/files/alice/", "/files/alice/abs.txt", refused, refused, ""},
		{"/files/alice/", "/files/alice/absin.txt", refused, refused, ""},
		{"/files/alice/", "/files/alice/rootout.txt", refused, refused, ""},
		{"/files/alice/", "/files/alice/loop1", refused, refused, ""},
		{"/files/alice/", "/files/alice/self", refused, refused, ""},
		{"/files/alice/", "/files/alice/dangling.txt", notExist, refused, ""},
		// a target that leaves the scope for a step is refused, even when it
		// comes back; a link through another link inside the scope is not
		{"/files/alice/", "/files/alice/roundtrip.txt", refused, refused, ""},
		{"/files/alice/", "/files/alice/vialink.txt", ok, refused, "alice-deep"},
		{"/files/alice/", "/files/alice/sub/in.txt", ok, refused, "alice-deep"},
		// chains: 8 links are followed, 41 are refused (Linux follows 40)
		{"/files/alice/", "/files/alice/c8-1", ok, refused, "alice-a"},
		{"/files/alice/", "/files/alice/c41-1", refused, refused, ""},
		{"/files/alice/", "/files/alice/nothing.txt", notExist, notExist, ""},
		{"/files/alice/", "/files/bob/secret.txt", outOfView, outOfView, ""},
		{"/files/alice/", "/files/alice2/x", outOfView, outOfView, ""},
		// the scope directory itself is a link (inside the root): refused
		{"/files/carol/", "/files/carol/a.txt", refused, refused, ""},
		// exact-file scopes: only that file, and never through a link
		{"/files/alice/a.txt", "/files/alice/a.txt", ok, ok, "alice-a"},
		{"/files/alice/inlink.txt", "/files/alice/inlink.txt", refused, refused, ""},
		{"/files/alice/link.txt", "/files/alice/link.txt", refused, refused, ""},
		{"/files/alice/a.txt", "/files/alice/inlink.txt", outOfView, outOfView, ""},
		// the whole site: a link that stays in the root is inside the scope
		{"/", "/files/alice/link.txt", ok, refused, secret},
		{"/", "/files/pub.txt", ok, refused, "public"},
		{"/", "/files/alice/rootout.txt", refused, refused, ""},
		{"/", "/files/alice/abs.txt", refused, refused, ""},
		{"/files/", "/files/alice/link.txt", ok, refused, secret},
		{"/files/", "/files/pub.txt", refused, refused, ""},
	}
	for _, tc := range cases {
		for _, p := range []Policy{Scope, Never} {
			w := tc.scopeW
			if p == Never {
				w = tc.neverW
			}
			t.Run(p.String()+tc.scope+"|"+tc.path, func(t *testing.T) {
				f, err := Open(site, tc.scope, tc.path, p)
				check(t, f, err, w, tc.body)
				d, err := OpenDir(site, tc.scope, p)
				if err != nil {
					check(t, nil, err, w, "")
					return
				}
				defer d.Close()
				_, err = d.Stat(tc.path)
				check(t, nil, err, w, "")
			})
		}
	}
}

// check asserts the outcome of an open (or, with f nil, of a stat).
func check(t *testing.T, f *os.File, err error, w want, body string) {
	t.Helper()
	if f != nil {
		defer f.Close()
	}
	var got want
	switch {
	case err == nil:
		got = ok
	case errors.Is(err, ErrSymlink):
		got = refused
	case errors.Is(err, ErrOutside):
		got = outOfView
	case errors.Is(err, fs.ErrNotExist):
		got = notExist
	default:
		t.Fatalf("unexpected error %v", err)
	}
	if got != w {
		t.Fatalf("got %v (%v), want %v", got, err, w)
	}
	if err != nil && !errors.Is(err, fs.ErrPermission) && w != notExist {
		t.Fatalf("refusal %v is not fs.ErrPermission", err)
	}
	if err != nil && strings.Contains(err.Error(), "bob") && !strings.Contains(err.Error(), "/files/bob") {
		t.Fatalf("error names a link target: %v", err)
	}
	if f != nil && body != "" {
		b, err := io.ReadAll(f)
		must(t, err)
		if string(b) != body {
			t.Fatalf("read %q, want %q", b, body)
		}
	}
}

func TestFollowIsPlainOS(t *testing.T) {
	site := tree(t)
	for _, p := range []string{"/files/alice/link.txt", "/files/alice/abs.txt", "/files/carol/a.txt"} {
		scope := "/files/alice/"
		if strings.HasPrefix(p, "/files/carol") {
			scope = "/files/carol/"
		}
		f, err := Open(site, scope, p, Follow)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		f.Close()
	}
	if _, err := Open(site, "/files/alice/", "/files/bob/secret.txt", Follow); !errors.Is(err, ErrOutside) {
		t.Fatalf("follow still keeps to the scope's names: %v", err)
	}
}

func TestParsePolicy(t *testing.T) {
	for in, want := range map[string]Policy{"": Scope, "scope": Scope, "never": Never, "follow": Follow} {
		if got, err := ParsePolicy(in); err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"Scope", "on", "off", "if_owner"} {
		if _, err := ParsePolicy(in); err == nil {
			t.Errorf("ParsePolicy(%q) accepted", in)
		}
	}
}

func TestBadScope(t *testing.T) {
	site := tree(t)
	for _, s := range []string{"", "files/", "/files/../", "/files//alice/", "/./"} {
		if _, err := OpenDir(site, s, Scope); !errors.Is(err, ErrOutside) {
			t.Errorf("OpenDir(%q) = %v", s, err)
		}
	}
}

// TestSwapWhileReading flips a link between a target inside the scope and
// one outside while readers open it through the scope: no reader may ever
// see the secret, whichever way each race goes.
func TestSwapWhileReading(t *testing.T) { engines(t, testSwapWhileReading) }

func testSwapWhileReading(t *testing.T) {
	site := tree(t)
	link := filepath.Join(site, "files/alice/flip.txt")
	dirLink := filepath.Join(site, "files/alice/flipdir")
	stop := testenv.FlipLinks(t, map[string][2]string{
		link:    {"a.txt", "../bob/secret.txt"},
		dirLink: {"sub", "../bob"},
	})
	deadline := time.Now().Add(time.Second)
	var reads, refusals int
	for time.Now().Before(deadline) {
		for _, p := range []Policy{Scope, Never} {
			for _, name := range []string{"/files/alice/flip.txt", "/files/alice/flipdir/secret.txt", "/files/alice/flipdir/deep.txt"} {
				f, err := Open(site, "/files/alice/", name, p)
				if err != nil {
					refusals++
					continue
				}
				b, _ := io.ReadAll(f)
				f.Close()
				reads++
				if strings.Contains(string(b), secret) {
					t.Fatalf("%s under %v read the secret", name, p)
				}
			}
		}
	}
	stop()
	if reads == 0 || refusals == 0 {
		t.Fatalf("the race was not exercised: %d reads, %d refusals", reads, refusals)
	}
}

func TestWidestScope(t *testing.T) {
	scopes := []string{"/files/alice/a.txt", "/files/alice/", "/files/", "/other/"}
	for path, want := range map[string]string{
		"/files/alice/a.txt": "/files/",
		"/files/bob/b.txt":   "/files/",
		"/other/x":           "/other/",
		"/nowhere":           "/nowhere",
	} {
		if got := WidestScope(scopes, path); got != want {
			t.Errorf("WidestScope(%q) = %q, want %q", path, got, want)
		}
	}
}
