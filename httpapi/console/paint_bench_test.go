package console_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// BenchmarkOverviewFirstPaint loads the overview in headless Chromium and
// reports its first contentful paint, as the browser measures it from the
// start of the navigation (ms-fcp), besides the time of the whole load.
func BenchmarkOverviewFirstPaint(b *testing.B) {
	path := chromiumPath()
	if path == "" {
		b.Skip("no chromium on PATH")
	}
	e := servertest.New(b)
	e.Clock.Advance(time.Hour)
	br := newBrowserAt(b, path, 1366, 900)
	base := e.URL + "/console"
	if err := chromedp.Do(br, chromedp.Navigate(base+"/login"), chromedp.SendKeys(chromedp.CSS("#token"), e.Token),
		chromedp.Click(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("#h-keys"))); err != nil {
		b.Fatal(err)
	}
	var total float64
	for b.Loop() {
		if err := chromedp.Do(br, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#h-keys"))); err != nil {
			b.Fatal(err)
		}
		fcp, err := chromedp.Run(br, chromedp.Evaluate[float64](
			`new Promise(r => { const f = () => { const e = performance.getEntriesByName("first-contentful-paint")[0]; e ? r(e.startTime) : setTimeout(f, 5) }; f() })`,
			chromedp.EvalAwaitPromise))
		if err != nil {
			b.Fatal(err)
		}
		total += fcp
	}
	b.ReportMetric(total/float64(b.N), "ms-fcp")
}
