package integration

import (
	"bytes"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/revocation"
)

// TestS3ResumableE2E drives tus uploads through the gate and
// valet_s3_resumable into a real versitygw: real multipart uploads
// completed straight into the destination, resuming after a cut
// connection, the binding to the jti, the grant's limits, revocation, and
// that no failure leaves anything at the destination or in the state.
func TestS3ResumableE2E(t *testing.T) {
	store := startVersity(t, s3Bucket)
	b := newBucketClient(store)
	db := filepath.Join(t.TempDir(), "revocations.db")
	g := startS3TusGateway(t, store, newKeys(t),
		"leeway 0s\n\t\tcors_origins https://app.example\n\t\trevocation bolt {\n\t\t\tpath "+db+"\n\t\t}", "expire 1h")
	b.put(t, s3TusPrefix+"up/existing.txt", "old")

	t.Run("parts, a cut mid-PATCH, resume from HEAD, byte-exact result", func(t *testing.T) {
		data := randomBytes(t, 17<<20+1000) // parts of 5, 8 and 4 MiB + 1000 bytes
		tok := mint(t, tusGrant("/up/a/", 0), g.keys.hs)
		key := s3TusPrefix + "up/a/video.bin"
		startUpload(t, g, "/up/a/video.bin", tok, data, 5<<20)
		if n := b.uploads(t, key); n != 1 {
			t.Fatalf("%d multipart uploads on the destination key, want 1", n)
		}
		if _, found := b.object(t, key); found {
			t.Fatal("the destination exists before the upload completed")
		}

		// Cut the connection 2 MiB into an 8 MiB chunk.
		cutPatch(t, g.addr, "/up/a/video.bin", tok, 5<<20, 8<<20, data[5<<20:7<<20])

		var off int64
		eventually(t, 10*time.Second, func() bool {
			off = g.offset(t, "/up/a/video.bin", tok)
			return off > 5<<20
		}, "the bytes before the cut are kept")
		if off > 7<<20 {
			t.Fatalf("offset %d past the bytes sent", off)
		}
		if _, found := b.object(t, key); found {
			t.Fatal("the destination exists after the cut")
		}
		resp := g.patch(t, "/up/a/video.bin", tok, off, data[off:])
		expectReason(t, "the rest", resp, 204, "")
		tag := resp.Header.Get("ETag")
		parts := 0
		if m := regexp.MustCompile(`-(\d+)"$`).FindStringSubmatch(tag); m != nil {
			parts, _ = strconv.Atoi(m[1])
		}
		if parts < 3 {
			t.Fatalf("ETag %q on completion, want a multipart upload's of at least 3 parts", tag)
		}
		get, body := do(t, "GET", g.url(t, "/up/a/video.bin", claims("/up/a/")), nil, 0)
		if get.StatusCode != 200 || body != string(data) || get.Header.Get("ETag") != tag {
			t.Fatalf("GET after completion: %d, %d bytes, ETag %q vs %q", get.StatusCode, len(body), get.Header.Get("ETag"), tag)
		}
		if g.offset(t, "/up/a/video.bin", tok) != -1 {
			t.Fatal("a completed upload still answers HEAD")
		}
		b.settled(t, "/up/a/video.bin", string(data))
	})

	t.Run("the state is out of every client's reach", func(t *testing.T) {
		tok := mint(t, tusGrant("/up/s/", 0), g.keys.hs)
		expectReason(t, "create", g.create(t, "/up/s/f.bin", tok, 10), 201, "")
		state := b.state(t)
		if len(state) != 1 {
			t.Fatalf("state objects %v, want one .info", state)
		}
		c := claims("/")
		c.Methods = []string{"GET", "PUT", "DELETE"}
		tok2 := mint(t, c, g.keys.hs)
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			resp, _ := do(t, m, "http://"+g.addr+"/"+state[0][len(s3TusPrefix):]+"?vk="+tok2, nil, 0)
			expectReason(t, m+" of the state", resp, 403, "reserved_name")
		}
		resp, _ := g.tus(t, "DELETE", "/up/s/f.bin", tok, nil)
		expectReason(t, "cancel", resp, 204, "")
		b.settled(t, "/up/s/f.bin", "")
	})

	t.Run("creation with upload, into a directory by filename", func(t *testing.T) {
		data := randomBytes(t, 1000)
		tok := mint(t, tusGrant("/up/b/", 0), g.keys.hs)
		resp, _ := g.tus(t, "POST", "/up/b/", tok, data, "Upload-Length", "1000",
			"Upload-Metadata", "filename bmFtZWQuYmlu", "Content-Type", "application/offset+octet-stream")
		expectReason(t, "create with upload", resp, 201, "")
		if loc := resp.Header.Get("Location"); loc != "/up/b/named.bin" {
			t.Fatalf("Location %q", loc)
		}
		b.settled(t, "/up/b/named.bin", string(data))
	})

	t.Run("a deferred length, declared with the last PATCH", func(t *testing.T) {
		tok := mint(t, tusGrant("/up/l/", 0), g.keys.hs)
		expectReason(t, "create", g.create(t, "/up/l/f.bin", tok, -1), 201, "")
		expectReason(t, "less than a part", g.patch(t, "/up/l/f.bin", tok, 0, []byte("hello ")), 204, "")
		expectReason(t, "the rest, with the length", g.patch(t, "/up/l/f.bin", tok, 6, []byte("world"), "Upload-Length", "11"), 204, "")
		b.settled(t, "/up/l/f.bin", "hello world")
	})

	t.Run("another jti with the same scope cannot touch the upload", func(t *testing.T) {
		checkJTIBinding(t, g, "/up/c/f.bin")
		b.settled(t, "/up/c/f.bin", "")
	})

	t.Run("maxb bounds Upload-Length and the bytes received", func(t *testing.T) {
		checkMaxBytes(t, g, "/up/d/f.bin")
		b.settled(t, "/up/d/f.bin", "")
	})

	t.Run("destination outside the scope", func(t *testing.T) {
		tok := mint(t, tusGrant("/up/e/", 0), g.keys.hs)
		expectReason(t, "other directory", g.create(t, "/up/other/f.bin", tok, 10), 403, "out_of_scope")
		expectReason(t, "filename with a slash", g.create(t, "/up/e/", tok, 10, "Upload-Metadata", "filename Li4vZi5iaW4="), 409, "not_a_file")
		expectReason(t, "reserved name", g.create(t, "/up/e/.valet-tus/x", tok, 10), 403, "reserved_name")
		b.settled(t, "/up/other/f.bin", "")
	})

	t.Run("ow absent and the object exists", func(t *testing.T) {
		tok := mint(t, tusGrant("/up/", 0), g.keys.hs)
		expectReason(t, "exists at creation", g.create(t, "/up/existing.txt", tok, 3), 412, "exists")
		b.settled(t, "/up/existing.txt", "old")

		// Stored by someone else while the upload ran: refused at completion.
		expectReason(t, "create", g.create(t, "/up/late.txt", tok, 3), 201, "")
		b.put(t, s3TusPrefix+"up/late.txt", "first")
		expectReason(t, "complete", g.patch(t, "/up/late.txt", tok, 0, []byte("new")), 412, "exists")
		b.settled(t, "/up/late.txt", "first")
	})

	t.Run("cancel with ow keeps the existing object", func(t *testing.T) {
		c := tusGrant("/up/", 0)
		c.Overwrite = true
		tok := mint(t, c, g.keys.hs)
		expectReason(t, "create", g.create(t, "/up/existing.txt", tok, 10), 201, "")
		expectReason(t, "chunk", g.patch(t, "/up/existing.txt", tok, 0, []byte("12345")), 204, "")
		resp, _ := g.tus(t, "DELETE", "/up/existing.txt", tok, nil)
		expectReason(t, "cancel", resp, 204, "")
		b.settled(t, "/up/existing.txt", "old")
	})

	t.Run("ctypes apply to the declared filetype", func(t *testing.T) {
		c := tusGrant("/up/f/", 0)
		c.ContentTypes = []string{"image/png"}
		tok := mint(t, c, g.keys.hs)
		expectReason(t, "no filetype", g.create(t, "/up/f/a.png", tok, 3), 415, "unsupported_type")
		expectReason(t, "png", g.create(t, "/up/f/a.png", tok, 3, "Upload-Metadata", "filetype aW1hZ2UvcG5n"), 201, "")
		expectReason(t, "complete", g.patch(t, "/up/f/a.png", tok, 0, []byte("png")), 204, "")
		get, body := do(t, "GET", g.url(t, "/up/f/a.png", claims("/up/f/")), nil, 0)
		if get.StatusCode != 200 || body != "png" || get.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("GET: %d %q %q", get.StatusCode, body, get.Header.Get("Content-Type"))
		}
		b.settled(t, "/up/f/a.png", "png")
	})

	t.Run("revocation stops the upload at the next request", func(t *testing.T) {
		c := tusGrant("/up/g/", 0)
		tok := mint(t, c, g.keys.hs)
		expectReason(t, "create", g.create(t, "/up/g/f.bin", tok, 10), 201, "")
		expectReason(t, "chunk", g.patch(t, "/up/g/f.bin", tok, 0, []byte("12345")), 204, "")
		(&revGateway{Caddy: g.Caddy}).revoke(t, revocation.Entry{Subject: revocation.Subject{Kind: revocation.JTI, ID: c.ID}})
		expectReason(t, "after revocation", g.patch(t, "/up/g/f.bin", tok, 5, []byte("67890")), 401, "revoked")
		resp, _ := g.tus(t, "HEAD", "/up/g/f.bin", tok, nil)
		expectReason(t, "HEAD after revocation", resp, 401, "revoked")
		if _, found := b.object(t, s3TusPrefix+"up/g/f.bin"); found {
			t.Fatal("a revoked upload reached its destination")
		}
		// The bytes stay until the upload expires; clear them for the next test.
		b.clear(t)
	})

	t.Run("a browser's tus preflight is answered by the gate", func(t *testing.T) {
		tok := mint(t, tusGrant("/up/h/", 0), g.keys.hs)
		resp, _ := do(t, "OPTIONS", "http://"+g.addr+"/up/h/f.bin?vk="+tok, nil, 0, "Origin", "https://app.example",
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "tus-resumable,upload-length,upload-metadata")
		if resp.StatusCode >= 300 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Fatalf("preflight: %d, Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		resp, _ = g.tus(t, "POST", "/up/h/f.bin", tok, nil, "Upload-Length", "1", "Origin", "https://app.example")
		expectReason(t, "create from the page", resp, 201, "")
		if got := resp.Header.Get("Access-Control-Expose-Headers"); !bytes.Contains([]byte(got), []byte("Location")) {
			t.Fatalf("Expose-Headers %q", got)
		}
		resp, _ = g.tus(t, "DELETE", "/up/h/f.bin", tok, nil)
		expectReason(t, "cancel", resp, 204, "")
		b.settled(t, "/up/h/f.bin", "")
	})

	if resp, _ := do(t, "GET", "http://"+g.addr+"/up/a/video.bin", nil, 0); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a GET without a token: %d", resp.StatusCode)
	}
}

// TestS3ResumableExpires: an abandoned upload's multipart upload is
// aborted and its state removed within expire plus one sweep interval of
// its last write; its requests are then not found.
func TestS3ResumableExpires(t *testing.T) {
	store := startVersity(t, s3Bucket)
	b := newBucketClient(store)
	g := startS3TusGateway(t, store, newKeys(t), "", "expire 2s")
	tok := mint(t, tusGrant("/up/", 0), g.keys.hs)
	expectReason(t, "create", g.create(t, "/up/f.bin", tok, 6<<20), 201, "")
	expectReason(t, "chunk", g.patch(t, "/up/f.bin", tok, 0, randomBytes(t, 1000)), 204, "")
	last := time.Now()
	if b.uploads(t, s3TusPrefix+"up/f.bin") != 1 || len(b.state(t)) != 2 {
		t.Fatalf("in progress: %d multipart uploads, state %v", b.uploads(t, s3TusPrefix+"up/f.bin"), b.state(t))
	}
	eventually(t, 10*time.Second, func() bool {
		return b.uploads(t, s3TusPrefix+"up/f.bin") == 0 && len(b.state(t)) == 0
	}, "the abandoned upload is swept")
	if took := time.Since(last); took < 2*time.Second || took > 4500*time.Millisecond {
		t.Fatalf("swept %v after the last write; the bound is expire (2s), S3's one-second dates and one sweep (1s)", took)
	}
	if g.offset(t, "/up/f.bin", tok) != -1 {
		t.Fatal("an expired upload still answers")
	}
	b.settled(t, "/up/f.bin", "")
}

// TestS3ResumableLogsNoErrors: a completion, a cancel and a refusal at
// completion leave no error in the gateway's log (an abort of a completed
// multipart upload, say).
func TestS3ResumableLogsNoErrors(t *testing.T) {
	store := startVersity(t, s3Bucket)
	b := newBucketClient(store)
	g := startS3TusGateway(t, store, newKeys(t), "", "")
	tok := mint(t, tusGrant("/up/", 0), g.keys.hs)
	expectReason(t, "create", g.create(t, "/up/a.bin", tok, 3), 201, "")
	expectReason(t, "complete", g.patch(t, "/up/a.bin", tok, 0, []byte("abc")), 204, "")
	expectReason(t, "create", g.create(t, "/up/b.bin", tok, 3), 201, "")
	resp, _ := g.tus(t, "DELETE", "/up/b.bin", tok, nil)
	expectReason(t, "cancel", resp, 204, "")
	expectReason(t, "create", g.create(t, "/up/c.bin", tok, 3), 201, "")
	b.put(t, s3TusPrefix+"up/c.bin", "other")
	expectReason(t, "complete over another", g.patch(t, "/up/c.bin", tok, 0, []byte("abc")), 412, "exists")
	b.settled(t, "/up/c.bin", "other")
	if logs := g.Logs(); strings.Contains(logs, `"level":"error"`) {
		t.Fatalf("errors in the gateway's log:\n%s", logs)
	}
}
