package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// startTusFleet starts two gateways on one root, one upload dir and one
// Redis, with the same key.
func startTusFleet(t *testing.T, root, redisAddr string) (a, b *tusGateway) {
	t.Helper()
	dir := t.TempDir()
	block := fmt.Sprintf("resumable {\n\t\t\tdir %s\n\t\t\tredis {\n\t\t\t\taddresses %s\n\t\t\t}\n\t\t}", dir, redisAddr)
	ga := startStoreGateway(t, root, block, "")
	gb := startStoreGatewayKeys(t, root, block, "", ga.keys)
	return &tusGateway{storeGateway: ga, dir: dir}, &tusGateway{storeGateway: gb, dir: dir}
}

// TestResumableFleet: an upload started on gateway A continues on B; while
// a PATCH hangs on A (a client that lost its connection), B's request
// takes the lock through Redis (A stops its request on B's ask) and goes
// on from the offset A stored.
func TestResumableFleet(t *testing.T) {
	testenv.Require(t, "redis-server")
	redis := testenv.StartRedis(t)
	root := t.TempDir()
	a, b := startTusFleet(t, root, redis.Addr)
	data := randomBytes(t, 4<<20)
	c := tusGrant("/up/", 0)
	tok := mint(t, c, a.keys.hs)

	expectReason(t, "create on A", a.create(t, "/up/f.bin", tok, int64(len(data))), 201, "")
	expectReason(t, "chunk on A", a.patch(t, "/up/f.bin", tok, 0, data[:1<<20]), 204, "")
	if off := b.offset(t, "/up/f.bin", tok); off != 1<<20 {
		t.Fatalf("B sees offset %d, want %d", off, 1<<20)
	}

	// A PATCH on A that sends part of its body and hangs, holding the lock.
	conn, err := net.Dial("tcp", a.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH /up/f.bin?vk=%s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: %d\r\nContent-Length: %d\r\n\r\n",
		tok, a.addr, 1<<20, 1<<20)
	conn.Write(data[1<<20 : 1<<20+200<<10])
	lockKey := "valet:tus:lock:"
	eventually(t, 5*time.Second, func() bool {
		return strings.Contains(testenv.RedisCommand(redis.Addr, "KEYS "+lockKey+"*"), lockKey)
	}, "A's PATCH holds the lock in Redis")

	start := time.Now()
	off := b.offset(t, "/up/f.bin", tok) // B asks A, through Redis, to let go
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("B waited %v for the lock (the lock timeout, not a release)", took)
	}
	if off < 1<<20 || off > 1<<20+200<<10 {
		t.Fatalf("offset on B after A's hanging PATCH: %d", off)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("A's hanging PATCH was not stopped: %v", err)
	}
	if resp.StatusCode < 400 {
		t.Fatalf("A's hanging PATCH answered %d", resp.StatusCode)
	}

	resp = b.patch(t, "/up/f.bin", tok, off, data[off:])
	expectReason(t, "rest on B", resp, 204, "")
	got, err := os.ReadFile(filepath.Join(root, "up/f.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes (%v)", len(got), err)
	}
	if a.offset(t, "/up/f.bin", tok) != -1 {
		t.Fatal("A still sees the completed upload")
	}
	a.noUploads(t)
	if keys := testenv.RedisCommand(redis.Addr, "KEYS "+lockKey+"*"); strings.Contains(keys, lockKey) {
		t.Fatalf("a lock left in Redis: %q", keys)
	}
	t.Logf("B took the lock in %v at offset %s", time.Since(start).Round(time.Millisecond), strconv.FormatInt(off, 10))
}
