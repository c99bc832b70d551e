package crawl

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkBrowserCrawl measures pages/s through the browser fallback on a
// local page whose text is built by JavaScript (plus one JSON fetch), with
// the default page budget, for a few tab counts and settle times. Each
// page is a whole Crawl: the static fetch and extraction, then the render
// and the second extraction. Run:
//
//	go test ./crawl -run '^$' -bench BrowserCrawl -benchtime 40x
func BenchmarkBrowserCrawl(b *testing.B) {
	s := newSite(b, serveJS(""))
	// The static path of the same crawler, for the ratio: a page with
	// enough server-rendered text never reaches the browser.
	b.Run("static", func(b *testing.B) {
		cfg := testConfig()
		cfg.Browser = testBrowserConfig()
		cfg.PerHostConcurrency = 16
		c, err := NewBuiltin(cfg, WithExemptAddrs(s.addr()))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if res, err := c.Crawl(context.Background(), s.URL+"/static"); err != nil || res.Backend != BackendBuiltin {
					b.Errorf("static crawl: %v, backend %q", err, res.Backend)
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pages/s")
	})
	for _, tc := range []struct {
		tabs   int
		settle time.Duration
	}{{1, 500 * time.Millisecond}, {2, 500 * time.Millisecond}, {4, 500 * time.Millisecond}, {2, 100 * time.Millisecond}, {4, 100 * time.Millisecond}} {
		b.Run(fmt.Sprintf("tabs=%d/settle=%s", tc.tabs, tc.settle), func(b *testing.B) {
			bc := testBrowserConfig()
			bc.Tabs, bc.Settle = tc.tabs, tc.settle
			cfg := testConfig()
			cfg.Browser = bc
			cfg.PerHostConcurrency = 16
			c, err := NewBuiltin(cfg, WithExemptAddrs(s.addr()))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			// Start Chromium outside the timing.
			if _, err := c.Crawl(context.Background(), s.URL+"/warm"); err != nil {
				b.Fatal(err)
			}
			var failed atomic.Int64
			b.SetParallelism(max(1, (tc.tabs*2+1)/2)) // 2 goroutines per GOMAXPROCS core ≥ tabs on 2 cores
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					res, err := c.Crawl(context.Background(), fmt.Sprintf("%s/p%d", s.URL, i))
					if err != nil || res.Backend != BackendBrowser || res.WordCount < 100 {
						failed.Add(1)
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pages/s")
			if n := failed.Load(); n > 0 {
				b.Errorf("%d of %d pages failed or came back short", n, b.N)
			}
		})
	}
}
