package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// docs/s3.md "Try it locally" runs as written: versitygw started the way
// the page says (AK, SK, a posix directory with the bucket photos), the
// page's Caddyfile, then its commands, with free ports instead of 7070 and
// 8090 and a temporary directory instead of /tmp/valet-s3.
func TestS3DocTryItLocally(t *testing.T) {
	testenv.Require(t, "curl")
	store := startVersity(t, "photos") // --access AK --secret SK --port ADDR --quiet posix DIR
	if s3Access != "AK" || s3Secret != "SK" {
		t.Fatal("the page's credentials are AK and SK")
	}
	work := docWorkdir(t)
	site := testenv.Addr(testenv.FreePort(t))
	config := strings.NewReplacer(
		"localhost:8090", site,
		"127.0.0.1:7070", store.addr,
		"{file.examples/", "{file."+filepath.Join(work, "examples")+"/",
	).Replace(docBlock(t, "docs/s3.md", "Try it locally", "caddyfile"))
	testenv.StartCaddy(t, config, "http://"+site+"/")

	steps := docSteps(t, "docs/s3.md", "Try it locally")
	places := strings.NewReplacer("localhost:8090", site, "/tmp/valet-s3", store.dir)
	runDocSteps(t, work, nil, steps, places, reasonWords(), time.Minute)
}
