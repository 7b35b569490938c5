package revocation

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// subscribe listens for announced changes until ctx ends. The feed is live
// from each (re)subscription until the connection fails or a ping goes
// unanswered; every resubscription invalidates everything, since messages
// sent while the connection was down are lost.
func (s *RedisStore) subscribe(ctx context.Context, pingEvery time.Duration) {
	defer s.done.Done()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		s.listen(ctx, pingEvery, &backoff)
		s.listeners.setLive(false)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// listen runs one subscription until it fails.
func (s *RedisStore) listen(ctx context.Context, pingEvery time.Duration, backoff *time.Duration) {
	ps := s.client.Subscribe(ctx, s.Channel())
	defer ps.Close()
	pinged := false
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, pingEvery)
		if err != nil {
			var ne net.Error
			if pinged || !errors.As(err, &ne) || !ne.Timeout() {
				return
			}
			// Quiet channel: probe the connection; the pong must arrive
			// within the next pingEvery.
			if ps.Ping(ctx) != nil {
				return
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				*backoff = 50 * time.Millisecond
				s.listeners.invalidateAll()
				s.listeners.setLive(true)
			}
		case *redis.Message:
			if sub, err := ParseSubject(m.Payload); err == nil {
				s.listeners.invalidate(sub)
			} else {
				s.listeners.invalidateAll() // "*" or anything unknown
			}
		}
	}
}
