// Package testenv starts the real processes the integration tests speak
// to (our Caddy build, redis-server, ...) and decides what a missing tool
// means: a skip on a developer's machine, a failure under
// VALET_TEST_STRICT=1, where no test may skip for a missing tool.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// Strict reports whether missing tools must fail tests instead of skipping.
func Strict() bool { return os.Getenv("VALET_TEST_STRICT") == "1" }

// Require returns the path of an executable, or skips (fails when strict).
func Require(t testing.TB, tool string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		Missing(t, tool+" not found in PATH")
	}
	return path
}

// Missing skips the test, or fails it under strict mode.
func Missing(t testing.TB, why string) {
	t.Helper()
	if Strict() {
		t.Fatalf("VALET_TEST_STRICT=1 and a required tool is missing: %s", why)
	}
	t.Skip(why)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is "127.0.0.1:port".
func Addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
