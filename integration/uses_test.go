package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// TestCountedTokenWithRealClients: what one use of a counted token is (a
// client address, for a window; docs/token.md) proven with clients that
// make many requests for one download: aria2c's parallel ranges and
// ffmpeg's seeks each spend one use, end with the right bytes or frame,
// and a second client opening the same link fails with a clear reason.
func TestCountedTokenWithRealClients(t *testing.T) {
	aria2c := testenv.Require(t, "aria2c")
	ffmpeg := testenv.Require(t, "ffmpeg")
	curl := testenv.Require(t, "curl")
	k := newKeys(t)
	root := t.TempDir()
	data := make([]byte, 6<<20+123)
	rand.Read(data)
	mustWrite(t, filepath.Join(root, "f/big.bin"), string(data))
	movie := filepath.Join(root, "f/movie.mp4")
	if out, err := exec.Command(ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=30:size=160x120:rate=10",
		"-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", movie).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg could not make the test movie: %v\n%s", err, out)
	}
	g := startRevGateway(t, k, root, "bolt {\n\t\t\tuse_window 3s\n\t\t}")
	once := func(path string) string {
		c := claims(path)
		c.Uses = 1
		return "http://" + g.site + path + "?vk=" + mint(t, c, k.hs)
	}
	fromOther := func(url string) (string, string) {
		out, err := runCmd(curl, "-s", "-o", "/dev/null", "-D", "-", "--interface", "127.0.0.2", url)
		if err != nil {
			t.Fatalf("curl from 127.0.0.2: %v %s", err, out)
		}
		status := strings.Fields(out)[1]
		for _, line := range strings.Split(out, "\n") {
			if name, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Valet-Reason") {
				return status, strings.TrimSpace(v)
			}
		}
		return status, ""
	}

	// aria2c: four connections, many ranges, one use.
	url := once("/f/big.bin")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, aria2c, "-q", "-x", "4", "-s", "4", "--min-split-size=1M",
		"--allow-overwrite=true", "-d", dir, "-o", "big.bin", url).CombinedOutput(); err != nil {
		t.Fatalf("aria2c with a single-use token: %v\n%s\n%s", err, out, g.Logs())
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "big.bin")); !bytes.Equal(got, data) {
		t.Fatalf("aria2c's file differs from the stored one (%d bytes)", len(got))
	}
	if status, reason := fromOther(url); status != "401" || reason != string(token.UsesExhausted) {
		t.Fatalf("a second client with the used link: %s %q", status, reason)
	}

	// ffmpeg seeking 20 s into a movie: several ranged reads, one use.
	url = once("/f/movie.mp4")
	frame := filepath.Join(t.TempDir(), "frame.png")
	if out, err := exec.CommandContext(ctx, ffmpeg, "-loglevel", "error", "-nostdin", "-ss", "20", "-i", url,
		"-frames:v", "1", "-y", frame).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg -ss with a single-use token: %v\n%s", err, out)
	}
	if fi, err := os.Stat(frame); err != nil || fi.Size() == 0 {
		t.Fatalf("ffmpeg wrote no frame: %v", err)
	}
	if status, reason := fromOther(url); status != "401" || reason != string(token.UsesExhausted) {
		t.Fatalf("a second client with the used movie link: %s %q", status, reason)
	}

	// The window: the same client within it spends nothing; after it has
	// passed, coming back is a new use.
	url = once("/f/big.bin")
	for i := range 3 {
		if out, _ := runCmd(curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-r", fmt.Sprintf("%d-%d", i*10, i*10+9), url); out != "206" {
			t.Fatalf("range %d within the window: %s", i, out)
		}
	}
	time.Sleep(3500 * time.Millisecond)
	if out, _ := runCmd(curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", url); out != "401" {
		t.Fatalf("the same client after the window: %s, want 401", out)
	}
}
