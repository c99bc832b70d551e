package bench_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/assistant-dev/assistant/bench"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/stages/all"
)

// TestPipelineMeasuresEveryPost runs the end-to-end benchmark on a small N
// against the real Redis and PostgreSQL so that it keeps working; the
// figures come from `make bench`.
func TestPipelineMeasuresEveryPost(t *testing.T) {
	testenv.Redis(t)
	var out bytes.Buffer
	res, err := bench.Pipeline(context.Background(), bench.PipelineOptions{
		RedisURL: testenv.RedisURL(), DatabaseURL: testenv.DatabaseURL(),
		Corpus: testenv.SamplePath(), N: 1200, Out: &out, Stages: all.Registry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Posts != 1200 || res.P50 <= 0 || res.P99 < res.P50 || res.Elapsed <= 0 {
		t.Fatalf("implausible result %+v", res)
	}
	t.Log(out.String())
}
