package revocation

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// claims mints and verifies a real token, so KeyID is set as in a gateway.
// iat nil leaves the token without iat.
func claims(t testing.TB, kid string, iat *time.Time, edit func(*token.Claims)) *token.Claims {
	t.Helper()
	k, err := token.NewHMACKey(kid, secret)
	if err != nil {
		t.Fatal(err)
	}
	c := &token.Claims{Paths: []string{"/f/"}, Methods: []string{"GET"}}
	c.ID = token.NewID()
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
	if iat != nil {
		c.IssuedAt = jwt.NewNumericDate(*iat)
	}
	if edit != nil {
		edit(c)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = kid
	raw, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := token.NewKeySet(k)
	v := token.Verifier{Keys: ks}
	if len(c.Audience) > 0 { // a token naming audiences is only for them
		v.Audience = c.Audience[0]
	}
	got, reason := v.Verify(raw, time.Now())
	if reason != token.Allowed {
		t.Fatalf("verify: %s", reason)
	}
	return got
}

func ptr[T any](v T) *T { return &v }

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// storeKinds opens each store kind fresh, for tests that must hold for both.
var storeKinds = map[string]func(t testing.TB) Store{
	"bolt": func(t testing.TB) Store {
		s, err := OpenBolt(BoltOptions{Path: filepath.Join(t.TempDir(), "rev.db")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
	"redis": func(t testing.TB) Store {
		r := testenv.StartRedis(t)
		s := newRedisStore(r.Addr)
		t.Cleanup(func() { s.Close() })
		return s
	},
}

func newRedisStore(addr string) *RedisStore {
	return NewRedis(redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{addr},
		ContextTimeoutEnabled: true,
		DialTimeout:           200 * time.Millisecond,
		MaxRetries:            -1,
		DialerRetries:         1,
	}), RedisOptions{PingEvery: 200 * time.Millisecond})
}

// recorder is a Listener that remembers what it heard.
type recorder struct {
	ch   chan Subject
	live chan bool
}

func newRecorder() *recorder {
	return &recorder{ch: make(chan Subject, 100), live: make(chan bool, 100)}
}

func (r *recorder) Invalidate(s Subject) { r.ch <- s }
func (r *recorder) InvalidateAll()       {}
func (r *recorder) SetLive(l bool)       { r.live <- l }

func waitLive(t testing.TB, r *recorder, want bool) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case l := <-r.live:
			if l == want {
				return
			}
		case <-timeout:
			t.Fatalf("store did not become live=%v within 5s", want)
		}
	}
}
