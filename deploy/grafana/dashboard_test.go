// Package grafana holds the daemon's Grafana dashboard (assistant.json) and
// the test that keeps it honest.
package grafana

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/assistant-dev/assistant/internal/promcheck"
)

type dashboard struct {
	Title  string  `json:"title"`
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
}

// TestDashboardReadsExportedMetrics fails when a panel queries a metric that
// no Go code of the daemon registers, so a renamed metric cannot leave a
// panel silently empty. It also checks the dashboard's shape: unique panel
// ids, every graph with a query, and the sections the operations guide names.
func TestDashboardReadsExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("assistant.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("assistant.json: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard needs a uid and a title")
	}
	registered, err := promcheck.Registered(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int]bool{}
	rows := map[string]bool{}
	read := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			rows[p.Title] = true
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q overflows the 24-column grid", p.Title)
		}
		for _, tg := range p.Targets {
			metrics := promcheck.MetricsIn(tg.Expr)
			if len(metrics) == 0 {
				t.Errorf("panel %q query %s reads no metric: %s", p.Title, tg.RefID, tg.Expr)
			}
			for _, m := range metrics {
				family := promcheck.Family(m)
				read[family] = true
				if !registered[family] && !registered[m] {
					t.Errorf("panel %q reads %s, which the daemon does not export", p.Title, m)
				}
			}
		}
	}
	for _, row := range []string{"Pipeline", "Failures", "tag / persist", "enrich / index", "cleanup"} {
		if !rows[row] {
			t.Errorf("dashboard has no %q row", row)
		}
	}
	// The metrics an operator needs first are on the board.
	for _, m := range []string{"stage_messages_total", "stream_lag", "stage_dlq_total", "crawl_requests_total", "indexing_processed_total", "cleanup_deleted_total"} {
		if !read[m] {
			t.Errorf("no panel reads %s", m)
		}
	}
}
