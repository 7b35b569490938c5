package testenv

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// CaddyBinary builds ./cmd/caddy once per test process and returns its path.
func CaddyBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "valet-caddy-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "caddy")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/caddy")
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// RepoRoot is the module root, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// testGlobals are the global options of a test Caddyfile that brings none:
// the admin endpoint on its own free port, and no certificates.
const testGlobals = "{\n\tadmin {ADMIN}\n\tauto_https off\n}\n"

// Caddy is a running Caddy process started from a Caddyfile.
type Caddy struct {
	Cmd       *exec.Cmd
	AdminAddr string
	Dir       string // config, data and log files live here
	logs      *syncBuffer
	exited    chan struct{} // closed when the process has ended
}

// Logs returns everything the process wrote to stdout and stderr so far.
func (c *Caddy) Logs() string { return c.logs.String() }

// StartCaddy writes the Caddyfile and runs our Caddy build on it. A
// Caddyfile without global options gets testGlobals; one with its own must
// say `admin {ADMIN}`. {ADMIN} becomes a free loopback address. ready is a
// URL polled until it answers at all.
func StartCaddy(t testing.TB, caddyfile, ready string) *Caddy {
	t.Helper()
	bin := CaddyBinary(t)
	dir := t.TempDir()
	c := &Caddy{AdminAddr: Addr(FreePort(t)), Dir: dir, logs: &syncBuffer{}}
	if !strings.HasPrefix(strings.TrimSpace(caddyfile), "{") {
		caddyfile = testGlobals + caddyfile
	}
	caddyfile = strings.ReplaceAll(caddyfile, "{ADMIN}", c.AdminAddr)
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Cmd = exec.Command(bin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	c.Cmd.Dir = dir
	c.Cmd.Env = append(os.Environ(),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"HOME="+dir)
	c.Cmd.Stdout, c.Cmd.Stderr = c.logs, c.logs
	c.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.exited = make(chan struct{})
	go func() { c.Cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() { c.Stop() })
	c.waitStarted(t)
	WaitHTTP(t, ready, 20*time.Second, func() string { return c.Logs() })
	return c
}

// waitStarted waits for this process to report its config running. A
// ready URL alone could be answered by another test's server that took a
// port between FreePort and our bind; then this process exits instead.
func (c *Caddy) waitStarted(t testing.TB) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(c.Logs(), "serving initial configuration") {
		select {
		case <-c.exited:
			t.Fatalf("caddy exited before serving its configuration:\n%s", c.Logs())
		case <-deadline:
			t.Fatalf("caddy did not serve its configuration within 60s:\n%s", c.Logs())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop ends the process and waits for it.
func (c *Caddy) Stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	c.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		c.Cmd.Process.Kill()
		<-c.exited
	}
}

// WaitHTTP polls url until it answers (any status) or the time is up.
func WaitHTTP(t testing.TB, url string, limit time.Duration, logs func() string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	extra := ""
	if logs != nil {
		extra = logs()
	}
	t.Fatalf("%s did not answer within %v\n%s", url, limit, extra)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
