package integration

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// readPathSites starts one Caddy with five sites over the same root:
// file_server and valet_files, each without and behind the gate, and
// valet_files with watch behind the gate. The valet_files sites keep files
// up to 64 KiB in memory, so the generated tree has files on both sides of
// that limit.
type readPathSites struct {
	c                                     *testenv.Caddy
	plain, files, gated, gatedRP, watched string
	hs                                    string // a token for /photos/
	aliceOnly                             string // a token for /photos/alice/
	root                                  string
}

func startReadPathSites(t *testing.T, root string) *readPathSites {
	k := newKeys(t)
	s := &readPathSites{root: root}
	s.plain, s.files = testenv.Addr(testenv.FreePort(t)), testenv.Addr(testenv.FreePort(t))
	s.gated, s.gatedRP = testenv.Addr(testenv.FreePort(t)), testenv.Addr(testenv.FreePort(t))
	s.watched = testenv.Addr(testenv.FreePort(t))
	gate := fmt.Sprintf("valet {\n\t\tkey hs1 hs256 {file.%s}\n\t}", k.hsFile)
	opts := "hide secret.txt .hidden " + filepath.Join(root, "private")
	site := func(addr, handlers string) string {
		return fmt.Sprintf("http://%s {\n\troot * %s\n\t%s\n}\n", addr, root, handlers)
	}
	s.c = testenv.StartCaddy(t,
		site(s.plain, "file_server {\n\t\t"+opts+"\n\t}")+
			site(s.files, "valet_files {\n\t\t"+opts+"\n\t\tmax_file_size 64KiB\n\t}")+
			site(s.gated, gate+"\n\tfile_server {\n\t\t"+opts+"\n\t}")+
			site(s.gatedRP, gate+"\n\tvalet_files {\n\t\t"+opts+"\n\t\tmax_file_size 64KiB\n\t}")+
			site(s.watched, gate+"\n\tvalet_files {\n\t\t"+opts+"\n\t\tmax_file_size 64KiB\n\t\twatch\n\t}"),
		"http://"+s.plain+"/")
	s.hs = mint(t, claims("/photos/"), k.hs)
	s.aliceOnly = mint(t, claims("/photos/alice/"), k.hs)
	return s
}

// genTree writes a deterministic tree of files of many sizes and types,
// directories with and without index files, and hidden files.
func genTree(t *testing.T, root string) []string {
	rng := rand.New(rand.NewPCG(11, 17))
	sizes := []int{0, 1, 10, 511, 4096, 65536, 65537, 200_000}
	exts := []string{".txt", ".html", ".css", ".js", ".json", ".jpg", ".svg", ".bin", ".xyz", ""}
	var paths []string
	for i := range 40 {
		dir := []string{"photos/alice", "photos/bob", "photos/alice/sub", "docs"}[i%4]
		name := fmt.Sprintf("f%02d%s", i, exts[i%len(exts)])
		data := make([]byte, sizes[i%len(sizes)])
		for j := range data {
			data[j] = byte('a' + rng.IntN(26))
		}
		mustWrite(t, filepath.Join(root, dir, name), string(data))
		paths = append(paths, "/"+dir+"/"+name)
	}
	mustWrite(t, filepath.Join(root, "photos/alice/index.html"), "<h1>alice</h1>")
	mustWrite(t, filepath.Join(root, "photos/alice/secret.txt"), "hidden by name")
	mustWrite(t, filepath.Join(root, "photos/alice/.hidden/a.txt"), "hidden by directory")
	mustWrite(t, filepath.Join(root, "private/p.txt"), "hidden by path")
	mustWrite(t, filepath.Join(root, "photos/alice/epoch.txt"), "no useful mtime")
	if err := os.Chtimes(filepath.Join(root, "photos/alice/epoch.txt"), time.Unix(1, 0), time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	return append(paths, "/photos/alice/index.html", "/photos/alice/secret.txt", "/photos/alice/.hidden/a.txt",
		"/private/p.txt", "/photos/alice/epoch.txt", "/photos/alice", "/photos/alice/", "/photos/bob",
		"/photos/bob/", "/photos/alice/f00.txt/", "/photos/alice/missing.txt", "/photos/alice/../bob/f01.html",
		"/photos//alice/f04.txt", "/photos/alice/f00.txt/x")
}

// readPathCase is one request variant, given the validators file_server
// answered with for a plain GET.
type readPathCase struct {
	name   string
	method string
	header func(etag, lastMod string) http.Header
}

var readPathCases = []readPathCase{
	{"get", "GET", nil},
	{"head", "HEAD", nil},
	{"post", "POST", nil},
	{"range first", "GET", hdr("Range", "bytes=0-9")},
	{"range suffix", "GET", hdr("Range", "bytes=-5")},
	{"range open", "GET", hdr("Range", "bytes=5-")},
	{"range multi", "GET", hdr("Range", "bytes=0-0,3-7")},
	{"range unsatisfiable", "GET", hdr("Range", "bytes=1000000-")},
	{"range junk", "GET", hdr("Range", "bytes=x-y")},
	{"head range", "HEAD", hdr("Range", "bytes=0-3")},
	{"if-none-match hit", "GET", func(etag, _ string) http.Header { return http.Header{"If-None-Match": {etag}} }},
	{"if-none-match miss", "GET", hdr("If-None-Match", `"nope"`)},
	{"if-none-match star", "GET", hdr("If-None-Match", "*")},
	{"if-modified-since same", "GET", func(_, lm string) http.Header { return http.Header{"If-Modified-Since": {lm}} }},
	{"if-modified-since old", "GET", hdr("If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT")},
	{"if-range etag", "GET", func(etag, _ string) http.Header {
		return http.Header{"Range": {"bytes=1-2"}, "If-Range": {etag}}
	}},
	{"if-range stale", "GET", func(_, _ string) http.Header {
		return http.Header{"Range": {"bytes=1-2"}, "If-Range": {`"old"`}}
	}},
	{"if-range date", "GET", func(_, lm string) http.Header { return http.Header{"Range": {"bytes=1-2"}, "If-Range": {lm}} }},
	{"if-match wrong", "GET", hdr("If-Match", `"nope"`)},
	{"if-unmodified-since old", "GET", hdr("If-Unmodified-Since", "Mon, 02 Jan 2006 15:04:05 GMT")},
}

func hdr(name, value string) func(string, string) http.Header {
	return func(string, string) http.Header { return http.Header{name: {value}} }
}

// answer is what the differential test compares.
type answer struct {
	status int
	header map[string]string
	body   string
}

var boundary = regexp.MustCompile(`[0-9a-f]{30,}`)

// comparedHeaders are the headers a file server decides.
var comparedHeaders = []string{"Content-Type", "Content-Length", "Etag", "Last-Modified", "Accept-Ranges",
	"Vary", "Content-Range", "Location", "Allow", "Content-Encoding", "Referrer-Policy", "Valet-Reason"}

func fetch(t *testing.T, client *http.Client, method, url string, h http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	a := answer{status: resp.StatusCode, header: map[string]string{}, body: boundary.ReplaceAllString(string(body), "BOUNDARY")}
	for _, name := range comparedHeaders {
		if v, ok := resp.Header[name]; ok {
			a.header[name] = boundary.ReplaceAllString(strings.Join(v, ", "), "BOUNDARY")
		}
	}
	return a
}

func rawClient() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// TestReadPathMatchesFileServer sends every request variant for every path
// of a generated tree to file_server and to valet_files (each twice, so the
// second one is answered from the cache), without and behind the gate, and
// requires the same status, file-server headers and body.
func TestReadPathMatchesFileServer(t *testing.T) {
	root := t.TempDir()
	paths := genTree(t, root)
	s := startReadPathSites(t, root)
	time.Sleep(2100 * time.Millisecond) // past the racy window, so files get cached
	client := rawClient()
	compared := 0
	for _, pair := range []struct{ want, got, query string }{
		{s.plain, s.files, ""},
		{s.gated, s.gatedRP, "?vk=" + s.hs},
		{s.gated, s.watched, "?vk=" + s.hs},
	} {
		for _, p := range paths {
			base := fetch(t, client, "GET", "http://"+pair.want+p+pair.query, nil)
			etag, lastMod := base.header["Etag"], base.header["Last-Modified"]
			for _, c := range readPathCases {
				var h http.Header
				if c.header != nil {
					h = c.header(etag, lastMod)
				}
				want := fetch(t, client, c.method, "http://"+pair.want+p+pair.query, h)
				for round := range 2 {
					got := fetch(t, client, c.method, "http://"+pair.got+p+pair.query, h)
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("%s %s (%s, round %d):\nfile_server: %d %v %.80q\nvalet_files: %d %v %.80q",
							c.method, p+pair.query[:min(len(pair.query), 4)], c.name, round,
							want.status, want.header, want.body, got.status, got.header, got.body)
					}
					compared++
				}
			}
		}
	}
	hits := filesMetric(t, s.c, "hit")
	t.Logf("%d answers compared; valet_files: %.0f hits, %.0f misses, %.0f streamed, %.0f passed to file_server",
		compared, hits, filesMetric(t, s.c, "miss"), filesMetric(t, s.c, "stream"), filesMetric(t, s.c, "pass"))
	if hits < 500 {
		t.Fatalf("only %.0f cache hits: the comparison did not exercise the cache", hits)
	}
}

var filesMetricLine = regexp.MustCompile(`(?m)^caddy_valet_files_requests_total\{result="(\w+)"\} ([0-9.e+]+)$`)

// filesMetric reads one result's count from the admin /metrics.
func filesMetric(t *testing.T, c *testenv.Caddy, result string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + c.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, m := range filesMetricLine.FindAllStringSubmatch(string(body), -1) {
		if m[1] == result {
			n, _ := strconv.ParseFloat(m[2], 64)
			return n
		}
	}
	return 0
}

// TestReadPathFreshness changes a cached file on disk in every way and
// requires the very next request to see the change, by default (a stat per
// request) and with watch (the watcher caught up with the kernel, or a
// stat): the staleness bound is zero.
func TestReadPathFreshness(t *testing.T) {
	root := t.TempDir()
	s := startReadPathSites(t, root)
	for _, site := range []struct{ name, addr string }{{"stat", s.gatedRP}, {"watch", s.watched}} {
		t.Run(site.name, func(t *testing.T) {
			dir := filepath.Join(root, "photos", site.name)
			file := filepath.Join(dir, "a.txt")
			mustWrite(t, file, "version one")
			client := rawClient()
			url := "http://" + site.addr + "/photos/" + site.name + "/a.txt?vk=" + s.hs
			expect := func(step string, status int, body string) { // on the very next request
				t.Helper()
				if got := fetch(t, client, "GET", url, nil); got.status != status || got.body != body {
					t.Fatalf("%s: got %d %q, want %d %q", step, got.status, got.body, status, body)
				}
			}
			settle := func() { // let the file age past the racy window, then cache it
				time.Sleep(2100 * time.Millisecond)
				before := filesMetric(t, s.c, "hit")
				fetch(t, client, "GET", url, nil)
				fetch(t, client, "GET", url, nil)
				if filesMetric(t, s.c, "hit") <= before {
					t.Fatal("the file was not served from the cache")
				}
			}
			settle()
			expect("cached", 200, "version one")

			f, err := os.OpenFile(file, os.O_WRONLY, 0) // same size, in place
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte("VERSION"), 0)
			f.Close()
			expect("written in place", 200, "VERSION one")

			settle()
			tmp := filepath.Join(dir, ".a.tmp")
			mustWrite(t, tmp, "version two")
			if err := os.Rename(tmp, file); err != nil {
				t.Fatal(err)
			}
			expect("renamed over", 200, "version two")

			settle()
			if err := os.Truncate(file, 7); err != nil {
				t.Fatal(err)
			}
			expect("truncated", 200, "version")

			settle()
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			expect("deleted", 404, "")
		})
	}
}

// TestReadPathLimitsAndStreaming checks that a file over max_file_size is
// streamed, whole and correct, and never held in memory.
func TestReadPathLimitsAndStreaming(t *testing.T) {
	root := t.TempDir()
	big := bytes.Repeat([]byte("ghijklmnopqrstuv"), 1<<16) // 1 MiB, over the 64 KiB limit
	mustWrite(t, filepath.Join(root, "photos/big.bin"), string(big))
	mustWrite(t, filepath.Join(root, "photos/small.bin"), "small")
	s := startReadPathSites(t, root)
	time.Sleep(2100 * time.Millisecond)
	client := rawClient()
	for range 3 {
		got := fetch(t, client, "GET", "http://"+s.files+"/photos/big.bin", nil)
		if got.status != 200 || got.body != string(big) {
			t.Fatalf("big file: %d, %d bytes", got.status, len(got.body))
		}
		fetch(t, client, "GET", "http://"+s.files+"/photos/small.bin", nil)
	}
	if n := filesMetric(t, s.c, "stream"); n != 3 {
		t.Fatalf("big file streamed %v times, want 3", n)
	}
	if n := filesMetric(t, s.c, "hit"); n != 2 {
		t.Fatalf("small file hit %v times, want 2", n)
	}
	if bytes := cacheBytes(t, s.c); bytes <= 5 || bytes > 64<<10 {
		t.Fatalf("cache holds %v bytes: the big file was buffered, or the small one not", bytes)
	}
}

var cacheBytesLine = regexp.MustCompile(`(?m)^caddy_valet_files_cache_bytes ([0-9.e+]+)$`)

func cacheBytes(t *testing.T, c *testenv.Caddy) float64 {
	resp, err := http.Get("http://" + c.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := cacheBytesLine.FindStringSubmatch(string(body))
	if m == nil {
		t.Fatalf("no cache_bytes metric")
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	return n
}

// TestReadPathConfinesSymlinks: a link read and cached under a wide scope is
// refused to a token whose scope it leaves, and a link out of the site is
// refused to everyone.
func TestReadPathConfinesSymlinks(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	mustWrite(t, filepath.Join(root, "photos/bob/b.txt"), "bob's")
	mustWrite(t, filepath.Join(outside, "o.txt"), "outside")
	mustWrite(t, filepath.Join(root, "photos/alice/own.txt"), "alice's")
	for link, target := range map[string]string{
		"photos/alice/to-bob":  "../bob/b.txt",
		"photos/alice/to-own":  "own.txt",
		"photos/alice/to-root": filepath.Join(outside, "o.txt"),
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	s := startReadPathSites(t, root)
	time.Sleep(2100 * time.Millisecond)
	client := rawClient()
	get := func(p, tok string) answer {
		return fetch(t, client, "GET", "http://"+s.gatedRP+p+"?vk="+tok, nil)
	}
	for range 2 { // the second round is answered from the cache
		if a := get("/photos/alice/to-bob", s.hs); a.status != 200 || a.body != "bob's" {
			t.Fatalf("link inside the /photos/ scope: %d %q", a.status, a.body)
		}
	}
	if a := get("/photos/alice/to-bob", s.aliceOnly); a.status != 403 {
		t.Fatalf("link out of the /photos/alice/ scope, cached under /photos/: %d %q", a.status, a.body)
	}
	if a := get("/photos/alice/to-own", s.aliceOnly); a.status != 200 || a.body != "alice's" {
		t.Fatalf("link inside the scope: %d %q", a.status, a.body)
	}
	if a := get("/photos/alice/to-root", s.hs); a.status != 403 {
		t.Fatalf("absolute link out of the site: %d %q", a.status, a.body)
	}
}

// TestReadPathRevalidateBound: with `revalidate 1s`, a change on disk is
// seen within the stated bound (1 s, plus the time to poll).
func TestReadPathRevalidateBound(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "a.txt")
	mustWrite(t, file, "version one")
	addr := testenv.Addr(testenv.FreePort(t))
	testenv.StartCaddy(t, fmt.Sprintf("http://%s {\n\troot * %s\n\tvalet_files {\n\t\trevalidate 1s\n\t}\n}\n", addr, root), "http://"+addr+"/")
	time.Sleep(2100 * time.Millisecond) // past the racy window
	client := rawClient()
	url := "http://" + addr + "/a.txt"
	for range 2 {
		if got := fetch(t, client, "GET", url, nil); got.body != "version one" {
			t.Fatalf("got %q", got.body)
		}
	}
	tmp := filepath.Join(root, ".a.tmp")
	mustWrite(t, tmp, "version two")
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	for fetch(t, client, "GET", url, nil).body != "version two" {
		if time.Since(changed) > 1300*time.Millisecond {
			t.Fatalf("still stale %v after the change, beyond the 1s bound", time.Since(changed))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("change seen after %v", time.Since(changed).Round(time.Millisecond))
}
