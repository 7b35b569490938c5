package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// secretText is what no answer may ever contain a piece of: the other
// tenant's file and a file outside the site root are made of it.
var secretText = strings.Repeat("S3CR3T", 64)

// leaks reports whether body contains any 3-byte piece of the secret, so a
// Range answer with part of it is caught too.
func leaks(body string) bool {
	for i := range 6 {
		if strings.Contains(body, secretText[i:i+3]) {
			return true
		}
	}
	return false
}

// symlinkSites is a real Caddy with the same site tree behind four gates,
// one per symlink policy and one with no_token pass, set up like
// Caddyfile.example (root, valet, valet_store, file_server) with browsing on.
type symlinkSites struct {
	*testenv.Caddy
	root  string
	addr  map[string]string // policy ("" is the default; "pass") -> host:port
	alice string            // a token for /files/alice/
	keys  *keys
}

func startSymlinkSites(t *testing.T) *symlinkSites {
	t.Helper()
	s := &symlinkSites{keys: newKeys(t), addr: map[string]string{}}
	base := t.TempDir()
	s.root = filepath.Join(base, "site")
	for name, body := range map[string]string{
		"files/alice/a.txt":          "alice-a",
		"files/alice/sub/deep.txt":   "alice-deep",
		"files/alice/d1/d2/note.txt": "alice-note",
		"files/bob/secret.txt":       secretText,
	} {
		mustWrite(t, filepath.Join(s.root, name), body)
	}
	mustWrite(t, filepath.Join(base, "outside/secret.txt"), secretText)
	for name, target := range map[string]string{
		"files/alice/inlink.txt": "a.txt",
		"files/alice/insub":      "sub",
		"files/alice/link.txt":   "../bob/secret.txt",
		"files/alice/linkdir":    "../bob",
		"files/alice/d1/d2/far":  "../../../bob/secret.txt",
		"files/alice/d1/viadir":  "../linkdir",
		"files/alice/abs.txt":    filepath.Join(base, "outside/secret.txt"),
		"files/alice/absdir":     filepath.Join(base, "outside"),
		"files/alice/loop":       "loop2",
		"files/alice/loop2":      "loop",
		"files/alice/flip.txt":   "a.txt",
		"files/alice/flipdir":    "sub",
		"files/carol":            "bob",
	} {
		if err := os.Symlink(target, filepath.Join(s.root, name)); err != nil {
			t.Fatal(err)
		}
	}
	var sites strings.Builder
	for _, policy := range []string{"", "never", "follow", "pass"} {
		addr := testenv.Addr(testenv.FreePort(t))
		s.addr[policy] = addr
		option := ""
		switch policy {
		case "never", "follow":
			option = "symlinks " + policy
		case "pass":
			option = "no_token pass"
		}
		fmt.Fprintf(&sites, `http://%s {
	root * %s
	valet {
		key hs1 hs256 {file.%s}
		%s
	}
	valet_store * %s
	file_server {
		hide .valet-*
		browse
	}
}
`, addr, s.root, s.keys.hsFile, option, s.root)
	}
	s.Caddy = testenv.StartCaddy(t, sites.String(), "http://"+s.addr[""]+"/")
	s.alice = mint(t, claims("/files/alice/"), s.keys.hs)
	return s
}

// get sends a request with the token and returns the answer; extra are
// header name/value pairs.
func (s *symlinkSites) get(t *testing.T, policy, method, path, tok string, extra ...string) (*http.Response, string) {
	t.Helper()
	return rawRequest(t, s.addr[policy], method, path+"?vk="+tok, extra...)
}

// TestSymlinks starts one Caddy with the four sites and runs every symlink
// case against it.
func TestSymlinks(t *testing.T) {
	s := startSymlinkSites(t)
	t.Run("shapes", func(t *testing.T) { symlinkShapes(t, s) })
	t.Run("scope directory and exact file", func(t *testing.T) { symlinkScopeDirectoryAndExactFile(t, s) })
	t.Run("browse", func(t *testing.T) { symlinkBrowse(t, s) })
	t.Run("without token", func(t *testing.T) { symlinkWithoutToken(t, s) })
	t.Run("swapped in flight", func(t *testing.T) { symlinkSwappedInFlight(t, s) })
}

// symlinkShapes asks every link shape through every policy with GET,
// HEAD and a Range GET: what the policy follows is served, the rest is
// 403 symlink, and no answer carries a byte of the secret.
func symlinkShapes(t *testing.T, s *symlinkSites) {
	const (
		serve  = 200
		refuse = 403
	)
	cases := []struct {
		path                 string
		scope, never, follow int
		body                 string // when served
		followLeaksTheSecret bool
	}{
		{"/files/alice/a.txt", serve, serve, serve, "alice-a", false},
		{"/files/alice/sub/deep.txt", serve, serve, serve, "alice-deep", false},
		{"/files/alice/inlink.txt", serve, refuse, serve, "alice-a", false},        // file link inside the scope
		{"/files/alice/insub/deep.txt", serve, refuse, serve, "alice-deep", false}, // directory link inside the scope
		{"/files/alice/link.txt", refuse, refuse, serve, "", true},                 // stays in the root, leaves the scope
		{"/files/alice/linkdir/secret.txt", refuse, refuse, serve, "", true},       // directory link out of the scope
		{"/files/alice/d1/d2/far", refuse, refuse, serve, "", true},                // two levels deep
		{"/files/alice/d1/viadir/secret.txt", refuse, refuse, serve, "", true},     // a link to a link out
		{"/files/alice/abs.txt", refuse, refuse, serve, "", true},                  // absolute, out of the site root
		{"/files/alice/absdir/secret.txt", refuse, refuse, serve, "", true},        // absolute directory link
		{"/files/alice/loop", refuse, refuse, http.StatusBadRequest, "", false},    // a loop
	}
	for _, tc := range cases {
		for _, policy := range []string{"", "never", "follow"} {
			want := map[string]int{"": tc.scope, "never": tc.never, "follow": tc.follow}[policy]
			for _, m := range []struct{ method, rng string }{{"GET", ""}, {"HEAD", ""}, {"GET", "bytes=2-9"}} {
				name := fmt.Sprintf("%s %s %s %s", policyName(policy), m.method, m.rng, tc.path)
				var extra []string
				if m.rng != "" {
					extra = []string{"Range", m.rng}
				}
				resp, body := s.get(t, policy, m.method, tc.path, s.alice, extra...)
				got := resp.StatusCode
				if policy == "follow" { // the operating system's behaviour
					if tc.followLeaksTheSecret && m.method == "GET" && !leaks(body) {
						t.Errorf("%s: follow did not follow the link (%d %q): the test tree is wrong", name, got, body)
					}
					if want == serve && m.rng != "" {
						want = http.StatusPartialContent
					}
					if got != want {
						t.Errorf("%s: status %d, want %d", name, got, want)
					}
					continue
				}
				if leaks(body) || leaks(strings.Join(resp.Header.Values("Content-Range"), "")) {
					t.Fatalf("%s: the answer carries the secret: %d %q", name, got, body)
				}
				switch {
				case want == serve && m.rng != "":
					want = http.StatusPartialContent
					if body != tc.body[2:min(10, len(tc.body))] {
						t.Errorf("%s: range body %q", name, body)
					}
				case want == serve && m.method == "GET" && body != tc.body:
					t.Errorf("%s: body %q, want %q", name, body, tc.body)
				case want == refuse:
					if r := resp.Header.Get("Valet-Reason"); r != "symlink" {
						t.Errorf("%s: Valet-Reason %q, want symlink", name, r)
					}
					if m.method == "GET" && body != "symlink\n" {
						t.Errorf("%s: body %q, want the reason", name, body)
					}
				}
				if got != want {
					t.Errorf("%s: status %d, want %d (%s)", name, got, want, resp.Header.Get("Valet-Reason"))
				}
			}
		}
	}
}

func policyName(p string) string {
	if p == "" {
		return "scope(default)"
	}
	return p
}

// symlinkScopeDirectoryAndExactFile: a token whose scope directory is
// itself a link, and exact-file tokens naming a link, are refused.
func symlinkScopeDirectoryAndExactFile(t *testing.T, s *symlinkSites) {
	carol := mint(t, claims("/files/carol/"), s.keys.hs)
	inlink := mint(t, claims("/files/alice/inlink.txt"), s.keys.hs)
	exact := mint(t, claims("/files/alice/a.txt"), s.keys.hs)
	for _, policy := range []string{"", "never"} {
		for _, tc := range []struct {
			path, tok string
			status    int
			reason    string
		}{
			{"/files/carol/secret.txt", carol, 403, "symlink"},
			{"/files/carol/", carol, 403, "symlink"},
			{"/files/alice/inlink.txt", inlink, 403, "symlink"},
			{"/files/alice/a.txt", exact, 200, ""},
		} {
			resp, body := s.get(t, policy, "GET", tc.path, tc.tok)
			if resp.StatusCode != tc.status || resp.Header.Get("Valet-Reason") != tc.reason || leaks(body) {
				t.Errorf("%s %s: %d %q %q", policyName(policy), tc.path, resp.StatusCode, resp.Header.Get("Valet-Reason"), body)
			}
		}
	}
}

// symlinkBrowse: a directory listing neither shows nor leads to the
// links the policy does not follow.
func symlinkBrowse(t *testing.T, s *symlinkSites) {
	list := func(policy, path string) []string {
		resp, body := s.get(t, policy, "GET", path, s.alice, "Accept", "application/json")
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %q", policyName(policy), path, resp.StatusCode, body)
		}
		var items []struct {
			Name string `json:"name"`
			Size int64  `json:"size"`
		}
		if err := json.Unmarshal([]byte(body), &items); err != nil {
			t.Fatalf("%s: %v: %s", path, err, body)
		}
		var names []string
		for _, it := range items {
			if it.Size == int64(len(secretText)) {
				t.Errorf("%s %s: %s shows the secret's size", policyName(policy), path, it.Name)
			}
			names = append(names, it.Name)
		}
		slices.Sort(names)
		return names
	}
	want := map[string]map[string][]string{
		"": {
			"/files/alice/":       {"a.txt", "d1/", "flip.txt", "flipdir/", "inlink.txt", "insub/", "sub/"},
			"/files/alice/d1/d2/": {"note.txt"},
			"/files/alice/d1/":    {"d2/"},
		},
		"never": {
			"/files/alice/":       {"a.txt", "d1/", "sub/"},
			"/files/alice/d1/d2/": {"note.txt"},
			"/files/alice/d1/":    {"d2/"},
		},
	}
	for policy, dirs := range want {
		for dir, names := range dirs {
			if got := list(policy, dir); !slices.Equal(got, names) {
				t.Errorf("%s listing of %s: %v, want %v", policyName(policy), dir, got, names)
			}
		}
	}
	// A listing reached through a link out of the scope is refused.
	for _, policy := range []string{"", "never"} {
		resp, body := s.get(t, policy, "GET", "/files/alice/linkdir/", s.alice, "Accept", "application/json")
		if resp.StatusCode != 403 || resp.Header.Get("Valet-Reason") != "symlink" || strings.Contains(body, "secret") {
			t.Errorf("%s listing through linkdir: %d %q", policyName(policy), resp.StatusCode, body)
		}
	}
}

// symlinkSwappedInFlight: a goroutine flips a file link and a directory
// link between a target inside the scope and one outside while clients
// hammer them with GET, HEAD and Range for two seconds. No answer may carry
// a byte of the secret; each is served or refused with symlink.
func symlinkSwappedInFlight(t *testing.T, s *symlinkSites) {
	stop := testenv.FlipLinks(t, map[string][2]string{
		filepath.Join(s.root, "files/alice/flip.txt"): {"a.txt", "../bob/secret.txt"},
		filepath.Join(s.root, "files/alice/flipdir"):  {"sub", "../bob"},
	})
	var served, refused atomic.Int64
	var clients sync.WaitGroup
	deadline := time.Now().Add(2 * time.Second)
	for c := range 4 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			policy := []string{"", "never"}[c%2]
			for i := 0; time.Now().Before(deadline); i++ {
				path := []string{"/files/alice/flip.txt", "/files/alice/flipdir/deep.txt", "/files/alice/flipdir/secret.txt"}[i%3]
				method, extra := "GET", []string(nil)
				switch i % 4 {
				case 1:
					method = "HEAD"
				case 2:
					extra = []string{"Range", "bytes=1-20"}
				}
				resp, body := s.get(t, policy, method, path, s.alice, extra...)
				if leaks(body) {
					t.Errorf("%s %s %s: the secret leaked: %q", policyName(policy), method, path, body)
					return
				}
				switch {
				case resp.StatusCode == 200 || resp.StatusCode == 206:
					served.Add(1)
				case resp.StatusCode == 403 && resp.Header.Get("Valet-Reason") == "symlink",
					resp.StatusCode == 404 && path == "/files/alice/flipdir/secret.txt":
					refused.Add(1)
				default:
					t.Errorf("%s %s %s: %d %q %q", policyName(policy), method, path, resp.StatusCode, resp.Header.Get("Valet-Reason"), body)
				}
			}
		}()
	}
	clients.Wait()
	stop()
	t.Logf("%d served, %d refused", served.Load(), refused.Load())
	if served.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("the race was not exercised: %d served, %d refused", served.Load(), refused.Load())
	}
}

// symlinkWithoutToken: a request no_token pass lets through is
// confined to the site root: links inside it are followed, links out of it
// are refused.
func symlinkWithoutToken(t *testing.T, s *symlinkSites) {
	for _, tc := range []struct {
		path   string
		status int
		reason string
	}{
		{"/files/alice/a.txt", 200, ""},
		{"/files/alice/link.txt", 200, ""}, // bob's file is inside the site root
		{"/files/alice/abs.txt", 403, "symlink"},
		{"/files/alice/absdir/secret.txt", 403, "symlink"},
	} {
		resp, _ := rawRequest(t, s.addr["pass"], "GET", tc.path)
		if resp.StatusCode != tc.status || resp.Header.Get("Valet-Reason") != tc.reason {
			t.Errorf("%s: %d %q", tc.path, resp.StatusCode, resp.Header.Get("Valet-Reason"))
		}
	}
}
