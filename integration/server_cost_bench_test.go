package integration

import (
	"encoding/json"
	"fmt"
	"io"
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

// BenchmarkServerCost measures what each request costs inside the real
// server, not in a micro-benchmark: for every target it runs wrk against
// one Caddy process and divides the process's CPU time (utime+stime from
// /proc) and the Go runtime's allocation counters (the admin endpoint's
// /debug/vars memstats) by the requests wrk completed. The difference
// between a gated target and its ungated twin is what the gate adds (the
// respond pair shows it without file I/O around it; the cold targets send
// a token the gate has not seen with every request, through a wrk Lua
// script, and valet_hs256_hot_scripted sends the hot token through the
// same script, the control showing what the script itself changes):
//
//	go test ./integration -run '^$' -bench ServerCost -benchtime 1x -v
//
// With VALET_PROFILE_DIR set, it also saves a CPU profile of each target's
// run (/debug/pprof/profile on the admin endpoint) and an allocation
// profile taken after it, for `go tool pprof`. VALET_LOAD_ROUNDS and
// VALET_LOAD_SECONDS apply as in the other load benchmarks; medians of the
// rounds are reported. VALET_COST_TARGETS, a regular expression, keeps
// only the targets it matches beside file_server, so that many short
// rounds of two targets can be compared on a noisy machine.
func BenchmarkServerCost(b *testing.B) {
	testenv.Require(b, "wrk")
	k := newKeys(b)
	root := b.TempDir()
	mustWrite(b, filepath.Join(root, "photos/alice/4k.bin"), strings.Repeat("x", 4096))
	sites := map[string]string{}
	for _, name := range []string{"plain", "gated", "cold", "files", "gatedfiles", "gatedwatch", "respond", "gatedrespond"} {
		sites[name] = testenv.Addr(testenv.FreePort(b))
	}
	gateWith := func(extra string) string {
		return fmt.Sprintf("valet {\n\t\tkey hs1 hs256 {file.%s}\n\t\tkey ed1 eddsa {file.%s}\n\t\t%s\n\t}", k.hsFile, k.edPub, extra)
	}
	gate, cold := gateWith(""), gateWith("verified_cache_size 1000")
	site := func(addr, handlers string) string {
		return fmt.Sprintf("http://%s {\n\troot * %s\n\t%s\n}\n", addr, root, handlers)
	}
	caddyfile := site(sites["plain"], "file_server") +
		site(sites["gated"], gate+"\n\tfile_server") +
		site(sites["cold"], cold+"\n\tfile_server") +
		site(sites["files"], "valet_files") +
		site(sites["gatedfiles"], gate+"\n\tvalet_files") +
		site(sites["gatedwatch"], gate+"\n\tvalet_files {\n\t\twatch\n\t}") +
		site(sites["respond"], `respond "`+strings.Repeat("x", 4096)+`"`) +
		site(sites["gatedrespond"], gate+"\n\trespond \""+strings.Repeat("x", 4096)+"\"")
	c := testenv.StartCaddy(b, caddyfile, "http://"+sites["plain"]+"/")
	pinToCPU0(b, c.Cmd.Process.Pid)
	hs := mint(b, claims("/photos/alice/"), k.hs)
	file := "/photos/alice/4k.bin"
	targets := []loadTarget{
		{name: "file_server", url: "http://" + sites["plain"] + file},
		{name: "valet_hs256_hot", url: "http://" + sites["gated"] + file + "?vk=" + hs},
		{name: "valet_hs256_hot_scripted", url: "http://" + sites["cold"], script: tokenScript(b, file, func() string { return hs })},
		{name: "valet_hs256_cold", url: "http://" + sites["cold"], script: coldScript(b, file, k.hs)},
		{name: "valet_eddsa_cold", url: "http://" + sites["cold"], script: coldScript(b, file, k.ed)},
		{name: "valet_files", url: "http://" + sites["files"] + file},
		{name: "valet_hs256_hot+valet_files", url: "http://" + sites["gatedfiles"] + file + "?vk=" + hs},
		{name: "valet_hs256_hot+valet_files_watch", url: "http://" + sites["gatedwatch"] + file + "?vk=" + hs},
		{name: "respond_4k", url: "http://" + sites["respond"] + file},
		{name: "valet_hs256_hot+respond_4k", url: "http://" + sites["gatedrespond"] + file + "?vk=" + hs},
	}
	targets = onlyTargets(b, targets)
	profDir := os.Getenv("VALET_PROFILE_DIR")
	rounds, d := loadRounds()
	for range b.N {
		costs := make([][]serverCost, len(targets))
		for round := range rounds {
			for i, t := range targets {
				var prof chan []byte
				if profDir != "" && round == 0 {
					prof = make(chan []byte, 1)
					go func() {
						prof <- adminBody(b, c.AdminAddr, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d/time.Second)))
					}()
					time.Sleep(100 * time.Millisecond)
				}
				costs[i] = append(costs[i], measureCost(b, c, t, d))
				if prof != nil {
					saveProfile(b, profDir, t.name+".cpu.pprof", <-prof)
					saveProfile(b, profDir, t.name+".allocs.pprof", adminBody(b, c.AdminAddr, "/debug/pprof/allocs"))
				}
			}
		}
		base := medianCost(costs[0])
		for i, t := range targets {
			m := medianCost(costs[i])
			b.ReportMetric(m.cpuNs, t.name+"_cpu-ns/req")
			b.ReportMetric(m.allocs, t.name+"_allocs/req")
			b.Logf("%-28s %9.0f req/s (%.3f)  CPU %6.2f µs/req (%+6.2f, %.3f)  %5.1f allocs/req (%+5.1f)  %6.0f B/req (%+6.0f)",
				t.name, m.rate, m.rate/base.rate, m.cpuNs/1000, (m.cpuNs-base.cpuNs)/1000, base.cpuNs/m.cpuNs,
				m.allocs, m.allocs-base.allocs, m.bytes, m.bytes-base.bytes)
		}
	}
}

// onlyTargets keeps the first target and those VALET_COST_TARGETS matches.
func onlyTargets(b *testing.B, targets []loadTarget) []loadTarget {
	expr := os.Getenv("VALET_COST_TARGETS")
	if expr == "" {
		return targets
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		b.Fatalf("VALET_COST_TARGETS: %v", err)
	}
	kept := []loadTarget{targets[0]} // a new slice: appending must not overwrite targets
	for _, t := range targets[1:] {
		if re.MatchString(t.name) {
			kept = append(kept, t)
		}
	}
	return kept
}

// serverCost is one round's per-request cost in the server.
type serverCost struct {
	rate, cpuNs, allocs, bytes float64
}

var wrkCount = regexp.MustCompile(`(\d+) requests in`)

func measureCost(b *testing.B, c *testenv.Caddy, t loadTarget, d time.Duration) serverCost {
	pid := c.Cmd.Process.Pid
	cpu0, mem0 := processCPU(b, pid), memStats(b, c.AdminAddr)
	out := wrkRun(b, t.url, d, t.script, t.conns)
	cpu1, mem1 := processCPU(b, pid), memStats(b, c.AdminAddr)
	m := wrkCount.FindSubmatch(out)
	if m == nil {
		b.Fatalf("no request count in wrk output:\n%s", out)
	}
	n, _ := strconv.ParseFloat(string(m[1]), 64)
	rate := wrkRate.FindSubmatch(out)
	r, _ := strconv.ParseFloat(string(rate[1]), 64)
	return serverCost{
		rate:   r,
		cpuNs:  float64(cpu1-cpu0) / n,
		allocs: float64(mem1.Mallocs-mem0.Mallocs) / n,
		bytes:  float64(mem1.TotalAlloc-mem0.TotalAlloc) / n,
	}
}

// medianCost takes each figure's median over the rounds.
func medianCost(cs []serverCost) serverCost {
	pick := func(f func(serverCost) float64) float64 {
		xs := make([]float64, len(cs))
		for i, c := range cs {
			xs[i] = f(c)
		}
		return median(xs)
	}
	return serverCost{
		rate:   pick(func(c serverCost) float64 { return c.rate }),
		cpuNs:  pick(func(c serverCost) float64 { return c.cpuNs }),
		allocs: pick(func(c serverCost) float64 { return c.allocs }),
		bytes:  pick(func(c serverCost) float64 { return c.bytes }),
	}
}

// processCPU is the process's user+system CPU time in nanoseconds.
func processCPU(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start at ")".
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return (utime + stime) * int64(time.Second) / ticksPerSecond
}

// goMemStats are the allocation counters of the server's Go runtime.
type goMemStats struct {
	Mallocs    uint64
	TotalAlloc uint64
}

func memStats(b *testing.B, admin string) goMemStats {
	var v struct {
		Memstats goMemStats `json:"memstats"`
	}
	if err := json.Unmarshal(adminBody(b, admin, "/debug/vars"), &v); err != nil {
		b.Fatalf("reading /debug/vars: %v", err)
	}
	return v.Memstats
}

func adminBody(b *testing.B, admin, path string) []byte {
	resp, err := http.Get("http://" + admin + path)
	if err != nil {
		b.Error(err)
		return nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Errorf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return data
}

func saveProfile(b *testing.B, dir, name string, data []byte) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		b.Fatal(err)
	}
}
