package integration

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"mime/multipart"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

const maxUpload = 1 << 20 // the site's max_bytes in these tests

// TestUploadE2E drives valet_store behind the gate in a real Caddy: every
// failure must leave the store exactly as it was.
func TestUploadE2E(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "private/secret.txt"), "secret")
	mustWrite(t, filepath.Join(root, "up/existing.txt"), "old")
	os.Symlink("../private", filepath.Join(root, "up/link"))
	os.Symlink("../private/secret.txt", filepath.Join(root, "up/flink"))
	outside := t.TempDir()
	os.Symlink(outside, filepath.Join(root, "up/out"))
	g := startStoreGateway(t, root, "max_bytes 1MiB", "")
	ow := writeGrant("/up/", true)
	noOw := writeGrant("/up/", false)

	t.Run("put then get the same bytes and ETag", func(t *testing.T) {
		body := bytes.Repeat([]byte("0123456789"), 5000)
		resp, _ := do(t, "PUT", g.url(t, "/up/new/dir/f.bin", noOw), bytes.NewReader(body), int64(len(body)))
		expectReason(t, "put", resp, 201, "")
		tag := resp.Header.Get("ETag")
		get, got := do(t, "GET", g.url(t, "/up/new/dir/f.bin", noOw), nil, 0)
		if get.StatusCode != 200 || got != string(body) || get.Header.Get("ETag") != tag || tag == "" {
			t.Fatalf("GET %d, %d bytes, ETag %q vs %q", get.StatusCode, len(got), get.Header.Get("ETag"), tag)
		}
	})

	t.Run("overwrite rules", func(t *testing.T) {
		before := testenv.Tree(t, root)
		u := g.url(t, "/up/existing.txt", noOw)
		resp, _ := do(t, "PUT", u, strings.NewReader("new"), 3)
		expectReason(t, "no ow", resp, 412, "exists")
		resp, _ = do(t, "PUT", g.url(t, "/up/existing.txt", ow), strings.NewReader("new"), 3, "If-None-Match", "*")
		expectReason(t, "If-None-Match *", resp, 412, "condition_failed")
		resp, _ = do(t, "PUT", g.url(t, "/up/existing.txt", ow), strings.NewReader("new"), 3, "If-Match", `"stale"`)
		expectReason(t, "stale If-Match", resp, 412, "condition_failed")
		testenv.SameTree(t, root, before)

		get, _ := do(t, "GET", u, nil, 0)
		resp, _ = do(t, "PUT", g.url(t, "/up/existing.txt", ow), strings.NewReader("new"), 3, "If-Match", get.Header.Get("ETag"))
		expectReason(t, "If-Match current", resp, 204, "")
		if b, _ := os.ReadFile(filepath.Join(root, "up/existing.txt")); string(b) != "new" {
			t.Fatalf("content %q", b)
		}
	})

	t.Run("size limit on the stream", func(t *testing.T) {
		before := testenv.Tree(t, root)
		big := bytes.Repeat([]byte("x"), maxUpload+1)
		u := g.url(t, "/up/big/f", ow)

		// The store refuses on the head alone and closes the connection; a
		// client that waits for 100 Continue reads that answer instead of
		// racing it with the body (and losing with a broken pipe).
		resp, _ := do(t, "PUT", u, bytes.NewReader(big), int64(len(big)), "Expect", "100-continue")
		expectReason(t, "honest Content-Length", resp, 413, "too_large")

		resp, _ = do(t, "PUT", u, io.MultiReader(bytes.NewReader(big)), -1) // unknown length: chunked
		expectReason(t, "chunked", resp, 413, "too_large")

		// Expect: 100-continue: refused on the head alone, nothing read
		head := fmt.Sprintf("PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", strings.TrimPrefix(u, "http://"+g.addr), g.addr, 1<<30)
		resp, err := sendRaw(t, g.addr, head, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		expectReason(t, "100-continue", resp, 413, "too_large")

		// explicit chunked encoding on the wire, chunks lying about nothing
		var chunked bytes.Buffer
		for range 20 {
			fmt.Fprintf(&chunked, "%x\r\n%s\r\n", 64<<10, bytes.Repeat([]byte("c"), 64<<10))
		}
		chunked.WriteString("0\r\n\r\n")
		head = fmt.Sprintf("PUT %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", strings.TrimPrefix(u, "http://"+g.addr), g.addr)
		resp, err = sendRaw(t, g.addr, head, chunked.Bytes(), false)
		if err != nil {
			t.Fatal(err)
		}
		expectReason(t, "raw chunked", resp, 413, "too_large")
		testenv.SameTree(t, root, before)

		// a Content-Length that lies low bounds the body: the bytes after
		// it are never part of the upload, whatever follows on the wire
		head = fmt.Sprintf("PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 5\r\n\r\n", strings.TrimPrefix(g.url(t, "/up/lie.txt", ow), "http://"+g.addr), g.addr)
		resp, err = sendRaw(t, g.addr, head, big, false)
		if err != nil {
			t.Fatal(err)
		}
		expectReason(t, "lying Content-Length", resp, 201, "")
		// and a body without any length is no body at all
		head = fmt.Sprintf("PUT %s HTTP/1.1\r\nHost: %s\r\n\r\n", strings.TrimPrefix(g.url(t, "/up/nolength.txt", ow), "http://"+g.addr), g.addr)
		resp, err = sendRaw(t, g.addr, head, big, false)
		if err != nil {
			t.Fatal(err)
		}
		expectReason(t, "missing Content-Length", resp, 201, "")
		for name, want := range map[string]string{"lie.txt": "xxxxx", "nolength.txt": ""} {
			if b, _ := os.ReadFile(filepath.Join(root, "up", name)); string(b) != want {
				t.Fatalf("%s holds %d bytes", name, len(b))
			}
		}
	})

	t.Run("content type from the token", func(t *testing.T) {
		before := testenv.Tree(t, root)
		c := writeGrant("/up/", false)
		c.ContentTypes = []string{"text/plain"}
		resp, _ := do(t, "PUT", g.url(t, "/up/t.png", c), strings.NewReader("png"), 3, "Content-Type", "image/png")
		expectReason(t, "type", resp, 415, "unsupported_type")
		testenv.SameTree(t, root, before)
		resp, _ = do(t, "PUT", g.url(t, "/up/t.txt", c), strings.NewReader("txt"), 3, "Content-Type", "text/plain; charset=utf-8")
		expectReason(t, "allowed type", resp, 201, "")
	})

	t.Run("checksum mismatch keeps nothing", func(t *testing.T) {
		before := testenv.Tree(t, root)
		body := "checked body"
		wrong := md5.Sum([]byte("something else"))
		resp, _ := do(t, "PUT", g.url(t, "/up/sum/f", ow), strings.NewReader(body), int64(len(body)),
			"Content-MD5", base64.StdEncoding.EncodeToString(wrong[:]))
		expectReason(t, "mismatch", resp, 400, "checksum_mismatch")
		testenv.SameTree(t, root, before)
		right := md5.Sum([]byte(body))
		resp, _ = do(t, "PUT", g.url(t, "/up/sum/f", ow), strings.NewReader(body), int64(len(body)),
			"Content-MD5", base64.StdEncoding.EncodeToString(right[:]))
		expectReason(t, "match", resp, 201, "")
	})

	t.Run("client abort mid-body keeps nothing", func(t *testing.T) {
		before := testenv.Tree(t, root)
		for _, path := range []string{"/up/existing.txt", "/up/abort/new.bin"} {
			head := fmt.Sprintf("PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n",
				strings.TrimPrefix(g.url(t, path, ow), "http://"+g.addr), g.addr, 512<<10)
			sendRaw(t, g.addr, head, bytes.Repeat([]byte("a"), 100<<10), true)
		}
		// the server sees the hang-up and cleans up after itself
		eventually(t, 10*time.Second, func() bool {
			return fmt.Sprint(testenv.Tree(t, root)) == fmt.Sprint(before)
		}, "the store to look as before the aborted uploads")
	})

	t.Run("concurrent writers: one complete version wins", func(t *testing.T) {
		const writers = 8
		bodies := make([][]byte, writers)
		for i := range bodies {
			bodies[i] = bytes.Repeat([]byte{byte('A' + i)}, 700<<10)
		}
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				resp, body := do(t, "PUT", g.url(t, "/up/race.bin", ow), bytes.NewReader(bodies[i]), int64(len(bodies[i])))
				if resp.StatusCode != 201 && resp.StatusCode != 204 {
					t.Errorf("writer %d: %d %s", i, resp.StatusCode, body)
				}
			})
		}
		wg.Wait()
		got, _ := os.ReadFile(filepath.Join(root, "up/race.bin"))
		won := -1
		for i, b := range bodies {
			if bytes.Equal(got, b) {
				won = i
			}
		}
		if won < 0 {
			t.Fatalf("stored file (%d bytes) is no single writer's body", len(got))
		}
		entries, _ := os.ReadDir(filepath.Join(root, "up"))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".valet-") {
				t.Fatalf("stray temporary file %s", e.Name())
			}
		}
	})

	t.Run("traversal and symlinks", func(t *testing.T) {
		before := testenv.Tree(t, root)
		tok := mint(t, ow, g.keys.hs)
		for _, p := range []string{"/up/../private/secret.txt", "/up/%2e%2e/private/secret.txt", "/up/..%2fprivate%2fsecret.txt", "/up/%252e%252e/x"} {
			resp, _ := rawRequest(t, g.addr, "PUT", p+"?vk="+tok, "Content-Length", "0")
			expectReason(t, p, resp, 400, "ambiguous_path")
		}
		for _, p := range []string{"/up/link/secret.txt", "/up/link/new.txt", "/up/flink", "/up/out/x", "/up/out/a/b"} {
			resp, _ := do(t, "PUT", g.url(t, p, ow), strings.NewReader("pwned"), 5)
			expectReason(t, p, resp, 403, "symlink")
		}
		resp, _ := do(t, "DELETE", g.url(t, "/up/flink", ow), nil, 0)
		expectReason(t, "delete through link", resp, 403, "symlink")
		testenv.SameTree(t, root, before)
		if entries, _ := os.ReadDir(outside); len(entries) != 0 {
			t.Fatalf("wrote outside the root: %v", entries)
		}
	})

	t.Run("browser form post", func(t *testing.T) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.WriteField("comment", "from a form")
		fw, _ := mw.CreateFormFile("file", "photo.jpg")
		fw.Write([]byte("form file bytes"))
		mw.Close()
		resp, _ := do(t, "POST", g.url(t, "/up/form/photo.jpg", noOw), &b, int64(b.Len()), "Content-Type", mw.FormDataContentType())
		expectReason(t, "form", resp, 201, "")
		if got, _ := os.ReadFile(filepath.Join(root, "up/form/photo.jpg")); string(got) != "form file bytes" {
			t.Fatalf("stored %q", got)
		}
	})

	t.Run("delete", func(t *testing.T) {
		mustWrite(t, filepath.Join(root, "up/del.txt"), "bye")
		del := writeGrant("/up/del.txt", false)
		resp, _ := do(t, "DELETE", g.url(t, "/up/del.txt", del), nil, 0, "If-Match", `"stale"`)
		expectReason(t, "stale", resp, 412, "condition_failed")
		resp, _ = do(t, "DELETE", g.url(t, "/up/del.txt", del), nil, 0)
		expectReason(t, "delete", resp, 204, "")
		resp, _ = do(t, "DELETE", g.url(t, "/up/del.txt", del), nil, 0)
		expectReason(t, "again", resp, 404, "not_found")
	})

	t.Run("a GET-only token cannot write", func(t *testing.T) {
		before := testenv.Tree(t, root)
		resp, _ := do(t, "PUT", g.url(t, "/up/x", claims("/up/")), strings.NewReader("x"), 1)
		expectReason(t, "get token", resp, 403, "method_not_allowed")
		testenv.SameTree(t, root, before)
	})
}

// TestUploadDiskFull fills a 1 MiB tmpfs: the upload fails with 507 and
// leaves nothing, not even the directories it made.
func TestUploadDiskFull(t *testing.T) {
	mount, umount := testenv.Require(t, "mount"), testenv.Require(t, "umount")
	root := t.TempDir()
	if out, err := runCmd(mount, "-t", "tmpfs", "-o", "size=1m", "tmpfs", root); err != nil {
		testenv.Missing(t, fmt.Sprintf("mounting a 1 MiB tmpfs needs root (CAP_SYS_ADMIN) and the mount tool: mount -t tmpfs: %v: %s", err, out))
	}
	t.Cleanup(func() { runCmd(umount, root) })
	mustWrite(t, filepath.Join(root, "up/keep.txt"), "kept")
	g := startStoreGateway(t, root, "", "")
	before := testenv.Tree(t, root)
	// Over the 1 MiB, but by less than the 256 KiB Go's server drains
	// after an early answer: with more left unread, it closes the
	// connection while the client is still sending, and the client may
	// see the reset before it reads the 507.
	big := bytes.Repeat([]byte("f"), 1<<20+128<<10)
	resp, _ := do(t, "PUT", g.url(t, "/up/deep/dir/big.bin", writeGrant("/up/", true)), bytes.NewReader(big), int64(len(big)))
	expectReason(t, "disk full", resp, 507, "storage_full")
	testenv.SameTree(t, root, before)
	// the same gateway still writes what fits
	resp, _ = do(t, "PUT", g.url(t, "/up/small.txt", writeGrant("/up/", false)), strings.NewReader("fits"), 4)
	expectReason(t, "small", resp, 201, "")
}

// TestUploadRefusesReservedNamesAndDoubledTypes: the store's own temporary
// names cannot be written (they would never be served), and a body whose
// Content-Type is declared twice is refused (the store and a later reader
// could each take a different one). Neither changes the tree.
func TestUploadRefusesReservedNamesAndDoubledTypes(t *testing.T) {
	root := t.TempDir()
	g := startStoreGateway(t, root, "content_types text/plain", "")
	c := writeGrant("/up/", false)
	before := testenv.Tree(t, root)
	for _, path := range []string{"/up/.valet-x", "/up/.valet-dir/a.txt"} {
		resp, _ := do(t, "PUT", g.url(t, path, c), strings.NewReader("x"), 1)
		expectReason(t, "PUT "+path, resp, 403, "reserved_name")
	}
	tok := mint(t, c, g.keys.hs)
	head := fmt.Sprintf("PUT /up/a.txt?vk=%s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Type: application/x-sh\r\nContent-Length: 1\r\nConnection: close\r\n\r\n", tok, g.addr)
	resp, err := sendRaw(t, g.addr, head, []byte("x"), false)
	if err != nil {
		t.Fatal(err)
	}
	expectReason(t, "doubled Content-Type", resp, 415, "unsupported_type")
	testenv.SameTree(t, root, before)
	resp, _ = do(t, "PUT", g.url(t, "/up/a.txt", c), strings.NewReader("x"), 1, "Content-Type", "text/plain")
	expectReason(t, "single Content-Type", resp, 201, "")
}
