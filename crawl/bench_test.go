package crawl

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkExtract measures the CPU cost of extraction alone (charset
// decoding, parsing, readability, Markdown) over the saved pages: the part
// of a crawl that is not waiting on the network.
func BenchmarkExtract(b *testing.B) {
	files, _ := filepath.Glob("testdata/pages/*.html")
	var bodies [][]byte
	var size int
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, body)
		size += len(body)
	}
	x := newExtractor()
	u, _ := url.Parse("https://example.org/article")
	b.SetBytes(int64(size / len(bodies)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		var res Result
		if err := x.extract(&res, bodies[i%len(bodies)], "text/html", u); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuiltinCrawl crawls distinct pages of a local site answering
// after 50 ms, behind 200 host names, with the default limits (64 at once,
// 2 per host, 250 ms between requests to a host): the crawler's pages/s
// without the stage's Redis and Postgres work (1e9 / ns/op).
func BenchmarkBuiltinCrawl(b *testing.B) {
	files, _ := filepath.Glob("testdata/pages/*.html")
	var bodies [][]byte
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	var n atomic.Int64
	s := newSite(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		time.Sleep(50 * time.Millisecond)
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write(bodies[int(n.Add(1))%len(bodies)])
	}))
	names := map[string][]netip.Addr{}
	for i := range 200 {
		names[fmt.Sprintf("h%d.bench.test", i)] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	cfg := DefaultConfig()
	cfg.AllowPrivateAddresses = true
	c, err := NewBuiltin(cfg, WithResolver(&mapResolver{names: names}), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	port := s.addr().Port()
	var seq atomic.Int64
	b.SetParallelism(cfg.Concurrency / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			u := fmt.Sprintf("http://h%d.bench.test:%d/p/%d", i%200, port, i)
			if _, err := c.Crawl(context.Background(), u); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
}
