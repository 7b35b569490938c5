package integration

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// BenchmarkResumableVsPut uploads 1 GiB through the gate twice, each into
// a fresh gateway on the same disk: as one PUT, and as a tus upload
// (creation, then 16 MiB PATCHes, as tus-js-client sends them), and reports
// both times, their ratio and each gateway's peak memory growth. Run by
// hand, once (docs/benchmarks.md):
//
//	go test ./integration -run '^$' -bench ResumableVsPut -benchtime 1x -v
//
// VALET_TUS_BENCH_MIB changes the size (default 1024).
func BenchmarkResumableVsPut(b *testing.B) {
	size := int64(1024) << 20
	if v, err := strconv.ParseInt(os.Getenv("VALET_TUS_BENCH_MIB"), 10, 64); err == nil && v > 0 {
		size = v << 20
	}
	const chunk = 16 << 20
	for range b.N {
		root := b.TempDir()
		put := startStoreGateway(b, root, "", "")
		tus := startTusGateway(b, root, "", "")

		grew := func(pid int, run func()) (time.Duration, int64) {
			before := max(testenv.ProcKiB(b, pid, "VmHWM"), testenv.ProcKiB(b, pid, "VmRSS"))
			start := time.Now()
			run()
			return time.Since(start), testenv.ProcKiB(b, pid, "VmHWM") - before
		}
		putTime, putMem := grew(put.Cmd.Process.Pid, func() {
			resp, body := do(b, "PUT", put.url(b, "/big/put.bin", writeGrant("/big/", false)), newPattern(size), size)
			if resp.StatusCode != 201 {
				b.Fatalf("PUT: %d %s", resp.StatusCode, body)
			}
		})
		tok := mint(b, tusGrant("/big/", 0), tus.keys.hs)
		tusTime, tusMem := grew(tus.Cmd.Process.Pid, func() {
			if resp := tus.create(b, "/big/tus.bin", tok, size); resp.StatusCode != 201 {
				b.Fatalf("create: %d", resp.StatusCode)
			}
			src := newPattern(size)
			for off := int64(0); off < size; off += chunk {
				n := min(chunk, size-off)
				resp, body := do(b, "PATCH", "http://"+tus.addr+"/big/tus.bin?vk="+tok, io.LimitReader(src, n), n,
					"Tus-Resumable", "1.0.0", "Content-Type", "application/offset+octet-stream",
					"Upload-Offset", strconv.FormatInt(off, 10))
				if resp.StatusCode != 204 {
					b.Fatalf("PATCH at %d: %d %s", off, resp.StatusCode, body)
				}
			}
		})
		for _, name := range []string{"put.bin", "tus.bin"} {
			if fi, err := os.Stat(filepath.Join(root, "big", name)); err != nil || fi.Size() != size {
				b.Fatalf("%s: %v %v", name, fi, err)
			}
		}
		mib := float64(size) / (1 << 20)
		b.Logf("%.0f MiB: PUT %v (%.0f MiB/s), tus in %d MiB chunks %v (%.0f MiB/s), tus/PUT time = %.2f",
			mib, putTime.Round(time.Millisecond), mib/putTime.Seconds(), chunk>>20,
			tusTime.Round(time.Millisecond), mib/tusTime.Seconds(), tusTime.Seconds()/putTime.Seconds())
		b.Logf("peak memory growth (VmHWM): PUT gateway %d KiB, tus gateway %d KiB", putMem, tusMem)
	}
}
