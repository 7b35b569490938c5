package valetstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/redisconf"
)

// RedisLocker holds the locks of resumable uploads in Redis, so several
// gateways sharing one upload dir continue each other's uploads and never
// write one upload at once. tusd's own lockers (memory, file) hold a lock
// in one process or rely on file locks a network file system may not
// honour; Redis is the engine caddy-valet fleets already share.
//
// A lock is a key (<key_prefix>lock:<upload id>) set with SET NX and a
// TTL that its holder renews every TTL/3 while it holds it, so the lock of
// a gateway that died is free again after at most LockTTL. A request that
// finds the lock taken publishes the upload id on <key_prefix>release; the
// gateway holding it stops that request (a client that lost its connection
// mid-PATCH leaves it hanging there), then the waiter takes the lock.
type RedisLocker struct {
	redisconf.Options

	// LockTTL is how long a lock outlives a gateway that stopped renewing
	// it. Default: 30s.
	LockTTL caddy.Duration `json:"lock_ttl,omitempty"`

	client redis.UniversalClient
	sub    *redis.PubSub
	ttl    time.Duration
	logger *zap.Logger

	mu   sync.Mutex
	held map[string]func() // upload id -> how to ask its holder here to let go
}

// DefaultLockPrefix starts the resumable uploads' keys in Redis.
const DefaultLockPrefix = "valet:tus:"

// Locker starts the client and returns the locker; Close stops it.
func (rl *RedisLocker) Locker(logger *zap.Logger) tusd.Locker {
	rl.Options.Provision(DefaultLockPrefix)
	rl.ttl = time.Duration(rl.LockTTL)
	if rl.ttl <= 0 {
		rl.ttl = 30 * time.Second
	}
	rl.logger = logger
	rl.held = map[string]func(){}
	rl.client = redis.NewUniversalClient(rl.Universal())
	rl.sub = rl.client.Subscribe(context.Background(), rl.KeyPrefix+"release")
	go rl.listen(rl.sub.Channel())
	return rl
}

// Validate checks the configuration.
func (rl *RedisLocker) Validate() error {
	if rl.LockTTL < 0 {
		return fmt.Errorf("redis lock_ttl must not be negative")
	}
	return nil
}

// Close stops the client.
func (rl *RedisLocker) Close() {
	if rl.sub != nil {
		rl.sub.Close()
	}
	if rl.client != nil {
		rl.client.Close()
	}
}

// listen passes release requests to the requests holding the lock here.
func (rl *RedisLocker) listen(ch <-chan *redis.Message) {
	for m := range ch {
		rl.mu.Lock()
		release := rl.held[m.Payload]
		rl.mu.Unlock()
		if release != nil {
			release()
		}
	}
}

// NewLock implements tusd.Locker.
func (rl *RedisLocker) NewLock(id string) (tusd.Lock, error) {
	return &redisLock{rl: rl, id: id, key: rl.KeyPrefix + "lock:" + id}, nil
}

type redisLock struct {
	rl    *RedisLocker
	id    string
	key   string
	token string
	stop  chan struct{}
}

// Lock takes the lock, asking its holder (on any gateway) to let go, until
// ctx ends.
func (k *redisLock) Lock(ctx context.Context, requestRelease func()) error {
	b := make([]byte, 16)
	rand.Read(b)
	k.token = hex.EncodeToString(b)
	var asked time.Time
	for {
		ok, err := k.rl.client.SetNX(ctx, k.key, k.token, k.rl.ttl).Result()
		switch {
		case ctx.Err() != nil:
			return tusd.ErrLockTimeout
		case err != nil:
			return fmt.Errorf("taking the upload lock in redis: %w", err)
		case ok:
			k.rl.mu.Lock()
			k.rl.held[k.id] = requestRelease
			k.rl.mu.Unlock()
			k.stop = make(chan struct{})
			go k.renew(k.stop)
			return nil
		}
		if time.Since(asked) > time.Second {
			k.rl.client.Publish(ctx, k.rl.KeyPrefix+"release", k.id)
			asked = time.Now()
		}
		select {
		case <-ctx.Done():
			return tusd.ErrLockTimeout
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ours runs a command on the lock's key only while it holds our token.
var ours = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then
	if ARGV[2] == "0" then return redis.call("DEL", KEYS[1]) end
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

func (k *redisLock) renew(stop <-chan struct{}) {
	t := time.NewTicker(k.rl.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), k.rl.ttl/3)
			n, err := ours.Run(ctx, k.rl.client, []string{k.key}, k.token, k.rl.ttl.Milliseconds()).Int()
			cancel()
			if err != nil || n == 0 {
				k.rl.logger.Error("renewing an upload lock", zap.String("upload", k.id), zap.Error(err))
			}
		}
	}
}

// Unlock releases the lock if it is still ours.
func (k *redisLock) Unlock() error {
	close(k.stop)
	k.rl.mu.Lock()
	delete(k.rl.held, k.id)
	k.rl.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return ours.Run(ctx, k.rl.client, []string{k.key}, k.token, 0).Err()
}
