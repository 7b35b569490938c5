package integration

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/valetkey/caddy-valet/caddymodule/revocation"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestResumableUploadE2E drives tus uploads through the gate and
// valet_store in a real Caddy: resuming after a cut connection, the binding
// to the token's jti, the grant's limits, revocation, and that no failure
// leaves anything at any destination.
func TestResumableUploadE2E(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "up/existing.txt"), "old")
	db := filepath.Join(t.TempDir(), "revocations.db")
	g := startTusGateway(t, root, "expire 1h", "leeway 0s\n\t\trevocation bolt {\n\t\t\tpath "+db+"\n\t\t}")

	t.Run("chunks, a cut mid-PATCH, resume from HEAD, byte-exact result", func(t *testing.T) {
		data := randomBytes(t, 3<<20)
		c := tusGrant("/up/a/", 0)
		tok := mint(t, c, g.keys.hs)
		startUpload(t, g, "/up/a/video.bin", tok, data, 1<<20)

		// Cut the connection 300 KiB into a 1 MiB chunk.
		cutPatch(t, g.addr, "/up/a/video.bin", tok, 1<<20, 1<<20, data[1<<20:1<<20+300<<10])

		var off int64
		eventually(t, 10*time.Second, func() bool {
			off = g.offset(t, "/up/a/video.bin", tok)
			return off > 1<<20
		}, "the bytes before the cut are kept")
		if off > 1<<20+300<<10 {
			t.Fatalf("offset %d past the bytes sent", off)
		}
		if _, err := os.Stat(filepath.Join(root, "up/a/video.bin")); err == nil {
			t.Fatal("the destination exists before the upload completed")
		}
		noPartials(t, root)

		resp := g.patch(t, "/up/a/video.bin", tok, off, data[off:])
		expectReason(t, "last chunk", resp, 204, "")
		if resp.Header.Get("ETag") == "" {
			t.Fatal("no ETag on completion")
		}
		got, err := os.ReadFile(filepath.Join(root, "up/a/video.bin"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("stored %d bytes (%v), want the %d sent", len(got), err, len(data))
		}
		get, body := do(t, "GET", g.url(t, "/up/a/video.bin", claims("/up/a/")), nil, 0)
		if get.StatusCode != 200 || body != string(data) || get.Header.Get("ETag") != resp.Header.Get("ETag") {
			t.Fatalf("GET after completion: %d, %d bytes, ETag %q vs %q", get.StatusCode, len(body), get.Header.Get("ETag"), resp.Header.Get("ETag"))
		}
		if g.offset(t, "/up/a/video.bin", tok) != -1 {
			t.Fatal("a completed upload still answers HEAD")
		}
		g.noUploads(t)
		noPartials(t, root)
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
		if got, _ := os.ReadFile(filepath.Join(root, "up/b/named.bin")); !bytes.Equal(got, data) {
			t.Fatalf("stored %d bytes", len(got))
		}
		g.noUploads(t)
	})

	t.Run("another jti with the same scope cannot touch the upload", func(t *testing.T) {
		before := testenv.Tree(t, root)
		checkJTIBinding(t, g, "/up/c/f.bin")
		testenv.SameTree(t, root, before)
		g.noUploads(t)
	})

	t.Run("maxb bounds Upload-Length and the bytes received", func(t *testing.T) {
		before := testenv.Tree(t, root)
		checkMaxBytes(t, g, "/up/d/f.bin")
		testenv.SameTree(t, root, before)
		g.noUploads(t)
	})

	t.Run("destination outside the scope", func(t *testing.T) {
		before := testenv.Tree(t, root)
		tok := mint(t, tusGrant("/up/e/", 0), g.keys.hs)
		expectReason(t, "other directory", g.create(t, "/up/other/f.bin", tok, 10), 403, "out_of_scope")
		expectReason(t, "filename with a slash", g.create(t, "/up/e/", tok, 10, "Upload-Metadata", "filename Li4vZi5iaW4="), 409, "not_a_file")
		exact := mint(t, tusGrant("/up/e/only.bin", 0), g.keys.hs)
		expectReason(t, "exact scope, sibling", g.create(t, "/up/e/other.bin", exact, 10), 403, "out_of_scope")
		testenv.SameTree(t, root, before)
		g.noUploads(t)
	})

	t.Run("ow absent and the file exists", func(t *testing.T) {
		before := testenv.Tree(t, root)
		tok := mint(t, tusGrant("/up/", 0), g.keys.hs)
		expectReason(t, "exists at creation", g.create(t, "/up/existing.txt", tok, 3), 412, "exists")

		// Created by someone else while the upload ran: refused at completion.
		expectReason(t, "create", g.create(t, "/up/late.txt", tok, 3), 201, "")
		mustWrite(t, filepath.Join(root, "up/late.txt"), "first")
		expectReason(t, "complete", g.patch(t, "/up/late.txt", tok, 0, []byte("new")), 412, "exists")
		if b, _ := os.ReadFile(filepath.Join(root, "up/late.txt")); string(b) != "first" {
			t.Fatalf("the existing file became %q", b)
		}
		os.Remove(filepath.Join(root, "up/late.txt"))
		testenv.SameTree(t, root, before)
		g.noUploads(t)
		noPartials(t, root)
	})

	t.Run("ctypes apply to the declared filetype", func(t *testing.T) {
		before := testenv.Tree(t, root)
		c := tusGrant("/up/f/", 0)
		c.ContentTypes = []string{"image/png"}
		tok := mint(t, c, g.keys.hs)
		expectReason(t, "no filetype", g.create(t, "/up/f/a.png", tok, 3), 415, "unsupported_type")
		expectReason(t, "other filetype", g.create(t, "/up/f/a.png", tok, 3, "Upload-Metadata", "filetype dGV4dC9odG1s"), 415, "unsupported_type")
		expectReason(t, "png", g.create(t, "/up/f/a.png", tok, 3, "Upload-Metadata", "filetype aW1hZ2UvcG5n"), 201, "")
		resp, _ := g.tus(t, "DELETE", "/up/f/a.png", tok, nil)
		expectReason(t, "cancel", resp, 204, "")
		testenv.SameTree(t, root, before)
	})

	t.Run("revocation stops the upload at the next request", func(t *testing.T) {
		before := testenv.Tree(t, root)
		c := tusGrant("/up/g/", 0)
		tok := mint(t, c, g.keys.hs)
		expectReason(t, "create", g.create(t, "/up/g/f.bin", tok, 10), 201, "")
		expectReason(t, "chunk", g.patch(t, "/up/g/f.bin", tok, 0, []byte("12345")), 204, "")
		(&revGateway{Caddy: g.Caddy}).revoke(t, revocation.Entry{Subject: revocation.Subject{Kind: revocation.JTI, ID: c.ID}})
		expectReason(t, "after revocation", g.patch(t, "/up/g/f.bin", tok, 5, []byte("67890")), 401, "revoked")
		resp, _ := g.tus(t, "HEAD", "/up/g/f.bin", tok, nil)
		expectReason(t, "HEAD after revocation", resp, 401, "revoked")
		testenv.SameTree(t, root, before)
	})

	t.Run("an expired token stops the upload; a token with the same jti continues it", func(t *testing.T) {
		data := randomBytes(t, 10)
		c := tusGrant("/up/h/", 0)
		c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(2 * time.Second))
		tok := mint(t, c, g.keys.hs)
		expectReason(t, "create", g.create(t, "/up/h/f.bin", tok, 10), 201, "")
		expectReason(t, "chunk", g.patch(t, "/up/h/f.bin", tok, 0, data[:5]), 204, "")
		time.Sleep(time.Until(c.ExpiresAt.Time) + time.Second)
		expectReason(t, "after exp", g.patch(t, "/up/h/f.bin", tok, 5, data[5:]), 401, "expired")

		c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Minute)) // same jti, minted again
		renewed := mint(t, c, g.keys.hs)
		expectReason(t, "renewed", g.patch(t, "/up/h/f.bin", renewed, 5, data[5:]), 204, "")
		if got, _ := os.ReadFile(filepath.Join(root, "up/h/f.bin")); !bytes.Equal(got, data) {
			t.Fatalf("stored %q", got)
		}
	})
}

// TestResumableUploadExpires: an abandoned upload is removed within the
// stated bound (expire after the last write, plus one sweep interval).
func TestResumableUploadExpires(t *testing.T) {
	root := t.TempDir()
	g := startTusGateway(t, root, "expire 2s", "")
	tok := mint(t, tusGrant("/up/", 0), g.keys.hs)
	before := testenv.Tree(t, root)
	expectReason(t, "create", g.create(t, "/up/f.bin", tok, 10), 201, "")
	expectReason(t, "chunk", g.patch(t, "/up/f.bin", tok, 0, []byte("12345")), 204, "")
	last := time.Now()
	eventually(t, 10*time.Second, func() bool {
		entries, _ := os.ReadDir(g.dir)
		return len(entries) == 0
	}, "the abandoned upload is swept")
	if took := time.Since(last); took < 2*time.Second || took > 3*time.Second+500*time.Millisecond {
		t.Fatalf("swept %v after the last write; the bound is expire (2s) plus one sweep (1s)", took)
	}
	if g.offset(t, "/up/f.bin", tok) != -1 {
		t.Fatal("an expired upload still answers")
	}
	testenv.SameTree(t, root, before)
}
