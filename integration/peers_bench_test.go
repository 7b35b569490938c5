package integration

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// BenchmarkPeers measures, in one run, the valet gate against its peers on
// the same 4 KiB and 64 MiB files (docs/benchmarks.md has the results):
//
//		go test ./integration -run '^$' -bench Peers -benchtime 1x -v
//
//	  - file_server without the gate: the ceiling;
//	  - the gate with HS256 and EdDSA tokens, hot (one token, the
//	    verified-token cache) and cold (a wrk Lua script cycling through
//	    20000 pre-minted tokens, twenty times the site's cache);
//	  - the gatekeeper design: Caddy forward_auth to integration/peers/
//	    gatekeeper, which verifies the same token on every request;
//	  - nginx (/usr/sbin/nginx) with secure_link, as a non-daemon on its own
//	    temporary config;
//	  - the gate (HS256, hot) in front of the valet_files read path instead
//	    of file_server, revalidating by stat (the default) and with watch.
//
// Caddy, the gatekeeper and nginx run on CPU 0, wrk on CPU 1. Rounds
// alternate between targets; medians and ratios are reported (see
// load_bench_test.go for VALET_LOAD_ROUNDS and VALET_LOAD_SECONDS).
func BenchmarkPeers(b *testing.B) {
	nginx := testenv.Require(b, "/usr/sbin/nginx")
	testenv.Require(b, "wrk")
	k := newKeys(b)
	root := b.TempDir()
	mustWrite(b, filepath.Join(root, "photos/alice/4k.bin"), strings.Repeat("x", 4096))
	mustWrite(b, filepath.Join(root, "photos/alice/64m.bin"), strings.Repeat("y", 64<<20))

	gk := startGatekeeper(b, k)
	plain, hot, cold, fwd := testenv.Addr(testenv.FreePort(b)), testenv.Addr(testenv.FreePort(b)),
		testenv.Addr(testenv.FreePort(b)), testenv.Addr(testenv.FreePort(b))
	rp, rpWatch := testenv.Addr(testenv.FreePort(b)), testenv.Addr(testenv.FreePort(b))
	gate := func(extra string) string {
		return fmt.Sprintf("valet {\n\t\tkey hs1 hs256 {file.%s}\n\t\tkey ed1 eddsa {file.%s}\n\t\t%s\n\t}", k.hsFile, k.edPub, extra)
	}
	caddyfile := fmt.Sprintf(`{
	admin {ADMIN}
	auto_https off
	default_bind 127.0.0.1
}
http://%[1]s {
	root * %[5]s
	file_server
}
http://%[2]s {
	root * %[5]s
	%[6]s
	file_server
}
http://%[3]s {
	root * %[5]s
	%[7]s
	file_server
}
http://%[4]s {
	root * %[5]s
	forward_auth %[8]s {
		uri /auth
	}
	file_server
}
http://%[9]s {
	root * %[5]s
	%[6]s
	valet_files
}
http://%[10]s {
	root * %[5]s
	%[6]s
	valet_files {
		watch
	}
}
`, plain, hot, cold, fwd, root, gate(""), gate("verified_cache_size 1000"), gk, rp, rpWatch)
	c := testenv.StartCaddy(b, caddyfile, "http://"+plain+"/")
	pinToCPU0(b, c.Cmd.Process.Pid)
	ngx := startNginx(b, nginx, root)

	hs := mint(b, claims("/photos/alice/"), k.hs)
	ed := mint(b, claims("/photos/alice/"), k.ed)
	coldHS := coldScript(b, "/photos/alice/4k.bin", k.hs)
	coldEd := coldScript(b, "/photos/alice/4k.bin", k.ed)
	for range b.N {
		for _, file := range []string{"4k.bin", "64m.bin"} {
			p := "/photos/alice/" + file
			conns := 32
			if file == "64m.bin" {
				conns = 4 // a few large transfers at once: bandwidth, not queueing
			}
			targets := []loadTarget{
				{name: "file_server_" + file, url: "http://" + plain + p, conns: conns},
				{name: "valet_hs256_hot", url: "http://" + hot + p + "?vk=" + hs, conns: conns},
				{name: "valet_eddsa_hot", url: "http://" + hot + p + "?vk=" + ed, conns: conns},
				{name: "forward_auth_hs256", url: "http://" + fwd + p + "?vk=" + hs, conns: conns},
				{name: "nginx_secure_link", url: "http://" + ngx.addr + ngx.link(p), conns: conns},
				{name: "valet_hs256_hot+valet_files", url: "http://" + rp + p + "?vk=" + hs, conns: conns},
				{name: "valet_hs256_hot+valet_files_watch", url: "http://" + rpWatch + p + "?vk=" + hs, conns: conns},
			}
			if file == "4k.bin" {
				targets = append(targets,
					loadTarget{name: "valet_hs256_cold", url: "http://" + cold + p, script: coldHS},
					loadTarget{name: "valet_eddsa_cold", url: "http://" + cold + p, script: coldEd})
			}
			m := compare(b, targets)
			b.Logf("%s: gated/ungated %.3f (hs256 hot), %.3f (eddsa hot); valet/forward_auth %.2fx; valet/nginx %.3f; gate+valet_files/file_server %.2fx (%.2fx with watch)",
				file, m[1]/m[0], m[2]/m[0], m[1]/m[3], m[1]/m[4], m[5]/m[0], m[6]/m[0])
		}
	}
}

// startGatekeeper builds and runs the forward_auth peer; it returns its
// address.
func startGatekeeper(b *testing.B, k *keys) string {
	bin := filepath.Join(b.TempDir(), "gatekeeper")
	build := exec.Command("go", "build", "-o", bin, "./integration/peers/gatekeeper")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building the gatekeeper: %v\n%s", err, out)
	}
	addr := testenv.Addr(testenv.FreePort(b))
	cmd := exec.Command(bin, "-listen", addr, "-hs", "hs1="+k.hsFile, "-ed", "ed1="+k.edPub)
	runPeer(b, cmd, "http://"+addr+"/")
	return addr
}

// nginxPeer is nginx serving the store with secure_link: a link carries
// md5 = base64url(MD5(expires + uri + " " + secret)) and expires.
type nginxPeer struct {
	addr, secret string
	pid          int
}

func (n nginxPeer) link(uri string) string {
	expires := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	sum := md5.Sum([]byte(expires + uri + " " + n.secret))
	return uri + "?md5=" + base64.RawURLEncoding.EncodeToString(sum[:]) + "&expires=" + expires
}

func startNginx(b *testing.B, bin, root string) nginxPeer {
	dir := b.TempDir()
	n := nginxPeer{addr: testenv.Addr(testenv.FreePort(b)), secret: token.NewHMACSecret()}
	conf := fmt.Sprintf(`daemon off;
master_process off;
user root;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen %[2]s;
		root %[3]s;
		location / {
			return 200 ok;
		}
		location /photos/ {
			secure_link $arg_md5,$arg_expires;
			secure_link_md5 "$secure_link_expires$uri %[4]s";
			if ($secure_link = "") { return 403; }
			if ($secure_link = "0") { return 410; }
		}
	}
}
`, dir, n.addr, root, n.secret)
	mustWrite(b, filepath.Join(dir, "nginx.conf"), conf)
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	runPeer(b, cmd, "http://"+n.addr+"/")
	n.pid = cmd.Process.Pid
	return n
}

// runPeer starts a server process pinned to CPU 0, stops it at cleanup,
// and waits until it answers.
func runPeer(b *testing.B, cmd *exec.Cmd, ready string) {
	logFile := filepath.Join(b.TempDir(), "peer.log")
	out, err := os.Create(logFile)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close() // the child holds its own copy
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	pinToCPU0(b, cmd.Process.Pid)
	testenv.WaitHTTP(b, ready, 10*time.Second, func() string { data, _ := os.ReadFile(logFile); return string(data) })
}

// coldScript writes a wrk Lua script that sends each request with the next
// of 20000 freshly minted tokens, so (with the cold site's 1000-entry
// cache) nearly every request pays for a signature check.
func coldScript(b *testing.B, path string, key *token.Key) string {
	return tokenScript(b, path, func() string { return mint(b, claims("/photos/alice/"), key) })
}

// tokenScript writes a wrk Lua script that sends each request with the
// next of 20000 tokens made by next.
func tokenScript(b *testing.B, path string, next func() string) string {
	dir := b.TempDir()
	var list strings.Builder
	for range 20000 {
		list.WriteString(next() + "\n")
	}
	tokens := filepath.Join(dir, "tokens.txt")
	mustWrite(b, tokens, list.String())
	script := filepath.Join(dir, "tokens.lua")
	mustWrite(b, script, fmt.Sprintf(`local tokens = {}
for line in io.lines(%q) do tokens[#tokens + 1] = line end
local i = 0
request = function()
	i = i %% #tokens + 1
	return wrk.format("GET", %q .. tokens[i])
end
`, tokens, path+"?vk="))
	return script
}
