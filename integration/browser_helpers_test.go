package integration

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// newBrowser starts a real headless Chromium for one test and returns its
// context, cancelled (and the browser ended) after limit or at cleanup.
func newBrowser(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	chromium := testenv.Require(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(ctx)
	t.Cleanup(cancelBrowser)
	return ctx
}
