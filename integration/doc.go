// Package integration holds end-to-end tests and benchmarks that start
// real processes (our Caddy build, redis-server, Chromium, ...) and speak
// to them as clients do. Run with `go test ./integration/`.
package integration
