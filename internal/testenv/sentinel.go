package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartSentinel starts a Redis Sentinel (redis-server in sentinel mode)
// on a free loopback port, monitoring master under name. It returns the
// Sentinel's address once it reports the master.
func StartSentinel(t testing.TB, master *Redis, name string) string {
	t.Helper()
	return StartSentinelAfter(t, master, name, 5*time.Second)
}

// StartSentinelAfter is StartSentinel with the time a master must be
// unreachable before the Sentinel fails it over to a replica
// (down-after-milliseconds).
func StartSentinelAfter(t testing.TB, master *Redis, name string, downAfter time.Duration) string {
	t.Helper()
	bin := Require(t, "redis-server")
	port := FreePort(t)
	conf := filepath.Join(t.TempDir(), "sentinel.conf") // Sentinel rewrites it
	host, masterPort, _ := strings.Cut(master.Addr, ":")
	cfg := fmt.Sprintf("port %d\nbind 127.0.0.1\nsentinel monitor %s %s %s 1\n"+
		"sentinel down-after-milliseconds %s %d\nsentinel failover-timeout %s 10000\n",
		port, name, host, masterPort, name, downAfter.Milliseconds(), name)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--sentinel")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis sentinel: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := Addr(port)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if reply := RedisCommand(addr, "SENTINEL get-master-addr-by-name "+name); strings.Contains(reply, masterPort) {
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("sentinel on %s did not report master %s within 15s", addr, name)
	return ""
}

// SentinelMaster asks a Sentinel for the port of the master it names now.
func SentinelMaster(sentinel, name string) string {
	reply := RedisCommand(sentinel, "SENTINEL get-master-addr-by-name "+name)
	// *2 $9 127.0.0.1 $N <port>
	fields := strings.Split(strings.TrimSpace(reply), "\r\n")
	if len(fields) < 5 {
		return ""
	}
	return fields[4]
}
