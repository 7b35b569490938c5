package testenv

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
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
	r := &Redis{t: t, bin: Require(t, "redis-server"), port: FreePort(t)}
	r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	r.Start()
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
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
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

// RedisCommand sends one inline command and returns the raw reply ("" when
// nothing answers).
func RedisCommand(addr, line string) string {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return ""
	}
	defer c.Close()
	fmt.Fprint(c, line+"\r\n")
	buf := make([]byte, 512)
	c.SetReadDeadline(time.Now().Add(time.Second))
	n, _ := c.Read(buf)
	return string(buf[:n])
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
