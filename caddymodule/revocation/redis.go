package revocation

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix starts every key and the channel the Redis store uses.
const DefaultPrefix = "valet:"

// RedisStore keeps revocations in Redis, shared by a fleet of gateways.
// The key schema (see doc.go) is public: an application may revoke by
// writing the keys itself and publishing on the channel.
type RedisStore struct {
	client    redis.UniversalClient
	cluster   *redis.ClusterClient // nil unless client is a Cluster client
	prefix    string
	replicas  int
	observer  FeedObserver
	listeners listeners
	cancel    context.CancelFunc
	done      sync.WaitGroup
}

// RedisOptions configure NewRedis.
type RedisOptions struct {
	// Prefix starts every key and the channel name; DefaultPrefix if empty.
	Prefix string
	// PingEvery is how often an idle subscription is checked, which bounds
	// how long a silently dead connection is taken for live.
	PingEvery time.Duration
	// Observer, if set, hears about the pub/sub feed (metrics).
	Observer FeedObserver
	// WaitReplicas, when positive, makes every write (revocation, removal,
	// use count) wait until that many replicas have it (Redis WAIT) before
	// it counts as done, so that a failover to a replica cannot lose it.
	// A write not acknowledged in time is an error (the gate fails closed).
	WaitReplicas int
}

// FeedObserver hears about a Redis store's pub/sub feed. It must not block.
type FeedObserver interface {
	// FeedUp says a subscription took effect; reconnect is false for the
	// store's first one.
	FeedUp(reconnect bool)
	// FeedDown says the subscription was lost.
	FeedDown()
	// FeedMessage says a change was announced.
	FeedMessage()
}

type nopFeedObserver struct{}

func (nopFeedObserver) FeedUp(bool)  {}
func (nopFeedObserver) FeedDown()    {}
func (nopFeedObserver) FeedMessage() {}

// NewRedis makes a store over a client (single node, Sentinel or Cluster,
// as redis.NewUniversalClient chose) and starts listening on its channel.
// Close closes the client.
func NewRedis(client redis.UniversalClient, o RedisOptions) *RedisStore {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.PingEvery <= 0 {
		o.PingEvery = time.Second
	}
	if o.Observer == nil {
		o.Observer = nopFeedObserver{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &RedisStore{client: client, prefix: o.Prefix, replicas: o.WaitReplicas, observer: o.Observer, cancel: cancel}
	s.cluster, _ = client.(*redis.ClusterClient)
	s.done.Add(1)
	go s.subscribe(ctx, o.PingEvery)
	return s
}

// Key is the Redis key of a subject's revocation entry.
func (s *RedisStore) Key(sub Subject) string { return s.prefix + "rev:" + sub.String() }

// UsesKey is the Redis key of a token's use counter.
func (s *RedisStore) UsesKey(jti string) string { return s.prefix + "uses:" + jti }

// Channel is where changes are announced.
func (s *RedisStore) Channel() string { return s.prefix + "revocations" }

// allTokens is the value of an entry without cutoff.
const allTokens = "all"

// Lookup implements Store: one pipelined round trip (on a Cluster, one per
// node touched, in parallel). A jti entry needs only PTTL (its value means
// nothing); the others need GET for the cutoff and PTTL for the expiry.
func (s *RedisStore) Lookup(ctx context.Context, subjects []Subject) ([]*Entry, error) {
	pipe := s.client.Pipeline()
	gets := make([]*redis.StringCmd, len(subjects))
	ttls := make([]*redis.DurationCmd, len(subjects))
	for i, sub := range subjects {
		if sub.Kind != JTI {
			gets[i] = pipe.Get(ctx, s.Key(sub))
		}
		ttls[i] = pipe.PTTL(ctx, s.Key(sub))
	}
	now := time.Now()
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.failed("lookup", err)
	}
	out := make([]*Entry, len(subjects))
	for i, sub := range subjects {
		e, err := decodeRedis(sub, gets[i], ttls[i], now)
		if err != nil {
			return nil, s.failed("lookup", err)
		}
		out[i] = e
	}
	return out, nil
}

// failed wraps a store error. On a Cluster it also asks the client to
// reload the slot map, so that once a replica has taken over from a failed
// primary the next call goes to it.
func (s *RedisStore) failed(op string, err error) error {
	if s.cluster != nil && !errors.Is(err, context.Canceled) {
		s.cluster.ReloadState(context.Background())
	}
	return fmt.Errorf("redis %s: %w", op, err)
}

// Revoke implements Store.
func (s *RedisStore) Revoke(ctx context.Context, e Entry) error {
	v := allTokens
	if !e.Before.IsZero() {
		v = strconv.FormatInt(e.Before.Unix(), 10)
	}
	args := redis.SetArgs{}
	if !e.Expires.IsZero() {
		args.ExpireAt = e.Expires
	}
	key := s.Key(e.Subject)
	if _, err := s.write(ctx, key, func(p redis.Pipeliner) redis.Cmder { return p.SetArgs(ctx, key, v, args) }); err != nil {
		return s.failed("revoke "+e.Subject.String(), err)
	}
	return s.announce(ctx, e.Subject.String())
}

// Remove implements Store.
func (s *RedisStore) Remove(ctx context.Context, sub Subject) (bool, error) {
	key := s.Key(sub)
	cmd, err := s.write(ctx, key, func(p redis.Pipeliner) redis.Cmder { return p.Del(ctx, key) })
	if err != nil {
		return false, s.failed("remove "+sub.String(), err)
	}
	n := cmd.(*redis.IntCmd).Val()
	return n > 0, s.announce(ctx, sub.String())
}

// announce publishes a change: SPUBLISH on a Cluster (sharded pub/sub, see
// redis_pubsub.go), PUBLISH otherwise.
func (s *RedisStore) announce(ctx context.Context, msg string) error {
	publish := s.client.Publish
	if s.cluster != nil {
		publish = s.client.SPublish
	}
	if err := publish(ctx, s.Channel(), msg).Err(); err != nil {
		return s.failed("announce "+msg, err)
	}
	return nil
}

// List implements Store, scanning every master of a Cluster.
func (s *RedisStore) List(ctx context.Context) ([]Entry, error) {
	var (
		mu   sync.Mutex
		keys []string
	)
	match := globEscape(s.prefix+"rev:") + "*"
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		it := c.Scan(ctx, 0, match, 1000).Iterator()
		for it.Next(ctx) {
			mu.Lock()
			keys = append(keys, it.Val())
			mu.Unlock()
		}
		return it.Err()
	}
	var err error
	if s.cluster != nil {
		err = s.cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.client)
	}
	if err != nil {
		return nil, s.failed("list", err)
	}
	var subs []Subject
	for _, k := range keys {
		if sub, err := ParseSubject(strings.TrimPrefix(k, s.prefix+"rev:")); err == nil {
			subs = append(subs, sub)
		}
	}
	entries, err := s.Lookup(ctx, subs)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(entries))
	for _, e := range entries {
		if e != nil { // gone between SCAN and GET
			out = append(out, *e)
		}
	}
	return out, nil
}

// useScript counts a use and sets the counter's expiry on the first one;
// one key, so it runs on a Cluster too.
var useScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[1]) end
return n`)

// Use implements Store with INCR in a Lua script, atomic on the server.
func (s *RedisStore) Use(ctx context.Context, jti string, expires time.Time) (int64, error) {
	keys := []string{s.UsesKey(jti)}
	var (
		n   int64
		err error
	)
	if s.replicas == 0 {
		n, err = useScript.Run(ctx, s.client, keys, expires.UnixMilli()).Int64()
	} else {
		var cmd redis.Cmder
		cmd, err = s.write(ctx, keys[0], func(p redis.Pipeliner) redis.Cmder {
			return useScript.Eval(ctx, p, keys, expires.UnixMilli())
		})
		if err == nil {
			n, err = cmd.(*redis.Cmd).Int64()
		}
	}
	if err != nil {
		return 0, s.failed("use", err)
	}
	return n, nil
}

// write runs one write command on key and, with WaitReplicas, WAITs for
// the replicas on the same connection of the key's primary, pipelined. It
// returns the write's command.
func (s *RedisStore) write(ctx context.Context, key string, cmd func(redis.Pipeliner) redis.Cmder) (redis.Cmder, error) {
	if s.replicas == 0 {
		p := s.client.Pipeline()
		c := cmd(p)
		_, err := p.Exec(ctx)
		return c, err
	}
	var node redis.Cmdable = s.client
	if s.cluster != nil {
		n, err := s.cluster.MasterForKey(ctx, key)
		if err != nil {
			return nil, err
		}
		node = n
	}
	wait := 100 * time.Millisecond
	if dl, ok := ctx.Deadline(); ok {
		// Redis ends a timed-out WAIT only on its next cron tick (up to
		// 100ms late): leave that much for the reply. WAIT 0 would block
		// for ever.
		left := time.Until(dl)
		wait = max(left-max(left/2, 120*time.Millisecond), time.Millisecond)
	}
	var c redis.Cmder
	var acked *redis.Cmd
	_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		c = cmd(p)
		acked = p.Do(ctx, "WAIT", s.replicas, wait.Milliseconds())
		return nil
	})
	if err != nil {
		return c, err
	}
	if n, _ := acked.Int64(); n < int64(s.replicas) {
		return c, fmt.Errorf("%d of %d replicas acknowledged the write within %v", n, s.replicas, wait)
	}
	return c, nil
}

// Watch implements Store.
func (s *RedisStore) Watch(l Listener) func() { return s.listeners.add(l) }

// Close implements Store: it stops the subscriber and closes the client.
func (s *RedisStore) Close() error {
	s.cancel()
	s.done.Wait()
	return s.client.Close()
}

// decodeRedis reads an entry (get is nil for a jti, whose presence and
// expiry PTTL tells). A value that is not a cutoff revokes every token of
// the subject: a malformed hand-written entry errs on the safe side.
func decodeRedis(sub Subject, get *redis.StringCmd, ttl *redis.DurationCmd, now time.Time) (*Entry, error) {
	d, err := ttl.Result()
	if err != nil {
		return nil, fmt.Errorf("redis lookup %s: %w", sub, err)
	}
	e := &Entry{Subject: sub}
	if get != nil {
		v, err := get.Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("redis lookup %s: %w", sub, err)
		}
		if sec, err := strconv.ParseInt(v, 10, 64); err == nil && sec > 0 {
			e.Before = time.Unix(sec, 0)
		}
	} else if d == -2 { // no such key
		return nil, nil
	}
	if d > 0 {
		e.Expires = now.Add(d).Truncate(time.Millisecond)
	}
	return e, nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
