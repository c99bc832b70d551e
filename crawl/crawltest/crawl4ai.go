// Package crawltest holds test doubles for the crawl package.
//
// Crawl4AI is a FAKE crawl4ai server: an httptest server that speaks the
// request and response shapes of crawl4ai's Docker HTTP API (POST /crawl,
// bearer token, CrawlResult objects, HTTP 500 with a FastAPI "detail" when
// every URL fails), as read from crawl4ai's deploy/docker/api.py and
// models.py. It renders pages with a Crawler given to it (tests give it the
// builtin backend), so a test can compare what the two backends store.
package crawltest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/crawl"
)

// Crawl4AI is a running fake crawl4ai server.
type Crawl4AI struct {
	*httptest.Server
	// Requests counts POST /crawl calls.
	Requests atomic.Int64

	mu   sync.Mutex
	last map[string]any // the last request body, decoded
}

// LastRequest returns the last /crawl request body as decoded JSON.
func (s *Crawl4AI) LastRequest() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// NewCrawl4AI starts the fake. When token is not empty, requests must carry
// "Authorization: Bearer <token>" (crawl4ai answers 401 otherwise).
func NewCrawl4AI(t testing.TB, token string, render crawl.Crawler) *Crawl4AI {
	t.Helper()
	s := &Crawl4AI{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"status": "ok", "timestamp": float64(time.Now().Unix()), "version": "0.9.2"})
	})
	mux.HandleFunc("POST /crawl", func(w http.ResponseWriter, r *http.Request) {
		s.Requests.Add(1)
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			writeJSON(w, 401, map[string]any{"detail": "Invalid or expired token"})
			return
		}
		var req struct {
			URLs          []string       `json:"urls"`
			BrowserConfig map[string]any `json:"browser_config"`
			CrawlerConfig map[string]any `json:"crawler_config"`
		}
		var raw map[string]any
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&raw); err != nil {
			writeJSON(w, 422, map[string]any{"detail": []any{map[string]any{"msg": "invalid JSON", "type": "json_invalid"}}})
			return
		}
		s.mu.Lock()
		s.last = raw
		s.mu.Unlock()
		b, _ := json.Marshal(raw)
		_ = json.Unmarshal(b, &req)
		if len(req.URLs) < 1 || len(req.URLs) > 100 {
			writeJSON(w, 422, map[string]any{"detail": []any{map[string]any{"loc": []any{"body", "urls"}, "msg": "List should have at least 1 item", "type": "too_short"}}})
			return
		}
		if req.CrawlerConfig["type"] != "CrawlerRunConfig" || req.BrowserConfig["type"] != "BrowserConfig" {
			writeJSON(w, 500, map[string]any{"detail": `{"error": "Unknown config type"}`})
			return
		}
		start := time.Now()
		var results []map[string]any
		anyOK := false
		var lastErr string
		for _, u := range req.URLs {
			res, err := render.Crawl(r.Context(), u)
			item := map[string]any{
				"url": u, "html": "", "cleaned_html": nil, "success": err == nil,
				"status_code": res.Status, "error_message": "", "session_id": nil,
				"media":            map[string]any{"images": []any{}, "videos": []any{}, "audios": []any{}},
				"links":            map[string]any{"internal": []any{}, "external": []any{}},
				"response_headers": map[string]any{"content-type": res.ContentType},
				"redirected_url":   res.FinalURL,
				"metadata": map[string]any{
					"title": res.Title, "description": res.Description, "keywords": nil, "author": nil,
					"og:site_name": res.SiteName,
				},
				"markdown": map[string]any{
					"raw_markdown": res.Markdown, "markdown_with_citations": res.Markdown,
					"references_markdown": "", "fit_markdown": res.Markdown, "fit_html": "",
				},
			}
			if !res.PublishedAt.IsZero() {
				item["metadata"].(map[string]any)["article:published_time"] = res.PublishedAt.Format(time.RFC3339)
			}
			if res.Language != "" {
				item["metadata"].(map[string]any)["language"] = res.Language
			}
			if res.Canonical != "" {
				item["metadata"].(map[string]any)["canonical"] = res.Canonical
			}
			if err != nil {
				item["error_message"] = playwrightMessage(u, res, err)
				item["markdown"] = nil
				lastErr = item["error_message"].(string)
			} else {
				anyOK = true
			}
			results = append(results, item)
		}
		if !anyOK {
			// crawl4ai: every URL failed → HTTPException(500) whose detail
			// is a JSON string with the error.
			detail, _ := json.Marshal(map[string]any{"error": lastErr, "server_memory_delta_mb": 0.5, "server_peak_memory_mb": 812.0})
			writeJSON(w, 500, map[string]any{"detail": string(detail)})
			return
		}
		writeJSON(w, 200, map[string]any{
			"success": true, "results": results,
			"server_processing_time_s": time.Since(start).Seconds(),
			"server_memory_delta_mb":   0.1, "server_peak_memory_mb": 812.0,
		})
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// playwrightMessage words a failure the way crawl4ai reports it.
func playwrightMessage(u string, res crawl.Result, err error) string {
	switch crawl.KindOf(err) {
	case crawl.KindNoHost:
		return "Unexpected error in _crawl_web at line 744 in _crawl_web: Error: Failed on navigating ACS-GOTO:\nPage.goto: net::ERR_NAME_NOT_RESOLVED at " + u
	case crawl.KindTimeout:
		return "Unexpected error in _crawl_web: Page.goto: Timeout 20000ms exceeded."
	case crawl.KindUnsupportedType:
		// Playwright turns a non-HTML response into a download.
		return "Failed on navigating ACS-GOTO:\nPage.goto: Download is starting\nCall log:\n  - navigating to \"" + u + "\""
	case crawl.KindRobots:
		return "Access denied by robots.txt"
	case crawl.KindHTTPStatus, crawl.KindServerError, crawl.KindRateLimited:
		return "Failed on navigating ACS-GOTO: status code " + itoa(res.Status)
	default:
		return "Unexpected error in _crawl_web: " + err.Error()
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
