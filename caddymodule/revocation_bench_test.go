package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

const benchSecret = "0123456789abcdef0123456789abcdef"

// benchGate provisions a gate, with a Redis revocation store when
// redisAddr is set, and a hot token for it.
func benchGate(b *testing.B, redisAddr string) (*Handler, string) {
	h := &Handler{Keys: []Key{{ID: "k1", Algorithm: "HS256", Material: benchSecret}}}
	if redisAddr != "" {
		store, _ := json.Marshal(map[string]any{"backend": "redis", "addresses": []string{redisAddr}})
		h.Revocation = &Revocation{StoreRaw: store}
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Cleanup() })
	k, _ := token.NewHMACKey("k1", []byte(benchSecret))
	c := &token.Claims{Paths: []string{"/f/"}, Methods: []string{"GET"}}
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
	tok, err := token.Mint(c, k)
	if err != nil {
		b.Fatal(err)
	}
	return h, tok
}

var okNext = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })

func serveBench(b *testing.B, h *Handler, tok string) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("GET", "/f/a.txt?vk="+tok, nil)
			repl := caddy.NewReplacer()
			r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r, okNext); err != nil || w.Code != http.StatusOK {
				b.Fatalf("%d %s %v", w.Code, w.Header().Get(ReasonHeader), err)
			}
		}
	})
}

// BenchmarkGate compares the gate without revocation to the gate with a
// Redis revocation store and a warm cache, and reports the Redis commands
// per request for the hot token.
func BenchmarkGate(b *testing.B) {
	b.Run("no-revocation", func(b *testing.B) {
		h, tok := benchGate(b, "")
		serveBench(b, h, tok)
	})
	b.Run("revocation-redis-warm", func(b *testing.B) {
		r := testenv.StartRedis(b)
		h, tok := benchGate(b, r.Addr)
		serveBench(b, h, tok) // warm
		h.Revocation.checker.Wait()
		rc := redis.NewClient(&redis.Options{Addr: r.Addr})
		defer rc.Close()
		before := redisCommands(b, rc)
		b.ResetTimer()
		serveBench(b, h, tok)
		b.StopTimer()
		// Minus the INFO call itself and the subscriber's pings.
		b.ReportMetric(float64(redisCommands(b, rc)-before-1)/float64(b.N), "redis-cmds/op")
	})
}

func redisCommands(b *testing.B, rc *redis.Client) int64 {
	info, err := rc.Info(context.Background(), "stats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no total_commands_processed in INFO")
	return 0
}
