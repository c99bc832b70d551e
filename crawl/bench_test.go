package crawl

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"
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
