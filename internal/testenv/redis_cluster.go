package testenv

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ClusterNodeTimeout is the cluster-node-timeout of a test cluster: a
// primary is failed over about two to three times this long after it dies.
const ClusterNodeTimeout = time.Second

// RedisCluster is a Redis Cluster started for a test on loopback: three
// primaries with one replica each (redis-server --cluster-enabled yes,
// joined by redis-cli --cluster create ... --cluster-replicas 1).
type RedisCluster struct {
	Nodes []*Redis
	t     testing.TB
}

// StartRedisCluster starts the six nodes, creates the cluster and waits
// until every slot is served and every replica has synced.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	cli := Require(t, "redis-cli")
	c := &RedisCluster{t: t, Nodes: make([]*Redis, 6)}
	for i := range c.Nodes {
		r := newRedis(t)
		r.args = []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout.Milliseconds())),
			"--cluster-port", strconv.Itoa(FreePort(t))}
		r.Start()
		c.Nodes[i] = r
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy(30 * time.Second)
	return c
}

// Addrs are the addresses of every node, usable as seeds.
func (c *RedisCluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// Primaries are the running nodes that are primaries now.
func (c *RedisCluster) Primaries() []*Redis {
	var out []*Redis
	for _, n := range c.Nodes {
		if n.Running() && n.Info("role") == "master" {
			out = append(out, n)
		}
	}
	return out
}

// PrimaryFor is the running primary serving key's slot (the one that does
// not answer MOVED), or nil.
func (c *RedisCluster) PrimaryFor(key string) *Redis {
	for _, n := range c.Primaries() {
		if reply := RedisCommand(n.Addr, "EXISTS "+key); strings.HasPrefix(reply, ":") {
			return n
		}
	}
	return nil
}

// Replicas are the running replicas of primary.
func (c *RedisCluster) Replicas(primary *Redis) []*Redis {
	_, port, _ := strings.Cut(primary.Addr, ":")
	var out []*Redis
	for _, n := range c.Nodes {
		if n.Running() && n.Info("role") == "slave" && n.Info("master_port") == port {
			out = append(out, n)
		}
	}
	return out
}

// WaitHealthy waits until every running node says the cluster is ok with
// all slots served, every running replica's link is up and every primary
// with a running replica counts it online.
func (c *RedisCluster) WaitHealthy(limit time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for !c.healthy() {
		if time.Now().After(deadline) {
			c.t.Fatalf("redis cluster not healthy within %v:\n%s", limit, RedisCommand(c.Primaries()[0].Addr, "CLUSTER NODES"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *RedisCluster) healthy() bool {
	primaries := 0
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		info := RedisCommand(n.Addr, "CLUSTER INFO")
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
			return false
		}
		switch n.Info("role") {
		case "master":
			primaries++
			// A primary with a running replica must count it online (WAIT
			// counts only those).
			if len(c.Replicas(n)) > 0 && !strings.Contains(n.Info("slave0"), "state=online") {
				return false
			}
		case "slave":
			if n.Info("master_link_status") != "up" {
				return false
			}
		}
	}
	return primaries == 3
}
