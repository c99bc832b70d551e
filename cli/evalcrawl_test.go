package cli

import (
	"strings"
	"testing"
)

// TestEvalCrawlCommand runs the command on a published peer output (quick:
// no extraction) and on a missing benchmark directory.
func TestEvalCrawlCommand(t *testing.T) {
	t.Parallel()
	dir := "../crawl/testdata/article-extraction-benchmark"
	code, out, errOut := runCLI(t, "eval", "crawl", "--dir", dir, "--peer", dir+"/output/go_readability.json.gz")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"181 pages", "held-out (odd)", "0.934  0.900      0.971"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, _, errOut = runCLI(t, "eval", "crawl", "--dir", t.TempDir())
	if code != 1 || !strings.Contains(errOut, "no benchmark at") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("missing benchmark: exit %d, stderr %q", code, errOut)
	}
}
