// Package testenv starts the real processes the integration tests speak
// to (our Caddy build, redis-server, ...) and decides what a missing tool
// means: a skip on a developer's machine, a failure under
// VALET_TEST_STRICT=1, where no test may skip for a missing tool.
package testenv

import (
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
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

// FreePort returns a TCP port that was free, on every address, a moment
// ago, and that no other caller in this process got. It is drawn below the
// kernel's ephemeral range, where outgoing connections take their local
// ports: a port from that range can be taken by any client socket between
// this check and the server's bind.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 1000 {
		port := minPort + rand.IntN(ephemeralStart()-minPort)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		if l, err := net.Listen("tcp", ":"+strconv.Itoa(port)); err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free TCP port below the ephemeral range")
	return 0
}

// minPort keeps clear of the well-known and registered ports servers
// commonly use.
const minPort = 20000

var handedOut sync.Map // port -> true

// ephemeralStart is the first port of the kernel's ephemeral range
// (32768 where it cannot be read).
var ephemeralStart = sync.OnceValue(func() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if lo, err := strconv.Atoi(f[0]); err == nil && lo > minPort+1000 {
				return lo
			}
		}
	}
	return 32768
})

// Addr is "127.0.0.1:port".
func Addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
