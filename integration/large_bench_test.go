package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// BenchmarkLargeDownloads measures 64 MiB and 1 GiB downloads, in one run,
// through Caddy's file_server, the gate in front of it, the gate in front
// of valet_files, nginx with secure_link and sendfile, and Go's net/http
// file server (integration/peers/gosendfile, sendfile with nothing in the
// way), against a `cat file >/dev/null` ceiling of the page cache:
//
//	go test ./integration -run '^$' -bench LargeDownloads -benchtime 1x -v
//
// curl (pinned to CPU 1, one connection, downloads in a row, about 1 GB
// per second of VALET_LOAD_SECONDS) is what reads the bytes, and on
// loopback the client is usually the limit; so beside MB/s the
// benchmark reports each server's own CPU time per GiB sent (from /proc),
// which shows whether a server copies the bytes itself or lets sendfile do
// it, whatever the client's speed. VALET_LOAD_ROUNDS and VALET_LOAD_SECONDS
// apply; the 1 GiB file is written to a temporary directory (page cache).
func BenchmarkLargeDownloads(b *testing.B) {
	nginx := testenv.Require(b, "/usr/sbin/nginx")
	testenv.Require(b, "wrk")
	k := newKeys(b)
	root := b.TempDir()
	sizes := map[string]int64{"64m.bin": 64 << 20, "1g.bin": 1 << 30}
	for name, size := range sizes {
		writeZeros(b, filepath.Join(root, "photos/alice", name), size)
	}
	plain, gated, rp := testenv.Addr(testenv.FreePort(b)), testenv.Addr(testenv.FreePort(b)), testenv.Addr(testenv.FreePort(b))
	gate := fmt.Sprintf("valet {\n\t\tkey hs1 hs256 {file.%s}\n\t}", k.hsFile)
	site := func(addr, handlers string) string {
		return fmt.Sprintf("http://%s {\n\troot * %s\n\t%s\n}\n", addr, root, handlers)
	}
	c := testenv.StartCaddy(b, site(plain, "file_server")+site(gated, gate+"\n\tfile_server")+site(rp, gate+"\n\tvalet_files"),
		"http://"+plain+"/")
	pinToCPU0(b, c.Cmd.Process.Pid)
	ngx := startNginx(b, nginx, root)
	goAddr, goPid := startGoSendfile(b, root)
	hs := mint(b, claims("/photos/alice/"), k.hs)
	rounds, d := loadRounds()
	for range b.N {
		for _, name := range []string{"64m.bin", "1g.bin"} {
			p := "/photos/alice/" + name
			targets := []struct {
				name, url string
				pid       int
			}{
				{"file_server", "http://" + plain + p, c.Cmd.Process.Pid},
				{"valet_hs256_hot", "http://" + gated + p + "?vk=" + hs, c.Cmd.Process.Pid},
				{"valet_hs256_hot+valet_files", "http://" + rp + p + "?vk=" + hs, c.Cmd.Process.Pid},
				{"nginx_secure_link", "http://" + ngx.addr + ngx.link(p), ngx.pid},
				{"go_net_http_sendfile", "http://" + goAddr + p, goPid},
			}
			rates := make([][]float64, len(targets))
			cpu := make([][]float64, len(targets))
			count := max(2, int(int64(d/time.Second)*(1<<30)/sizes[name])) // about 1 GB/s for d
			for range rounds {
				for i, t := range targets {
					c0 := processCPU(b, t.pid)
					took := curlDownloads(b, t.url, count, sizes[name])
					c1 := processCPU(b, t.pid)
					bytes := float64(count) * float64(sizes[name])
					rates[i] = append(rates[i], bytes/1e6/took.Seconds())
					cpu[i] = append(cpu[i], float64(c1-c0)/1e6/(bytes/(1<<30)))
				}
			}
			ceiling := catRate(b, filepath.Join(root, "photos/alice", name))
			b.Logf("%s: cat >/dev/null ceiling %.0f MB/s", name, ceiling)
			base := median(rates[0])
			for i, t := range targets {
				m := median(rates[i])
				b.ReportMetric(m, name+"_"+t.name+"_MB/s")
				b.Logf("%-30s %7.0f MB/s  ratio %.3f  server CPU %6.0f ms/GiB  rounds %s",
					t.name, m, m/base, median(cpu[i]), rounded(rates[i]))
			}
		}
	}
}

// curlDownloads fetches url count times over one connection with curl
// (pinned to CPU 1, body to /dev/null) and returns the time it took. It
// fails unless every download was a 200 of the whole size.
func curlDownloads(b *testing.B, url string, count int, size int64) time.Duration {
	args := []string{"-s", "-w", "%{http_code} %{size_download}\n"}
	for range count {
		args = append(args, "-o", "/dev/null", url)
	}
	cmd := exec.Command(testenv.Require(b, "curl"), args...)
	if taskset, err := exec.LookPath("taskset"); err == nil {
		cmd = exec.Command(taskset, append([]string{"-c", "1", cmd.Path}, args...)...)
	}
	start := time.Now()
	out, err := cmd.Output()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("curl %s: %v", url, err)
	}
	want := strings.Repeat(fmt.Sprintf("200 %d\n", size), count)
	if string(out) != want {
		b.Fatalf("curl %s: got %.300q, want %d whole downloads", url, out, count)
	}
	return took
}

func writeZeros(b *testing.B, name string, size int64) {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	for written := int64(0); written < size; written += int64(len(chunk)) {
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
}

// catRate is how fast `cat` copies the (cached) file to /dev/null, MB/s.
func catRate(b *testing.B, name string) float64 {
	fi, err := os.Stat(name)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	cmd := exec.Command("sh", "-c", "cat "+name+" >/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("cat: %v\n%s", err, out)
	}
	return float64(fi.Size()) / 1e6 / time.Since(start).Seconds()
}

// startGoSendfile builds and runs the net/http peer; it returns its
// address and process id.
func startGoSendfile(b *testing.B, root string) (string, int) {
	bin := filepath.Join(b.TempDir(), "gosendfile")
	build := exec.Command("go", "build", "-o", bin, "./integration/peers/gosendfile")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building gosendfile: %v\n%s", err, out)
	}
	addr := testenv.Addr(testenv.FreePort(b))
	cmd := exec.Command(bin, "-listen", addr, "-root", root)
	runPeer(b, cmd, "http://"+addr+"/")
	return addr, cmd.Process.Pid
}
