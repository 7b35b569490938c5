package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// streamGateway serves a root holding an HLS stream made by ffmpeg under
// /photos/alice/video/, a file of Alice's and one of Bob's, with path
// tokens, signed cookies and directory listings on.
type streamGateway struct {
	*testenv.Caddy
	addr string
	root string
	keys *keys
}

func startStreamGateway(t *testing.T, gateOptions string) *streamGateway {
	t.Helper()
	ffmpeg := testenv.Require(t, "ffmpeg")
	g := &streamGateway{addr: testenv.Addr(testenv.FreePort(t)), root: t.TempDir(), keys: newKeys(t)}
	video := filepath.Join(g.root, "photos/alice/video")
	if err := os.MkdirAll(video, 0o755); err != nil {
		t.Fatal(err)
	}
	make := exec.Command(ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=6:size=160x120:rate=10",
		"-f", "lavfi", "-i", "sine=duration=6", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10", "-c:a", "aac",
		"-shortest", "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
		"-hls_segment_filename", "seg%d.ts", "index.m3u8")
	make.Dir = video
	if out, err := make.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg could not make the test stream: %v\n%s", err, out)
	}
	mustWrite(t, filepath.Join(g.root, "photos/alice/a.txt"), "alice's file")
	mustWrite(t, filepath.Join(g.root, "photos/alice/docs/b.txt"), "alice's doc")
	mustWrite(t, filepath.Join(g.root, "photos/bob/secret.txt"), "bob's secret")
	g.Caddy = testenv.StartCaddy(t, fmt.Sprintf(`http://%s {
	root * %s
	valet {
		key hs1 hs256 {file.%s}
		path_marker ~vk
		cookie {
			set
		}
		%s
	}
	file_server browse
}
`, g.addr, g.root, g.keys.hsFile, gateOptions), "http://"+g.addr+"/")
	return g
}

func (g *streamGateway) folderToken(t *testing.T, scope string) string {
	return mint(t, claims(scope), g.keys.hs)
}

// TestStreamWithPathToken: ffmpeg, which nobody here wrote, copies an HLS
// stream through the gate with the token in the path: every segment URL
// it resolves from the playlist carries the token by itself. Without a
// token, or with a query token (lost on the relative segment URLs), it
// gets nothing.
func TestStreamWithPathToken(t *testing.T) {
	ffmpeg := testenv.Require(t, "ffmpeg")
	ffprobe := testenv.Require(t, "ffprobe")
	g := startStreamGateway(t, "")
	tok := g.folderToken(t, "/photos/alice/video/")
	base := "http://" + g.addr

	copyStream := func(url string, extra ...string) (string, error) {
		out := filepath.Join(t.TempDir(), "out.mp4")
		args := append([]string{"-loglevel", "error", "-nostdin"}, extra...)
		args = append(args, "-i", url, "-c", "copy", "-y", out)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		msg, err := exec.CommandContext(ctx, ffmpeg, args...).CombinedOutput()
		if err != nil {
			return string(msg), err
		}
		return out, nil
	}
	duration := func(file string) float64 {
		out, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file).Output()
		if err != nil {
			t.Fatalf("ffprobe %s: %v", file, err)
		}
		d, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		return d
	}

	out, err := copyStream(base + "/~vk/" + tok + "/photos/alice/video/index.m3u8")
	if err != nil {
		t.Fatalf("ffmpeg through a path token: %v\n%s\n%s", err, out, g.Logs())
	}
	if d := duration(out); d < 5.5 || d > 6.5 {
		t.Fatalf("the copied stream lasts %.2f s, want about 6", d)
	}

	// A cookie token, set by the browser or given to ffmpeg as a header.
	out, err = copyStream(base+"/photos/alice/video/index.m3u8", "-headers", "Cookie: vk="+tok+"\r\n")
	if err != nil {
		t.Fatalf("ffmpeg with a cookie token: %v\n%s", err, out)
	}
	if d := duration(out); d < 5.5 || d > 6.5 {
		t.Fatalf("the stream copied with a cookie lasts %.2f s, want about 6", d)
	}

	// A query token: the segments the playlist lists are relative and come
	// without it, but the gate answered the playlist with Set-Cookie
	// (cookie { set }), which ffmpeg keeps and sends with each segment.
	out, err = copyStream(base + "/photos/alice/video/index.m3u8?vk=" + tok)
	if err != nil {
		t.Fatalf("ffmpeg with a query token and the cookie it sets: %v\n%s", err, out)
	}
	if d := duration(out); d < 5.5 || d > 6.5 {
		t.Fatalf("the stream copied with a query token lasts %.2f s, want about 6", d)
	}

	// No token: every request refused.
	if msg, err := copyStream(base + "/photos/alice/video/index.m3u8"); err == nil {
		t.Fatal("ffmpeg copied the stream without a token")
	} else if !strings.Contains(msg, "401") {
		t.Fatalf("no token: ffmpeg did not report the 401: %s", msg)
	}
}

// TestStreamCarriersAndFolders: the rules of the path and cookie carriers
// and of folder links, on the wire.
func TestStreamCarriersAndFolders(t *testing.T) {
	g := startStreamGateway(t, "")
	alice := g.folderToken(t, "/photos/alice/")
	other := g.folderToken(t, "/photos/alice/")
	put := claims("/photos/alice/")
	put.Methods = []string{"GET", "PUT"}
	writer := mint(t, put, g.keys.hs)
	foreignKey := newKeys(t)
	foreignKey.hs, _ = token.NewHMACKey("other", []byte(token.NewHMACSecret()))
	foreign := mint(t, claims("/photos/alice/"), foreignKey.hs)

	cases := []struct {
		name     string
		method   string
		uri      string
		headers  []string
		status   int
		reason   token.Reason
		location string
		body     string
	}{
		{name: "path token", uri: "/~vk/" + alice + "/photos/alice/a.txt", status: 200, body: "alice's file"},
		{name: "path token outside its scope", uri: "/~vk/" + alice + "/photos/bob/secret.txt", status: 403, reason: token.OutOfScope},
		{name: "dot-dot after a path token", uri: "/~vk/" + alice + "/photos/alice/../bob/secret.txt", status: 400, reason: token.AmbiguousPath},
		{name: "encoded dot-dot after a path token", uri: "/~vk/" + alice + "/photos/alice/%2e%2e/bob/secret.txt", status: 400, reason: token.AmbiguousPath},
		{name: "encoded slash inside the token segment", uri: "/~vk/" + strings.Replace(alice, ".", "%2F", 1) + "/photos/alice/a.txt", status: 401, reason: token.MalformedToken},
		{name: "token segment under another site's key", uri: "/~vk/" + foreign + "/photos/alice/a.txt", status: 401, reason: token.UnknownKey},
		{name: "path token and nothing after it", uri: "/~vk/" + alice, status: 400, reason: token.AmbiguousPath},
		{name: "path token and query token", uri: "/~vk/" + alice + "/photos/alice/a.txt?vk=" + alice, status: 400, reason: token.DuplicateToken},
		{name: "cookie", uri: "/photos/alice/a.txt", headers: []string{"Cookie", "vk=" + alice}, status: 200, body: "alice's file"},
		{name: "cookie equal to the query token", uri: "/photos/alice/a.txt?vk=" + alice, headers: []string{"Cookie", "vk=" + alice}, status: 200},
		{name: "cookie and a different query token", uri: "/photos/alice/a.txt?vk=" + other, headers: []string{"Cookie", "vk=" + alice}, status: 400, reason: token.DuplicateToken},
		{name: "cookie on a PUT, though the token grants PUT", method: "PUT", uri: "/photos/alice/new.txt", headers: []string{"Cookie", "vk=" + writer, "Content-Length", "0"}, status: 403, reason: token.MethodNotAllowed},
		{name: "cookie outside its scope", uri: "/photos/bob/secret.txt", headers: []string{"Cookie", "vk=" + alice}, status: 403, reason: token.OutOfScope},
		{name: "folder without its slash, query token", uri: "/photos/alice?vk=" + alice + "&x=1", status: 308, location: "/photos/alice/?vk=" + alice + "&x=1"},
		{name: "folder without its slash, path token", uri: "/~vk/" + alice + "/photos/alice", status: 308, location: "/~vk/" + alice + "/photos/alice/"},
		{name: "subfolder without its slash (file_server's redirect), query token", uri: "/photos/alice/docs?vk=" + alice, status: 308, location: "/photos/alice/docs/?vk=" + alice},
		{name: "subfolder without its slash (file_server's redirect), path token", uri: "/~vk/" + alice + "/photos/alice/docs", status: 308, location: "/~vk/" + alice + "/photos/alice/docs/"},
		{name: "a sibling folder is not redirected", uri: "/photos/alice2?vk=" + alice, status: 403, reason: token.OutOfScope},
	}
	for _, tc := range cases {
		method := tc.method
		if method == "" {
			method = "GET"
		}
		resp, body := rawRequest(t, g.addr, method, tc.uri, tc.headers...)
		if resp.StatusCode != tc.status || token.Reason(resp.Header.Get("Valet-Reason")) != tc.reason ||
			resp.Header.Get("Location") != tc.location || (tc.body != "" && body != tc.body) {
			t.Errorf("%s: %d %q Location %q body %.40q, want %d %q %q", tc.name, resp.StatusCode,
				resp.Header.Get("Valet-Reason"), resp.Header.Get("Location"), body, tc.status, tc.reason, tc.location)
		}
	}

	// The cookie the gate sets for a query token: as tight as the grant.
	exact := claims("/photos/alice/video/index.m3u8", "/photos/alice/video/seg0.ts")
	resp, _ := rawRequest(t, g.addr, "GET", "/photos/alice/video/index.m3u8?vk="+mint(t, exact, g.keys.hs))
	set := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"vk=", "; Path=/photos/alice/video/;", "; HttpOnly", "; SameSite=Lax", "; Max-Age="} {
		if !strings.Contains(set, want) {
			t.Errorf("Set-Cookie %q lacks %q", set, want)
		}
	}
	if age, _ := strconv.Atoi(strings.Split(strings.SplitAfter(set, "Max-Age=")[1], ";")[0]); age < 590 || age > 600 {
		t.Errorf("Set-Cookie Max-Age %d, want the token's remaining 600 s", age)
	}
	if resp, _ := rawRequest(t, g.addr, "GET", "/photos/alice/a.txt", "Cookie", "vk="+alice); resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("a cookie token was answered with another Set-Cookie: %q", resp.Header.Get("Set-Cookie"))
	}
}

// TestStreamInBrowser: headless Chromium plays the stream with hls.js from
// a page on another origin, with the token in the path; the test reads the
// <video> element's state. And a directory listing opened with a folder
// token works link by link, while a link out of the folder is refused.
func TestStreamInBrowser(t *testing.T) {
	hlsDir := npmInstall(t, "player")
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hls.min.js" {
			http.ServeFile(w, r, filepath.Join(hlsDir, "node_modules/hls.js/dist/hls.min.js"))
			return
		}
		fmt.Fprint(w, `<!doctype html><script src="/hls.min.js"></script><video id="v" muted></video>
<script>
window.play = function (src) {
  const v = document.getElementById("v");
  window.playerError = "";
  const hls = new Hls();
  hls.on(Hls.Events.ERROR, (e, d) => { if (d.fatal) window.playerError = d.type + " " + d.details; });
  hls.loadSource(src);
  hls.attachMedia(v);
  v.play().catch(e => { window.playerError = "play: " + e; });
};
</script>`)
	}))
	t.Cleanup(page.Close)
	g := startStreamGateway(t, "cors_origins "+page.URL)
	tok := g.folderToken(t, "/photos/alice/")
	ctx := newBrowser(t, 90*time.Second)

	src := "http://" + g.addr + "/~vk/" + tok + "/photos/alice/video/index.m3u8"
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](fmt.Sprintf("play(%q)", src))); err != nil {
		t.Fatal(err)
	}
	progress := `(() => {
		const v = document.getElementById("v");
		if (window.playerError || v.error) return "error " + window.playerError + " " + (v.error && v.error.code);
		return v.currentTime > 0.5 ? String(v.currentTime) : false;
	})()`
	first, err := chromedp.Run(ctx, chromedp.Poll[string](progress, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil || strings.HasPrefix(first, "error") {
		t.Fatalf("the video did not play: %v %q\n%s", err, first, g.Logs())
	}
	if err := chromedp.Do(ctx, chromedp.Sleep(1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	later, err := chromedp.Run(ctx, chromedp.Evaluate[string](progress))
	t1, _ := strconv.ParseFloat(first, 64)
	t2, _ := strconv.ParseFloat(later, 64)
	if err != nil || t2 <= t1 {
		t.Fatalf("currentTime did not advance: %q then %q (%v)", first, later, err)
	}
	played := first
	t.Logf("hls.js played through a path token: %q then %q", played, later)

	// The folder's listing, through a path token: every link is followed.
	listing := "http://" + g.addr + "/~vk/" + tok + "/photos/alice/"
	if err := chromedp.Do(ctx, chromedp.Navigate(listing)); err != nil {
		t.Fatal(err)
	}
	// The listing's CSP forbids fetch() from it, so each link is followed
	// as a user would: a navigation.
	links, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("a[href]")].map(a => a.href)
		.filter(h => h.startsWith(location.origin) && !h.includes("?sort=") && !h.includes("?layout="))`))
	if err != nil {
		t.Fatal(err)
	}
	var results []string
	for _, link := range links {
		resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(link))
		if err != nil {
			t.Fatalf("following %s: %v", link, err)
		}
		results = append(results, fmt.Sprintf("%d %s", resp.Status, strings.TrimPrefix(link, "http://"+g.addr)))
	}
	var inside, outside int
	for _, r := range results {
		status, link, _ := strings.Cut(r, " ")
		judged := strings.TrimPrefix(link, "/~vk/"+tok)
		switch {
		case !strings.HasPrefix(link, "/~vk/"+tok+"/"):
			t.Errorf("a listing link lost the path token: %s", r)
		case strings.HasPrefix(judged, "/photos/alice/") && status == "200":
			inside++
		case !strings.HasPrefix(judged, "/photos/alice/") && status == "403":
			outside++ // the breadcrumbs above the folder
		default:
			t.Errorf("listing link: %s", r)
		}
	}
	if inside < 3 || outside < 1 {
		t.Fatalf("listing links: %q", results)
	}
}

// npmInstall installs the npm package in integration/<name> into a
// temporary directory (npm ci, from the lock file) and returns it.
func npmInstall(t *testing.T, name string) string {
	t.Helper()
	npm := testenv.Require(t, "npm")
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(name, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Sprintf("npm ci in integration/%s failed: %v\n%s", name, err, out))
	}
	return dir
}
