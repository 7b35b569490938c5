package integration

import (
	"strings"
	"testing"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// TestS3ResumableFleet: two gateways on one bucket and one Redis; an
// upload started on A continues on B, which finds it by the state in the
// bucket, and completes into the destination.
func TestS3ResumableFleet(t *testing.T) {
	testenv.Require(t, "redis-server")
	redis := testenv.StartRedis(t)
	store := startVersity(t, s3Bucket)
	bucket := newBucketClient(store)
	lock := "redis {\n\t\t\taddresses " + redis.Addr + "\n\t\t}"
	a := startS3TusGateway(t, store, newKeys(t), "", lock)
	b := startS3TusGateway(t, store, a.keys, "", lock)
	data := randomBytes(t, 11<<20)
	tok := mint(t, tusGrant("/up/", 0), a.keys.hs)

	expectReason(t, "create on A", a.create(t, "/up/f.bin", tok, int64(len(data))), 201, "")
	expectReason(t, "part on A", a.patch(t, "/up/f.bin", tok, 0, data[:5<<20]), 204, "")
	expectReason(t, "less than a part on A", a.patch(t, "/up/f.bin", tok, 5<<20, data[5<<20:6<<20]), 204, "")
	if off := b.offset(t, "/up/f.bin", tok); off != 6<<20 {
		t.Fatalf("B sees offset %d, want %d", off, 6<<20)
	}
	expectReason(t, "rest on B", b.patch(t, "/up/f.bin", tok, 6<<20, data[6<<20:]), 204, "")
	if a.offset(t, "/up/f.bin", tok) != -1 {
		t.Fatal("A still sees the completed upload")
	}
	get, body := do(t, "GET", a.url(t, "/up/f.bin", claims("/up/")), nil, 0)
	if get.StatusCode != 200 || body != string(data) {
		t.Fatalf("GET on A: %d, %d bytes", get.StatusCode, len(body))
	}
	bucket.settled(t, "/up/f.bin", string(data))
	if keys := testenv.RedisCommand(redis.Addr, "KEYS valet:tus:lock:*"); strings.Contains(keys, "valet:tus:lock:") {
		t.Fatalf("a lock left in Redis: %q", keys)
	}
}
