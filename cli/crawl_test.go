package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCrawlCommand(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<html lang="ru"><head><title>Релиз Go 1.26 — Блог</title>
<meta name="description" content="Что нового в Go 1.26."></head><body><nav>Главная Блог</nav><article><h1>Релиз Go 1.26</h1>
<p>Команда Go выпустила версию 1.26. В ней ускорен сборщик мусора и обновлена стандартная библиотека.</p>
<p>Пакет net/http получил новые настройки тайм-аутов, а инструмент vet научился находить больше ошибок.</p>
<p>Обновиться можно уже сегодня: бинарные сборки доступны для всех поддерживаемых платформ.</p></article>
<div class="comments">Отличный релиз!</div></body></html>`))
	}))
	defer srv.Close()
	cfg := testConfig(t, "", "", "")

	// The SSRF guard is on by default: a loopback site is refused.
	code, _, stderr := runCLI(t, "crawl", "--config", cfg, srv.URL+"/post")
	if code == 0 || !strings.Contains(stderr, "ssrf_refused") {
		t.Errorf("loopback without the allowance: exit %d, stderr %q", code, stderr)
	}

	code, stdout, stderr := runCLI(t, "crawl", "--config", cfg, "--allow-private-addresses", srv.URL+"/post?utm_source=tg")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"title:        Релиз Go 1.26", "language:     ru", "status:       ok (HTTP 200)",
		"Пакет net/http получил", "description:  Что нового в Go 1.26."} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "Отличный релиз") || strings.Contains(stdout, "utm_source") {
		t.Errorf("output holds comments or tracking parameters:\n%s", stdout)
	}
	if !strings.Contains(stderr, "allow_private_addresses is ON") {
		t.Errorf("the allowance was not logged loudly: %q", stderr)
	}

	code, stdout, _ = runCLI(t, "crawl", "--config", cfg, "--allow-private-addresses", "--json", srv.URL+"/post")
	var page struct {
		Title, Markdown, Status string
		WordCount               int `json:"word_count"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &page) != nil || page.Title != "Релиз Go 1.26" || page.WordCount < 30 {
		t.Errorf("--json: exit %d, %+v", code, page)
	}

	// The policy: t.me is not crawled unless forced.
	code, _, stderr = runCLI(t, "crawl", "--config", cfg, "https://t.me/naukaikod")
	if code == 0 || !strings.Contains(stderr, "skipped_domain") {
		t.Errorf("t.me: exit %d, stderr %q", code, stderr)
	}
}
