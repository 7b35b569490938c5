package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server started for a test, on a free loopback port,
// without persistence. It is stopped when the test ends.
type Redis struct {
	Addr   string
	t      testing.TB
	bin    string
	port   int
	args   []string // beyond port, bind and no persistence
	dir    string   // working directory (a cluster node keeps nodes.conf here)
	cmd    *exec.Cmd
	exited chan error
	// hold keeps the port while the server is stopped, so no other test's
	// server can take it and answer in its place; it refuses every
	// connection it accepts, as a stopped server would.
	hold net.Listener
}

// StartRedis starts a redis-server (skipping the test if there is none).
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	r := newRedis(t)
	r.Start()
	return r
}

// StartReplica starts a redis-server replicating master and waits until
// the replication link is up.
func StartReplica(t testing.TB, master *Redis) *Redis {
	t.Helper()
	r := newRedis(t)
	host, port, _ := net.SplitHostPort(master.Addr)
	r.args = []string{"--replicaof", host, port}
	r.Start()
	r.WaitReplicating(10 * time.Second)
	return r
}

// newRedis prepares a server on a free port, stopped when the test ends.
func newRedis(t testing.TB) *Redis {
	t.Helper()
	r := &Redis{t: t, bin: Require(t, "redis-server"), port: FreePort(t), dir: t.TempDir()}
	r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	t.Cleanup(func() {
		r.Stop()
		r.release()
	})
	return r
}

// Start (re)starts the server on its port and waits until it answers.
func (r *Redis) Start() {
	r.t.Helper()
	if r.cmd != nil {
		return
	}
	r.release()
	args := append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--enable-debug-command", "local"}, r.args...)
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = r.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("starting redis-server: %v", err)
	}
	r.cmd, r.exited = cmd, make(chan error, 1)
	go func() { r.exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-r.exited:
			r.cmd = nil
			r.t.Fatalf("redis-server on %s exited at start: %v", r.Addr, err)
		default:
		}
		if r.ping() {
			return
		}
		if time.Now().After(deadline) {
			r.Stop()
			r.t.Fatalf("redis-server on %s did not answer within 10s", r.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *Redis) ping() bool { return RedisCommand(r.Addr, "PING") == "+PONG\r\n" }

// Running reports whether the server process is up (Stop not called).
func (r *Redis) Running() bool { return r.cmd != nil }

// Info returns one field of INFO (for example "role" or "master_link_status").
func (r *Redis) Info(field string) string {
	for _, line := range strings.Split(RedisCommand(r.Addr, "INFO"), "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	return ""
}

// WaitReplicating waits until this replica's link to its master is up.
func (r *Redis) WaitReplicating(limit time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(limit)
	for r.Info("master_link_status") != "up" {
		if time.Now().After(deadline) {
			r.t.Fatalf("replica %s did not sync with its master within %v", r.Addr, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RedisCommand sends inline commands (several separated by "\r\n", on one
// connection) and returns the raw replies, read whole ("" when nothing
// answers).
func RedisCommand(addr, line string) string {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return ""
	}
	defer c.Close()
	fmt.Fprint(c, line+"\r\n")
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var out strings.Builder
	br := bufio.NewReader(c)
	for range strings.Count(line, "\r\n") + 1 {
		if readReply(br, &out) != nil {
			break
		}
	}
	return out.String()
}

// readReply copies one RESP reply, nested ones included, into out.
func readReply(br *bufio.Reader, out *strings.Builder) error {
	line, err := br.ReadString('\n')
	out.WriteString(line)
	if err != nil || len(line) < 3 {
		return err
	}
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	switch line[0] {
	case '$':
		if n < 0 {
			return nil
		}
		buf := make([]byte, n+2)
		_, err := io.ReadFull(br, buf)
		out.Write(buf)
		return err
	case '*':
		for range n {
			if err := readReply(br, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// Stop kills the server and holds its port; Start brings it back empty.
func (r *Redis) Stop() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.exited
	r.cmd = nil
	if l, err := net.Listen("tcp", r.Addr); err == nil {
		r.hold = l
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
}

func (r *Redis) release() {
	if r.hold != nil {
		r.hold.Close()
		r.hold = nil
	}
}
