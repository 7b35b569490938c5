package integration

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/revocation"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// scrape fetches the admin endpoint's /metrics.
func scrape(t *testing.T, g *revGateway) string {
	t.Helper()
	resp, err := revClient.Get("http://" + g.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// metric returns the value of the sample whose name and labels start
// with series (e.g. `caddy_valet_decisions_total{result="deny",reason="revoked"`).
func metric(body, series string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, series) && (len(line) > len(series)) && strings.ContainsAny(line[len(series):len(series)+1], "{ ,}") {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// The families a fleet operator watches show up in a real scrape of the
// admin endpoint after traffic: decisions by reason, cache hits and
// misses, store latency and errors, shared lookups, the pub/sub feed
// (up, reconnects) and the time of the last invalidation.
func TestRevocationMetricsScrape(t *testing.T) {
	r := testenv.StartRedis(t)
	k := newKeys(t)
	g := startRevGateway(t, k, fileRoot(t), "redis {\n\t\t\taddresses "+r.Addr+"\n\t\t\ttimeout 300ms\n\t\t}")

	c := claims("/f/")
	tok := mint(t, c, k.hs)
	for range 3 { // a miss, then hits
		if st, reason := g.get(t, tok); st != http.StatusOK {
			t.Fatalf("%d %s", st, reason)
		}
	}
	began := time.Now()
	g.revoke(t, revocation.Entry{Subject: revocation.Subject{Kind: revocation.JTI, ID: c.ID}})
	if _, reason := g.get(t, tok); reason != "revoked" {
		t.Fatalf("after revocation: %s", reason)
	}
	r.Stop()
	if st, reason := g.get(t, mint(t, claims("/f/"), k.hs)); st != http.StatusServiceUnavailable {
		t.Fatalf("Redis down: %d %s", st, reason)
	}
	r.Start()
	deadline := time.Now().Add(10 * time.Second)
	var body string
	for {
		body = scrape(t, g)
		if v, _ := metric(body, "caddy_valet_revocation_pubsub_reconnects_total"); v >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pub/sub reconnect counted within 10s of Redis returning:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	for _, want := range []struct {
		series string
		min    float64
	}{
		{`caddy_valet_decisions_total{reason="none",result="allow"}`, 3},
		{`caddy_valet_decisions_total{reason="revoked",result="deny"}`, 1},
		{`caddy_valet_decisions_total{reason="revocation_unavailable",result="deny"}`, 1},
		{`caddy_valet_revocation_cache_lookups_total{result="hit"}`, 1},
		{`caddy_valet_revocation_cache_lookups_total{result="miss"}`, 1},
		{`caddy_valet_revocation_store_duration_seconds_count{op="lookup"}`, 2},
		{`caddy_valet_revocation_store_duration_seconds_bucket{op="lookup",le="0.5"}`, 1},
		{`caddy_valet_revocation_store_duration_seconds_count{op="revoke"}`, 1},
		{`caddy_valet_revocation_store_errors_total{op="lookup"}`, 1},
		{`caddy_valet_revocation_lookups_shared_total`, 0},
		{`caddy_valet_revocation_pubsub_up`, 1},
		{`caddy_valet_revocation_pubsub_reconnects_total`, 1},
		{`caddy_valet_revocation_last_invalidation_timestamp_seconds`, float64(began.Unix())},
	} {
		v, ok := metric(body, want.series)
		if !ok || v < want.min {
			t.Errorf("%s = %v (present %v), want at least %v", want.series, v, ok, want.min)
		}
	}
	if v, _ := metric(body, "caddy_valet_revocation_last_invalidation_timestamp_seconds"); v > float64(time.Now().Unix()+1) {
		t.Errorf("last invalidation in the future: %v", v)
	}
	// Every series the example Grafana dashboard queries exists.
	dash, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "examples", "grafana-revocation.json"))
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`caddy_valet_[a-z_]+`).FindAllString(string(dash), -1)
	if len(names) < 8 {
		t.Fatalf("the dashboard queries %d series", len(names))
	}
	for _, name := range names {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("the dashboard queries %s, which the gateway does not expose", name)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}
