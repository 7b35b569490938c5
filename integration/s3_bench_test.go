package integration

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/smithy-go/aws-http-auth/credentials"
	"github.com/aws/smithy-go/aws-http-auth/sigv4"
	v4 "github.com/aws/smithy-go/aws-http-auth/v4"
)

// presign returns a presigned URL for method on a key of the test bucket,
// as an application would hand one to a client to bypass the gateway.
func presign(b testing.TB, storeAddr, method, key string) string {
	b.Helper()
	req, err := http.NewRequest(method, "http://"+storeAddr+"/"+s3Bucket+"/"+key+"?X-Amz-Expires=3600", nil)
	if err != nil {
		b.Fatal(err)
	}
	err = sigv4.New(func(o *v4.SignerOptions) { o.DisableDoublePathEscape = true }).SignRequest(&sigv4.SignRequestInput{
		Request:       req,
		PayloadHash:   v4.UnsignedPayload(),
		Credentials:   credentials.Credentials{AccessKeyID: s3Access, SecretAccessKey: s3Secret},
		Service:       "s3",
		Region:        "us-east-1",
		SignatureType: v4.SignatureTypeQueryString,
	})
	if err != nil {
		b.Fatal(err)
	}
	return req.URL.String()
}

// BenchmarkS3Throughput moves the same object through the gateway (valet
// gate, s3 transport) and straight to versitygw with presigned URLs,
// interleaved in one run, and reports MB/s of each and the ratios
// gateway/direct.
//
//	go test ./integration/ -run '^$' -bench S3Throughput -benchtime 10x
func BenchmarkS3Throughput(b *testing.B) {
	const size = 128 << 20
	d := startS3Direct(b)
	tok := d.token(b)
	mustWriteFile(b, d.store.path(s3Bucket, "bench/down.bin"), size)

	gwDown := s3URL(d.addr, "/bench/down.bin", tok)
	gwUp := s3URL(d.addr, "/bench/up-gw.bin", tok)
	directDown := presign(b, d.store.addr, "GET", "bench/down.bin")
	directUp := presign(b, d.store.addr, "PUT", "bench/up-direct.bin")
	for _, u := range []string{gwDown, directDown} { // both must work before timing
		if n := download(b, u); n != size {
			b.Fatalf("download %s: %d bytes", u, n)
		}
	}

	var tGwDown, tDirectDown, tGwUp, tDirectUp time.Duration
	timed := func(acc *time.Duration, f func()) {
		start := time.Now()
		f()
		*acc += time.Since(start)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		timed(&tGwDown, func() { download(b, gwDown) })
		timed(&tDirectDown, func() { download(b, directDown) })
		timed(&tGwUp, func() { upload(b, gwUp, size) })
		timed(&tDirectUp, func() { upload(b, directUp, size) })
	}
	b.StopTimer()
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(tGwDown), "gw-down-MB/s")
	b.ReportMetric(mbps(tDirectDown), "direct-down-MB/s")
	b.ReportMetric(mbps(tGwUp), "gw-up-MB/s")
	b.ReportMetric(mbps(tDirectUp), "direct-up-MB/s")
	b.ReportMetric(tDirectDown.Seconds()/tGwDown.Seconds(), "down-ratio")
	b.ReportMetric(tDirectUp.Seconds()/tGwUp.Seconds(), "up-ratio")
}

func download(b testing.TB, u string) int64 {
	res, err := http.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	n, err := io.Copy(io.Discard, res.Body)
	if err != nil || res.StatusCode != 200 {
		b.Fatalf("GET: %d, %v", res.StatusCode, err)
	}
	return n
}

func upload(b testing.TB, u string, size int64) {
	if res := put(b, u, randomBody(size, 2), size); res.StatusCode != 200 {
		b.Fatalf("PUT: %d", res.StatusCode)
	}
}

func mustWriteFile(b testing.TB, path string, size int64) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, randomBody(size, 3)); err != nil {
		b.Fatal(err)
	}
}
