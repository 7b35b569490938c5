package integration

import (
	"fmt"
	"testing"
)

// TestTusJsClientS3: tus-js-client from the command line uploads into a
// bucket through valet_s3_resumable, stops mid-way, and a second run with
// the upload URL finishes it; the object is byte-exact and nothing is left.
func TestTusJsClientS3(t *testing.T) {
	dir, node := tusClientDir(t)
	store := startVersity(t, s3Bucket)
	b := newBucketClient(store)
	g := startS3TusGateway(t, store, newKeys(t), "", "")
	data, src := randomFile(t, "clip.bin", 12<<20+123)
	c := tusGrant("/up/", 16<<20)
	c.Methods = []string{"POST", "PATCH", "HEAD"}
	tok := mint(t, c, g.keys.hs)
	chunk := fmt.Sprint(5 << 20)

	events := nodeUpload(t, dir, node, "--endpoint", "http://"+g.addr+"/up/", "--token", tok, "--file", src,
		"--chunk", chunk, "--stop-after", fmt.Sprint(5<<20))
	if e := lastEvent(events); e["event"] != "stopped" {
		t.Fatalf("first run: %v", events)
	}
	uploadURL, _ := events[0]["url"].(string)
	if uploadURL != "http://"+g.addr+"/up/clip.bin" {
		t.Fatalf("upload URL %q (events %v)", uploadURL, events)
	}
	if off := g.offset(t, "/up/clip.bin", tok); off <= 0 || off >= int64(len(data)) {
		t.Fatalf("offset after the stop: %d", off)
	}
	if _, found := b.object(t, s3TusPrefix+"up/clip.bin"); found {
		t.Fatal("the destination exists before the upload completed")
	}

	events = nodeUpload(t, dir, node, "--endpoint", "http://"+g.addr+"/elsewhere/", "--token", tok, "--file", src,
		"--chunk", chunk, "--upload-url", uploadURL)
	if e := lastEvent(events); e["event"] != "done" {
		t.Fatalf("second run: %v", events)
	}
	b.settled(t, "/up/clip.bin", string(data))
}
