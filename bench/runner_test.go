package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/internal/testenv"
)

// TestRunnerPrintsAComparison runs the benchmark on a small size so that it
// stays working; the figures themselves come from `make bench`.
func TestRunnerPrintsAComparison(t *testing.T) {
	testenv.Redis(t) // fails clearly when Redis is not there
	var out bytes.Buffer
	err := Runner(context.Background(), RunnerOptions{
		RedisURL: testenv.RedisURL(), Sizes: []int{2000}, Workers: 2, BatchSize: 200, Payload: 100, Out: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(strings.TrimSpace(lines[2]), "2000") {
		t.Fatalf("unexpected report:\n%s", out.String())
	}
	t.Log(out.String())
}

// TestRunnerComparesPartitions: with partitions 1 and 3, a row each and the
// ratio of the two (every entry moved in both, or the run would not end).
func TestRunnerComparesPartitions(t *testing.T) {
	testenv.Redis(t)
	var out bytes.Buffer
	err := Runner(context.Background(), RunnerOptions{
		RedisURL: testenv.RedisURL(), Sizes: []int{2000}, Workers: 2, BatchSize: 200, Payload: 100,
		Partitions: []int{1, 3}, Out: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 || !strings.Contains(lines[4], "3 partitions / 1 = ") {
		t.Fatalf("unexpected report:\n%s", out.String())
	}
	t.Log(out.String())
}
