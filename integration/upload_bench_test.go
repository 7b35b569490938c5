package integration

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// pattern streams n deterministic, incompressible-looking bytes without
// holding them: a 1 MiB block with a counter stamped into each copy.
type pattern struct {
	n, off int64
	block  []byte
}

func newPattern(n int64) *pattern {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return &pattern{n: n, block: b}
}

func (p *pattern) Read(buf []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	i := p.off % int64(len(p.block))
	n := copy(buf, p.block[i:])
	n = int(min(int64(n), p.n-p.off))
	buf[0] ^= byte(p.off >> 20) // vary each block
	p.off += int64(n)
	return n, nil
}

// TestUploadLargeFileThroughputAndMemory uploads 1 GiB through the gateway
// (with a SHA-256 digest the store verifies) and writes the same bytes to
// the same disk directly (write + fsync), and reports both rates, their
// ratio and the gateway's peak memory. The process may not grow by more
// than a few MiB. Size: VALET_UPLOAD_BENCH_MIB (default 1024); -short skips.
func TestUploadLargeFileThroughputAndMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: writes 1 GiB twice")
	}
	size := int64(1024) << 20
	if v, err := strconv.ParseInt(os.Getenv("VALET_UPLOAD_BENCH_MIB"), 10, 64); err == nil && v > 0 {
		size = v << 20
	}
	root := t.TempDir()
	g := startStoreGateway(t, root, "", "")
	pid := g.Cmd.Process.Pid

	h := sha256.New()
	io.Copy(h, newPattern(size))
	digest := "sha-256=:" + base64.StdEncoding.EncodeToString(h.Sum(nil)) + ":"

	// direct: the same bytes, the same disk, the same durability; timed
	// before and after the upload, since disk caches favour either order
	writeDirect := func() time.Duration {
		start := time.Now()
		f, err := os.Create(filepath.Join(root, "direct.bin"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyBuffer(f, newPattern(size), make([]byte, 128<<10)); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		defer os.Remove(filepath.Join(root, "direct.bin"))
		return time.Since(start)
	}
	direct := writeDirect()

	rssBefore := testenv.ProcKiB(t, pid, "VmRSS")
	hwmBefore := testenv.ProcKiB(t, pid, "VmHWM")
	start := time.Now()
	resp, body := do(t, "PUT", g.url(t, "/big/file.bin", writeGrant("/big/", false)), newPattern(size), size, "Content-Digest", digest)
	viaGateway := time.Since(start)
	expectReason(t, "1 GiB upload: "+body, resp, 201, "")
	hwmAfter := testenv.ProcKiB(t, pid, "VmHWM")
	if fi, err := os.Stat(filepath.Join(root, "big/file.bin")); err != nil || fi.Size() != size {
		t.Fatalf("stored %v, %v", fi, err)
	}

	direct = (direct + writeDirect()) / 2
	mib := float64(size) / (1 << 20)
	t.Logf("size %.0f MiB: direct %.0f MiB/s (%v), gateway %.0f MiB/s (%v), gateway/direct = %.2f",
		mib, mib/direct.Seconds(), direct.Round(time.Millisecond), mib/viaGateway.Seconds(),
		viaGateway.Round(time.Millisecond), direct.Seconds()/viaGateway.Seconds())
	t.Logf("caddy memory: RSS before %d KiB, peak (VmHWM) before %d KiB, after %d KiB: peak grew %d KiB",
		rssBefore, hwmBefore, hwmAfter, hwmAfter-max(hwmBefore, rssBefore))
	if grew := hwmAfter - max(hwmBefore, rssBefore); grew > 8<<10 {
		t.Fatalf("peak memory grew by %d KiB during the upload", grew)
	}
}
