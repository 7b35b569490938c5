package caddymodule

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/revocation"
)

func init() {
	caddy.RegisterModule(BoltRevocationStore{})
	caddy.RegisterModule(RedisRevocationStore{})
}

// BoltRevocationStore keeps the revocation list in a bbolt file: persistent
// across restarts, no service needed, for a single gateway process.
type BoltRevocationStore struct {
	// Path is the database file. Default: valet/revocations.db in Caddy's
	// data directory.
	Path string `json:"path,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (BoltRevocationStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "valet.revocation.bolt",
		New: func() caddy.Module { return new(BoltRevocationStore) },
	}
}

// Provision resolves the path.
func (b *BoltRevocationStore) Provision(caddy.Context) error {
	if b.Path == "" {
		b.Path = filepath.Join(caddy.AppDataDir(), "valet", "revocations.db")
	}
	p, err := filepath.Abs(caddy.NewReplacer().ReplaceKnown(b.Path, ""))
	if err != nil {
		return fmt.Errorf("revocation store path: %w", err)
	}
	b.Path = p
	return nil
}

// StoreKey implements RevocationStore.
func (b *BoltRevocationStore) StoreKey() string { return "bolt:" + b.Path }

// OpenStore implements RevocationStore.
func (b *BoltRevocationStore) OpenStore() (revocation.Store, error) {
	return revocation.OpenBolt(revocation.BoltOptions{Path: b.Path})
}

// RedisRevocationStore keeps the revocation list in Redis, shared by every
// gateway configured with it. One configuration covers a single server,
// Sentinel (master_name) and Cluster (several addresses, or cluster).
type RedisRevocationStore struct {
	// Addresses are host:port pairs: one server, the Sentinels (with
	// master_name), or Cluster seed nodes. Default: 127.0.0.1:6379.
	Addresses []string `json:"addresses,omitempty"`

	// MasterName selects Sentinel mode: the name of the monitored master.
	MasterName string `json:"master_name,omitempty"`

	// Cluster selects Cluster mode even with a single address.
	Cluster bool `json:"cluster,omitempty"`

	// Username for Redis ACL authentication.
	Username string `json:"username,omitempty"`

	// Password for Redis authentication; placeholders such as {env.X} work.
	Password string `json:"password,omitempty"`

	// DB is the database number (not used by Cluster).
	DB int `json:"db,omitempty"`

	// TLS connects with TLS, verifying the server with the system roots.
	TLS bool `json:"tls,omitempty"`

	// KeyPrefix starts every key and the pub/sub channel. Default: valet:.
	KeyPrefix string `json:"key_prefix,omitempty"`

	// DialTimeout bounds connecting. Default: 500ms.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`

	// WaitReplicas, when positive, makes every write (revocation, removal,
	// use count) wait until that many replicas acknowledge it (Redis WAIT,
	// within the revocation timeout), so that a failover cannot lose it.
	// A write not acknowledged in time fails: the admin API answers an
	// error and a counted token is refused with revocation_unavailable.
	// Default 0: writes are replicated asynchronously.
	WaitReplicas int `json:"wait_replicas,omitempty"`

	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (RedisRevocationStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "valet.revocation.redis",
		New: func() caddy.Module { return new(RedisRevocationStore) },
	}
}

// Provision fills in defaults and placeholders.
func (r *RedisRevocationStore) Provision(ctx caddy.Context) error {
	r.logger = ctx.Logger()
	if len(r.Addresses) == 0 {
		r.Addresses = []string{"127.0.0.1:6379"}
	}
	if r.KeyPrefix == "" {
		r.KeyPrefix = revocation.DefaultPrefix
	}
	if r.DialTimeout <= 0 {
		r.DialTimeout = caddy.Duration(500 * time.Millisecond)
	}
	repl := caddy.NewReplacer()
	r.Username = repl.ReplaceKnown(r.Username, "")
	r.Password = repl.ReplaceKnown(r.Password, "")
	// go-redis logs every failed dial on its own; route that to Caddy's log.
	redis.SetLogger(redisLogger{r.logger})
	return nil
}

// Validate refuses settings go-redis would silently reinterpret: a
// Sentinel name with cluster, and a database number on a Cluster (which
// has only database 0).
func (r *RedisRevocationStore) Validate() error {
	cluster := r.Cluster || (r.MasterName == "" && len(r.Addresses) > 1)
	switch {
	case r.Cluster && r.MasterName != "":
		return fmt.Errorf("redis revocation store: cluster and master_name (Sentinel) exclude each other")
	case cluster && r.DB != 0:
		return fmt.Errorf("redis revocation store: a Cluster has only db 0 (several addresses without master_name mean Cluster)")
	case r.DB < 0 || r.WaitReplicas < 0:
		return fmt.Errorf("redis revocation store: db and wait_replicas must not be negative")
	}
	return nil
}

// StoreKey implements RevocationStore; the settings are hashed so the
// password never sits in a pool key.
func (r *RedisRevocationStore) StoreKey() string {
	b, _ := json.Marshal(r)
	sum := sha256.Sum256(b)
	return "redis:" + hex.EncodeToString(sum[:])
}

// OpenStore implements RevocationStore.
func (r *RedisRevocationStore) OpenStore() (revocation.Store, error) {
	o := &redis.UniversalOptions{
		Addrs:                 r.Addresses,
		MasterName:            r.MasterName,
		IsClusterMode:         r.Cluster,
		Username:              r.Username,
		Password:              r.Password,
		DB:                    r.DB,
		DialTimeout:           time.Duration(r.DialTimeout),
		ContextTimeoutEnabled: true, // the checker's timeout bounds every call
		MaxRetries:            -1,   // a retry would outlive that timeout
		DialerRetries:         1,    // a refused dial fails the call at once
	}
	if r.TLS {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return revocation.NewRedis(redis.NewUniversalClient(o), revocation.RedisOptions{
		Prefix: r.KeyPrefix, Observer: revocationObserver{}, WaitReplicas: r.WaitReplicas,
	}), nil
}

type redisLogger struct{ l *zap.Logger }

func (rl redisLogger) Printf(_ context.Context, format string, v ...any) {
	rl.l.Debug(fmt.Sprintf(format, v...))
}

// Interface guards
var (
	_ RevocationStore   = (*BoltRevocationStore)(nil)
	_ RevocationStore   = (*RedisRevocationStore)(nil)
	_ caddy.Provisioner = (*BoltRevocationStore)(nil)
	_ caddy.Provisioner = (*RedisRevocationStore)(nil)
	_ caddy.Validator   = (*RedisRevocationStore)(nil)
)
