package ingest

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
)

// BenchmarkReadJSONL reads the 500-post corpus sample from memory, so that
// the figure is the reader's (decode, ids, hashes, URL extraction), not the
// disk's.
func BenchmarkReadJSONL(b *testing.B) {
	data, err := os.ReadFile(testenv.SamplePath())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	posts := 0
	emit := func(*events.PostParsed) error { posts++; return nil }
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(ctx, bytes.NewReader(data), "sample.jsonl", FormatAuto, emit, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(posts)/b.Elapsed().Seconds(), "posts/s")
	b.ReportMetric(float64(posts)/float64(b.N), "posts/op")
}
