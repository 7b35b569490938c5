package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// The soak test: a bounded load (loopback only, it stops by itself) of
// mixed allowed and denied requests against a real Caddy, with two `caddy
// reload`s in the middle. It fails on any 5xx, transport error or wrong
// answer, on goroutine growth, on memory growing past what the cache
// limits allow, and if a reload drops the warm revocation cache. Timing is
// reported, never asserted. VALET_SOAK_SECONDS (default 60) sets its length.

func soakDuration() time.Duration {
	if n, err := strconv.Atoi(os.Getenv("VALET_SOAK_SECONDS")); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 60 * time.Second
}

// soakKind is one kind of request in the mix, with the answer it must get.
type soakKind struct {
	name   string
	req    func(i int) *http.Request
	status int
	reason token.Reason
}

func TestSoak(t *testing.T) {
	d := soakDuration()
	k := newKeys(t)
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "photos/alice/4k.bin"), strings.Repeat("x", 4096))
	mustWrite(t, filepath.Join(root, "photos/bob/b.txt"), "bob")
	warm := testenv.Addr(testenv.FreePort(t)) // revocation checked, hot tokens
	cold := testenv.Addr(testenv.FreePort(t)) // a new token every request
	caddyfile := fmt.Sprintf(`{
	admin {ADMIN}
	auto_https off
	default_bind 127.0.0.1
}
http://%[1]s {
	root * %[3]s
	valet {
		key hs1 hs256 {file.%[4]s}
		key ed1 eddsa {file.%[5]s}
		revocation bolt {
			quiet_ttl 10m
			live_ttl 10m
		}
	}
	file_server
}
http://%[2]s {
	root * %[3]s
	valet {
		key hs1 hs256 {file.%[4]s}
		key ed1 eddsa {file.%[5]s}
		verified_cache_size 1000
	}
	file_server
}
`, warm, cold, root, k.hsFile, k.edPub)
	c := testenv.StartCaddy(t, caddyfile, "http://"+warm+"/")
	admin := "http://" + c.AdminAddr

	var hot []string
	for i := range 8 {
		key := k.hs
		if i%2 == 1 {
			key = k.ed
		}
		hot = append(hot, mint(t, claims("/photos/alice/"), key))
	}
	revokedClaims := claims("/photos/alice/")
	revoked := mint(t, revokedClaims, k.hs)
	if out, err := exec.Command(testenv.CaddyBinary(t), "valet", "revoke", "--jti", revokedClaims.ID, "--address", c.AdminAddr).CombinedOutput(); err != nil {
		t.Fatalf("caddy valet revoke: %v\n%s", err, out)
	}
	badSig := flip(hot[0], len(hot[0])-5)
	get := func(host, uri string) *http.Request {
		r, err := http.NewRequest("GET", "http://"+host+uri, nil)
		if err != nil {
			panic(err)
		}
		return r
	}
	kinds := []soakKind{
		{"hot", func(i int) *http.Request { return get(warm, "/photos/alice/4k.bin?vk="+hot[i%len(hot)]) }, 200, ""},
		{"cold", func(i int) *http.Request {
			key := k.hs
			if i%4 == 0 {
				key = k.ed
			}
			fresh, err := token.Mint(claims("/photos/alice/"), key)
			if err != nil {
				panic(err)
			}
			return get(cold, "/photos/alice/4k.bin?vk="+fresh)
		}, 200, ""},
		{"out of scope", func(i int) *http.Request { return get(warm, "/photos/bob/b.txt?vk="+hot[i%len(hot)]) }, 403, token.OutOfScope},
		{"bad signature", func(int) *http.Request { return get(warm, "/photos/alice/4k.bin?vk="+badSig) }, 401, token.BadSignature},
		{"ambiguous path", func(i int) *http.Request { return get(warm, "/photos/alice/%2e%2e/bob/b.txt?vk="+hot[i%len(hot)]) }, 400, token.AmbiguousPath},
		{"revoked", func(int) *http.Request { return get(warm, "/photos/alice/4k.bin?vk="+revoked) }, 401, token.Revoked},
		{"missing token", func(int) *http.Request { return get(cold, "/photos/alice/4k.bin") }, 401, token.MissingToken},
		{"hot on the cold site", func(i int) *http.Request { return get(cold, "/photos/alice/4k.bin?vk="+hot[i%len(hot)]) }, 200, ""},
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	// Warm up every kind with every hot token, then take the baselines.
	for i := range len(hot) {
		for _, kind := range kinds {
			if err := soakCheck(client, kind, i); err != nil {
				t.Fatalf("warm-up: %v", err)
			}
		}
	}
	client.CloseIdleConnections()
	time.Sleep(500 * time.Millisecond)
	goroutinesBefore := caddyGoroutines(t, admin)
	missesBefore := revocationMisses(t, admin)

	var (
		stop      atomic.Bool
		failures  atomic.Int64
		mu        sync.Mutex
		firstErrs []string
		latencies = make([][]time.Duration, 16)
		counts    = make([]atomic.Int64, len(kinds))
		wg        sync.WaitGroup
	)
	start := time.Now()
	for w := range latencies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; !stop.Load(); i += len(latencies) {
				kind := i % len(kinds)
				t0 := time.Now()
				err := soakCheck(client, kinds[kind], i/len(kinds))
				latencies[w] = append(latencies[w], time.Since(t0))
				counts[kind].Add(1)
				if err != nil {
					failures.Add(1)
					mu.Lock()
					if len(firstErrs) < 5 {
						firstErrs = append(firstErrs, fmt.Sprintf("%.1fs: %v", time.Since(start).Seconds(), err))
					}
					mu.Unlock()
				}
			}
		}()
	}

	// The main goroutine samples memory and reloads twice, then stops.
	var rss []int64
	reloads := []time.Duration{d / 3, 2 * d / 3}
	var missesAtReload []int64
	for time.Since(start) < d {
		time.Sleep(time.Second)
		rss = append(rss, testenv.ProcKiB(t, c.Cmd.Process.Pid, "VmRSS"))
		if len(reloads) > 0 && time.Since(start) >= reloads[0] {
			reloads = reloads[1:]
			missesAtReload = append(missesAtReload, revocationMisses(t, admin))
			cmd := exec.Command(testenv.CaddyBinary(t), "reload", "--force", "--config", filepath.Join(c.Dir, "Caddyfile"), "--adapter", "caddyfile", "--address", c.AdminAddr)
			if out, err := cmd.CombinedOutput(); err != nil {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("caddy reload: %v\n%s", err, out)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	missesAfter := revocationMisses(t, admin)

	all := slices.Concat(latencies...)
	slices.Sort(all)
	total := len(all)
	perKind := make([]string, len(kinds))
	for i, kind := range kinds {
		perKind[i] = fmt.Sprintf("%s=%d", kind.name, counts[i].Load())
	}
	t.Logf("soak: %d requests in %.1fs = %.0f req/s; latency p50 %v p99 %v max %v; %d failures; RSS first %d KiB, peak %d KiB, last %d KiB; %s",
		total, elapsed.Seconds(), float64(total)/elapsed.Seconds(),
		all[total/2], all[total*99/100], all[total-1], failures.Load(),
		rss[0], slices.Max(rss), rss[len(rss)-1], strings.Join(perKind, " "))

	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d requests failed, e.g.:\n%s", n, total, strings.Join(firstErrs, "\n"))
	}
	// Hot tokens on the revocation-checked site were answered before the
	// load began and are trusted for 10m: a reload that kept the pooled
	// checker adds no miss, one that dropped it misses each again.
	if missesAfter != missesBefore {
		t.Errorf("revocation cache misses went from %d to %d (at the reloads: %v): a reload dropped the warm cache", missesBefore, missesAfter, missesAtReload)
	}
	// Memory: the cold site verifies a new token on every request, far
	// more than its 1000-entry cache; the cache bound must hold it flat.
	quarter := rss[len(rss)/4]
	if last := rss[len(rss)-1]; last > quarter*3/2 && last > quarter+64<<10 {
		t.Errorf("RSS grew from %d KiB (a quarter in) to %d KiB at the end", quarter, last)
	}
	client.CloseIdleConnections()
	var goroutinesAfter int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if goroutinesAfter = caddyGoroutines(t, admin); goroutinesAfter <= goroutinesBefore+20 || time.Now().After(deadline) {
			break
		}
	}
	if goroutinesAfter > goroutinesBefore+20 {
		t.Errorf("Caddy had %d goroutines before the load and %d after it", goroutinesBefore, goroutinesAfter)
	}
	t.Logf("goroutines before %d, after %d; revocation cache misses before %d, after %d", goroutinesBefore, goroutinesAfter, missesBefore, missesAfter)
}

// soakCheck sends one request of a kind and checks the answer.
func soakCheck(client *http.Client, kind soakKind, i int) error {
	resp, err := client.Do(kind.req(i))
	if err != nil {
		return fmt.Errorf("%s: %v", kind.name, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != kind.status || token.Reason(resp.Header.Get("Valet-Reason")) != kind.reason {
		return fmt.Errorf("%s: %d %q, want %d %q", kind.name, resp.StatusCode, resp.Header.Get("Valet-Reason"), kind.status, kind.reason)
	}
	return nil
}

var goroutineTotal = regexp.MustCompile(`goroutine profile: total (\d+)`)

// caddyGoroutines reads the goroutine count from Caddy's admin pprof.
func caddyGoroutines(t *testing.T, admin string) int {
	t.Helper()
	m := goroutineTotal.FindStringSubmatch(adminGet(t, admin+"/debug/pprof/goroutine?debug=1"))
	if m == nil {
		t.Fatal("no goroutine total from the admin endpoint")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

var missesLine = regexp.MustCompile(`(?m)^caddy_valet_revocation_cache_lookups_total\{result="miss"\} (\d+)`)

// revocationMisses reads the revocation cache's miss counter.
func revocationMisses(t *testing.T, admin string) int64 {
	t.Helper()
	m := missesLine.FindStringSubmatch(adminGet(t, admin+"/metrics"))
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

func adminGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return string(body)
}

// TestSlowClients holds a hundred connections that trickle their headers
// and twenty that trickle an upload body, slowloris-style, and checks that
// Caddy cuts each one off within its configured timeouts (read_header 2s,
// read_body 3s, plus slack) while an honest client is still served at once.
func TestSlowClients(t *testing.T) {
	k := newKeys(t)
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "photos/alice/a.txt"), "content")
	addr := testenv.Addr(testenv.FreePort(t))
	const readHeader, readBody = 2 * time.Second, 3 * time.Second
	caddyfile := fmt.Sprintf(`{
	admin {ADMIN}
	auto_https off
	default_bind 127.0.0.1
	servers {
		timeouts {
			read_header %v
			read_body %v
		}
	}
}
http://%s {
	root * %s
	valet {
		key hs1 hs256 {file.%s}
	}
	valet_store {
		root %s
	}
	file_server
}
`, readHeader, readBody, addr, root, k.hsFile, root)
	testenv.StartCaddy(t, caddyfile, "http://"+addr+"/")
	get := mint(t, claims("/photos/alice/"), k.hs)
	put := claims("/photos/alice/")
	put.Methods = []string{"PUT"}
	putTok := mint(t, put, k.hs)

	// cutOff runs a slow client on a fresh connection and returns how long
	// Caddy let it live, or an error if it answered with a 5xx.
	type result struct {
		lived time.Duration
		err   error
	}
	cutOff := func(head string, trickle string) result {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return result{err: err}
		}
		defer conn.Close()
		start := time.Now()
		conn.SetDeadline(start.Add(30 * time.Second))
		io.WriteString(conn, head)
		done := make(chan []byte, 1)
		go func() { b, _ := io.ReadAll(conn); done <- b }()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case answer := <-done:
				if strings.HasPrefix(string(answer), "HTTP/1.1 5") {
					return result{err: fmt.Errorf("answered %.40q", answer)}
				}
				return result{lived: time.Since(start)}
			case <-tick.C:
				io.WriteString(conn, trickle[i%len(trickle):i%len(trickle)+1])
			}
		}
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		headers []result
		bodies  []result
	)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := cutOff("GET /photos/alice/a.txt?vk="+get+" HTTP/1.1\r\nHost: "+addr+"\r\n", "X-Slow: aaaaaaaaaaaaaaaaaaaa\r\n")
			mu.Lock()
			headers = append(headers, r)
			mu.Unlock()
		}()
	}
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := cutOff(fmt.Sprintf("PUT /photos/alice/slow-%d.bin?vk=%s HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000000\r\n\r\n", i, putTok, addr), "0123456789")
			mu.Lock()
			bodies = append(bodies, r)
			mu.Unlock()
		}()
	}
	// An honest client is served promptly in the middle of the attack.
	time.Sleep(time.Second)
	t0 := time.Now()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/photos/alice/a.txt?vk=" + get)
	if err != nil {
		t.Fatalf("honest client during the attack: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || time.Since(t0) > time.Second {
		t.Errorf("honest client during the attack: %d after %v", resp.StatusCode, time.Since(t0))
	}
	wg.Wait()
	const slack = 1500 * time.Millisecond
	for name, group := range map[string]struct {
		rs    []result
		limit time.Duration
	}{"slow headers": {headers, readHeader + slack}, "slow bodies": {bodies, readBody + slack}} {
		var longest time.Duration
		for _, r := range group.rs {
			if r.err != nil {
				t.Errorf("%s: %v", name, r.err)
			}
			longest = max(longest, r.lived)
		}
		if longest > group.limit {
			t.Errorf("%s: a connection lived %v, past the timeout (+slack) %v", name, longest, group.limit)
		}
		t.Logf("%s: %d connections, the longest lived %v", name, len(group.rs), longest)
	}
	for i := range 20 {
		if _, err := os.Stat(filepath.Join(root, fmt.Sprintf("photos/alice/slow-%d.bin", i))); err == nil {
			t.Errorf("a cut-off upload left slow-%d.bin in the store", i)
		}
	}
}
