package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// Load benchmarks are run by hand, never in CI, and report medians of
// alternating rounds measured in one run (this machine is noisy):
//
//	go test ./integration -run '^$' -bench Load -benchtime 1x -v
//
// VALET_LOAD_ROUNDS (default 5) and VALET_LOAD_SECONDS (default 8) tune
// them. Caddy is pinned to CPU 0 and wrk to CPU 1 when taskset exists.

func loadRounds() (int, time.Duration) {
	rounds, secs := 5, 8
	if n, err := strconv.Atoi(os.Getenv("VALET_LOAD_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	if n, err := strconv.Atoi(os.Getenv("VALET_LOAD_SECONDS")); err == nil && n > 0 {
		secs = n
	}
	return rounds, time.Duration(secs) * time.Second
}

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// wrk runs one round against url and returns requests per second. It fails
// the benchmark on any non-2xx answer, so a broken gate cannot look fast.
func wrk(b *testing.B, url string, d time.Duration, script string, conns int) float64 {
	b.Helper()
	out := wrkRun(b, url, d, script, conns)
	m := wrkRate.FindSubmatch(out)
	if m == nil {
		b.Fatalf("no rate in wrk output:\n%s", out)
	}
	rate, _ := strconv.ParseFloat(string(m[1]), 64)
	return rate
}

// wrkRun runs wrk once and returns its output, failing on any error answer.
func wrkRun(b *testing.B, url string, d time.Duration, script string, conns int) []byte {
	b.Helper()
	if conns == 0 {
		conns = 32
	}
	args := []string{"-t1", "-c" + strconv.Itoa(conns), "-d" + d.String(), "--latency", "--timeout", "30s"}
	if script != "" {
		args = append(args, "-s", script)
	}
	args = append(args, url)
	cmd := exec.Command(testenv.Require(b, "wrk"), args...)
	if taskset, err := exec.LookPath("taskset"); err == nil {
		cmd = exec.Command(taskset, append([]string{"-c", "1", cmd.Path}, args...)...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "Non-2xx") {
		b.Fatalf("wrk saw error answers from %s:\n%s", url, out)
	}
	return out
}

// pinToCPU0 moves a running process (all its threads) to CPU 0.
func pinToCPU0(b *testing.B, pid int) {
	if taskset, err := exec.LookPath("taskset"); err == nil {
		if out, err := exec.Command(taskset, "-a", "-p", "-c", "0", strconv.Itoa(pid)).CombinedOutput(); err != nil {
			b.Fatalf("taskset: %v\n%s", err, out)
		}
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// compare runs the named targets in alternating rounds and reports each
// one's median requests/s and its ratio to the first (the baseline). It
// returns the medians, in the targets' order.
func compare(b *testing.B, targets []loadTarget) []float64 {
	rounds, d := loadRounds()
	rates := make([][]float64, len(targets))
	for range rounds {
		for i, t := range targets {
			rates[i] = append(rates[i], wrk(b, t.url, d, t.script, t.conns))
		}
	}
	base := median(rates[0])
	medians := make([]float64, len(targets))
	for i, t := range targets {
		medians[i] = median(rates[i])
		b.ReportMetric(medians[i], t.name+"_req/s")
		b.Logf("%-28s median %9.1f req/s  ratio %.3f  rounds %v", t.name, medians[i], medians[i]/base, rounded(rates[i]))
	}
	return medians
}

// loadTarget is one URL to load; script is an optional wrk Lua script and
// conns the number of connections (default 32).
type loadTarget struct {
	name, url, script string
	conns             int
}

func rounded(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(parts, " ")
}

// BenchmarkLoadGateSmallFile compares, in one Caddy process, file_server
// without the gate and with it (HS256 and EdDSA hot tokens) on a 4 KiB
// file, and the gate with revocation checks on (embedded store, and Redis)
// against the gate without them.
func BenchmarkLoadGateSmallFile(b *testing.B) {
	k := newKeys(b)
	root := b.TempDir()
	mustWrite(b, filepath.Join(root, "photos/alice/4k.bin"), strings.Repeat("x", 4096))
	redis := testenv.StartRedis(b)
	sites := map[string]string{}
	for _, name := range []string{"plain", "gated", "bolt", "redis"} {
		sites[name] = testenv.Addr(testenv.FreePort(b))
	}
	gate := func(revocation string) string {
		return fmt.Sprintf("valet {\n\t\tkey hs1 hs256 {file.%s}\n\t\tkey ed1 eddsa {file.%s}\n\t\t%s\n\t}", k.hsFile, k.edPub, revocation)
	}
	site := func(addr, handlers string) string {
		return fmt.Sprintf("http://%s {\n\troot * %s\n\t%s\n\tfile_server\n}\n", addr, root, handlers)
	}
	caddyfile := site(sites["plain"], "") +
		site(sites["gated"], gate("")) +
		site(sites["bolt"], gate("revocation bolt")) +
		site(sites["redis"], gate("revocation redis {\n\t\t\taddresses "+redis.Addr+"\n\t\t}"))
	c := testenv.StartCaddy(b, caddyfile, "http://"+sites["plain"]+"/")
	pinToCPU0(b, c.Cmd.Process.Pid)
	hs := mint(b, claims("/photos/alice/"), k.hs)
	ed := mint(b, claims("/photos/alice/"), k.ed)
	file := "/photos/alice/4k.bin"
	for range b.N {
		compare(b, []loadTarget{
			{name: "file_server", url: "http://" + sites["plain"] + file},
			{name: "valet_hs256_hot", url: "http://" + sites["gated"] + file + "?vk=" + hs},
			{name: "valet_eddsa_hot", url: "http://" + sites["gated"] + file + "?vk=" + ed},
			{name: "valet_hs256_hot_rev_bolt", url: "http://" + sites["bolt"] + file + "?vk=" + hs},
			{name: "valet_hs256_hot_rev_redis", url: "http://" + sites["redis"] + file + "?vk=" + hs},
		})
	}
}
