package revocation

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// The master hangs (DEBUG SLEEP): the feed is marked down within about
// twice PingEvery (a ping, then its pong's deadline), and is live again on the promoted replica
// soon after Sentinel names it, however long the old master hangs (no
// step may wait for the client's 3s read timeout).
func TestFeedFollowsSentinelFailover(t *testing.T) {
	master := testenv.StartRedis(t)
	replica := testenv.StartReplica(t, master)
	sentinel := testenv.StartSentinelAfter(t, master, "m", time.Second)
	waitFor(t, 15*time.Second, func() bool {
		return strings.Contains(testenv.RedisCommand(sentinel, "SENTINEL replicas m"), replica.Addr[len("127.0.0.1:"):])
	})
	s := NewRedis(redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: []string{sentinel}, MasterName: "m",
		ContextTimeoutEnabled: true, DialTimeout: 500 * time.Millisecond, MaxRetries: -1, DialerRetries: 1,
	}), RedisOptions{})
	t.Cleanup(func() { s.Close() })
	rec := newRecorder()
	s.Watch(rec)
	waitLive(t, rec, true)

	start := time.Now()
	go testenv.RedisCommand(master.Addr, "DEBUG SLEEP 30")
	waitLive(t, rec, false)
	down := time.Since(start)
	_, port, _ := strings.Cut(replica.Addr, ":")
	waitFor(t, 15*time.Second, func() bool { return testenv.SentinelMaster(sentinel, "m") == port })
	switched := time.Since(start)
	waitLive(t, rec, true)
	up := time.Since(start)
	t.Logf("feed down after %v; Sentinel names the replica after %v; feed live again after %v",
		down.Round(time.Millisecond), switched.Round(time.Millisecond), up.Round(time.Millisecond))
	if down > 2500*time.Millisecond {
		t.Errorf("a hung master was taken for live for %v", down)
	}
	if up-switched > 1500*time.Millisecond {
		t.Errorf("the feed came back %v after Sentinel named the new master", up-switched)
	}
}
