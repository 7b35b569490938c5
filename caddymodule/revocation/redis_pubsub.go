package revocation

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// How changes reach every gateway
//
// Single server and Sentinel: PUBLISH and SUBSCRIBE on the channel.
//
// Cluster: a gateway announces with SPUBLISH (sharded pub/sub, Redis 7):
// the message stays within the shard that serves the channel's slot,
// where every gateway's subscription is (go-redis connects a subscription
// to the primary of that slot), instead of crossing the cluster bus to
// every node as a PUBLISH does. Each gateway subscribes on one connection
// with both SSUBSCRIBE and SUBSCRIBE, so an application's hand-written
// PUBLISH (to any node) still reaches it. When the shard's primary fails,
// the subscription breaks; the gateway marks the feed down (quiet_ttl
// applies), resubscribes to the promoted replica, and drops its cached
// answers, since messages sent meanwhile are lost.

// replyWait bounds how long the subscriber waits for the server to confirm
// a subscription or answer a ping.
const replyWait = 500 * time.Millisecond

// subscribe listens for announced changes until ctx ends. The feed is live
// from each (re)subscription until the connection fails or a ping goes
// unanswered; every resubscription invalidates everything, since messages
// sent while the connection was down are lost.
func (s *RedisStore) subscribe(ctx context.Context, pingEvery time.Duration) {
	defer s.done.Done()
	backoff := 50 * time.Millisecond
	subscribed := false
	for ctx.Err() == nil {
		if s.listen(ctx, pingEvery, &backoff, subscribed) {
			subscribed = true
			s.observer.FeedDown()
		}
		s.listeners.setLive(false)
		if s.cluster != nil {
			s.cluster.ReloadState(ctx) // the channel's shard may have a new primary
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// open starts the subscription: on a Cluster to both the sharded and the
// global channel, and reports how many confirmations make it complete.
func (s *RedisStore) open(ctx context.Context) (*redis.PubSub, int, error) {
	if s.cluster == nil {
		return s.client.Subscribe(ctx, s.Channel()), 1, nil
	}
	ps := s.cluster.SSubscribe(ctx, s.Channel())
	if err := ps.Subscribe(ctx, s.Channel()); err != nil {
		ps.Close()
		return nil, 0, err
	}
	return ps, 2, nil
}

// listen runs one subscription until it fails; it reports whether the
// subscription took effect.
func (s *RedisStore) listen(ctx context.Context, pingEvery time.Duration, backoff *time.Duration, reconnect bool) (up bool) {
	// Connecting includes the handshake, which a hung server never
	// answers: bound it, or it waits for the client's read timeout.
	octx, cancel := context.WithTimeout(ctx, replyWait)
	ps, need, err := s.open(octx)
	cancel()
	if err != nil {
		return false
	}
	defer ps.Close()
	pinged := false
	for ctx.Err() == nil {
		// A quiet channel is probed every pingEvery and the pong must come
		// within the next pingEvery; the subscription's confirmation must
		// come within replyWait, so that a hung server (or a failed-over
		// one) is left quickly.
		wait := pingEvery
		if !up {
			wait = min(pingEvery, replyWait)
		}
		// The deadline also bounds a reconnection inside ReceiveTimeout.
		rctx, cancel := context.WithTimeout(ctx, wait+replyWait)
		msg, err := ps.ReceiveTimeout(rctx, wait)
		cancel()
		if err != nil {
			var ne net.Error
			if pinged || !errors.As(err, &ne) || !ne.Timeout() {
				return up
			}
			if !up || ps.Ping(ctx) != nil {
				return up
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			switch m.Kind {
			case "subscribe", "ssubscribe":
				if need--; need == 0 {
					up = true
					*backoff = 50 * time.Millisecond
					s.listeners.invalidateAll()
					s.listeners.setLive(true)
					s.observer.FeedUp(reconnect)
				}
			default: // the server dropped us (a sharded channel's slot moved)
				return up
			}
		case *redis.Message:
			s.observer.FeedMessage()
			if sub, err := ParseSubject(m.Payload); err == nil {
				s.listeners.invalidate(sub)
			} else {
				s.listeners.invalidateAll() // "*" or anything unknown
			}
		}
	}
	return up
}
