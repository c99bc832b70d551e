package crawl

import (
	"context"
	"net/http"
	"os"
	"path"
	"strings"
	"testing"
	"time"
)

// pageCase is one saved page of testdata/pages (written by
// testdata/gen_pages.py) and what its extraction must give.
type pageCase struct {
	file        string
	contentType string // as served
	title       string
	lang        string
	siteName    string
	published   string // RFC 3339, "" when the page gives none
	canonical   string // path of the canonical URL on the test site, or an absolute URL
	// body are phrases of the article (first and last paragraph at least)
	// that must be in the Markdown; furniture are phrases of navigation,
	// ads, banners, comments and footers that must not.
	body      []string
	furniture []string
	minWords  int
}

var pageCases = []pageCase{
	{
		file: "ru-news-utf8.html", contentType: "text/html; charset=utf-8",
		title: "В Новосибирске запустили первый в Сибири квантовый симулятор", lang: "ru", siteName: "Вести Науки",
		published: "2026-03-14T02:30:00Z", canonical: "/news/2026/03/14/kvantovyj-simulyator",
		body: []string{"квантовый симулятор на 50 сверхпроводящих кубитах", "без ожидания полной коррекции ошибок",
			"национальной программы развития квантовых технологий"},
		furniture: []string{"файлы cookie", "Политика", "Кредит наличными", "Курсы программирования", "Хочу майнить",
			"Горжусь нашими", "Хоккейный клуб", "Все права защищены", "Поделиться"},
		minWords: 120,
	},
	{
		file: "ru-regional-cp1251.html", contentType: "text/html",
		title: "Тверской мост через Волгу закроют на ремонт до осени", lang: "ru",
		body: []string{"С 1 апреля движение по Старому мосту", "заторы до двух часов", "Евгения Кнорре"},
		furniture: []string{"Пластиковые окна", "Доска объявлений", "Погода в Твери", "Шиномонтаж", "Опять всё лето",
			"лучшую пекарню", "При перепечатке"},
		minWords: 100,
	},
	{
		file: "ru-tech-koi8r.html", contentType: "text/html; charset=KOI8-R",
		title: "Вышло ядро Linux 7.2 с поддержкой новых RISC-V плат", lang: "ru",
		body:      []string{"Линус Торвальдс объявил о выпуске ядра Linux 7.2", "часть кода сетевого стека"},
		furniture: []string{"Хостинг VPS", "ждал поддержку своей платы", "зря тащат", "Сайт работает на Apache", "RSS"},
		minWords:  100,
	},
	{
		file: "en-blog.html", contentType: "text/html; charset=utf-8",
		title: "Profiling Go services in production without slowing them down", lang: "en", siteName: "Gopher Notes",
		published: "2026-02-03T08:00:00Z", canonical: "https://gophernotes.example/posts/continuous-profiling",
		body: []string{"Continuous profiling means sampling CPU", "net/http/pprof", "makes tail latency worse"},
		furniture: []string{"Subscribe to the newsletter", "CloudMetrics", "Why we rewrote", "gopherfan42",
			"block profile enabled", "Built with Hugo", "Archive"},
		minWords: 200,
	},
	{
		file: "ru-dev-article.html", contentType: "text/html; charset=utf-8",
		title: "Как мы ускорили поиск по логам в 40 раз с помощью ClickHouse", lang: "ru", siteName: "Хабр-клуб",
		published: "2026-04-21T08:15:00Z",
		body: []string{"Два года назад наши логи жили в Elasticsearch", "tokenbf_v1(32768, 3, 0)",
			"пачками по сто тысяч строк"},
		furniture: []string{"Моя лента", "использует cookies", "А почему не Loki", "про tokenbf_v1 не знал",
			"Вакансии Go-разработчиков", "Ваш аккаунт"},
		minWords: 120,
	},
	{
		file: "en-news.html", contentType: "text/html",
		title: "Port of Rotterdam trials hydrogen-powered cranes", lang: "en", siteName: "Harbour Times",
		published: "2026-01-19T06:45:00Z",
		body:      []string{"Europe's largest port has begun testing", "more energy than batteries can currently store"},
		furniture: []string{"We value your privacy", "Advertisement", "Holidays in Portugal", "Most read",
			"Markets slide", "Terms · Cookies", "Opinion"},
		minWords: 140,
	},
	{
		file: "ru-gov-press.html", contentType: "text/html; charset=utf-8",
		title: "Минцифры утвердило требования к отечественным облачным платформам", lang: "ru",
		published: "2026-05-30T00:00:00Z",
		body:      []string{"Министерство цифрового развития утвердило требования", "переходный период в двенадцать месяцев"},
		furniture: []string{"Версия для слабовидящих", "Обращения граждан", "Открытые данные", "Была ли информация полезной",
			"Пресненская наб"},
		minWords: 90,
	},
	{
		file: "ru-science-cp1251.html", contentType: "text/html",
		title: "Байкальские нерпы научились нырять глубже из-за потепления", lang: "ru", siteName: "Природа и люди",
		published: "2026-06-01T23:00:00Z",
		body:      []string{"Биологи Лимнологического института СО РАН", "температуру воды на глубине", "голомянка — основной корм"},
		furniture: []string{"Подпишитесь на нашу рассылку", "Космос", "Туры на Байкал", "Бедные нерпочки",
			"Ушканьих островах", "защищены авторским правом"},
		minWords: 100,
	},
}

// pagesSite serves testdata/pages with the content types of pageCases.
func pagesSite(t testing.TB) *site {
	types := map[string]string{}
	for _, c := range pageCases {
		types["/"+c.file] = c.contentType
	}
	return newSite(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct, ok := types[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(path.Join("testdata/pages", r.URL.Path))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write(b)
	}))
}

// TestExtractArticles crawls saved article pages (Russian in UTF-8,
// windows-1251 and koi8-r, English) from an httptest site and checks the
// title, language, metadata and main text, and that navigation, ads,
// cookie banners, comments and footers stay out of the Markdown.
func TestExtractArticles(t *testing.T) {
	t.Parallel()
	s := pagesSite(t)
	c := newCrawler(t, testConfig(), s)
	for _, tc := range pageCases {
		t.Run(tc.file, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := c.Crawl(ctx, s.URL+"/"+tc.file)
			if err != nil {
				t.Fatalf("Crawl: %v", err)
			}
			if res.Title != tc.title {
				t.Errorf("title = %q, want %q", res.Title, tc.title)
			}
			if res.Language != tc.lang {
				t.Errorf("language = %q, want %q", res.Language, tc.lang)
			}
			if res.SiteName != tc.siteName {
				t.Errorf("site name = %q, want %q", res.SiteName, tc.siteName)
			}
			var pub string
			if !res.PublishedAt.IsZero() {
				pub = res.PublishedAt.UTC().Format(time.RFC3339)
			}
			if pub != tc.published {
				t.Errorf("published = %q, want %q", pub, tc.published)
			}
			wantCanon := tc.canonical
			if strings.HasPrefix(wantCanon, "/") {
				wantCanon = s.URL + wantCanon
			}
			if res.Canonical != wantCanon {
				t.Errorf("canonical = %q, want %q", res.Canonical, wantCanon)
			}
			if res.Status != 200 || res.FinalURL != s.URL+"/"+tc.file || res.Bytes == 0 {
				t.Errorf("status %d, final URL %q, bytes %d", res.Status, res.FinalURL, res.Bytes)
			}
			for _, p := range tc.body {
				if !strings.Contains(res.Markdown, p) {
					t.Errorf("Markdown lacks article text %q", p)
				}
			}
			for _, p := range tc.furniture {
				if strings.Contains(res.Markdown, p) {
					t.Errorf("Markdown holds page furniture %q", p)
				}
			}
			if res.WordCount < tc.minWords {
				t.Errorf("word count %d, want at least %d", res.WordCount, tc.minWords)
			}
			if res.ContentSHA256 != sha256Hex(res.Markdown) || res.Description == "" {
				t.Errorf("content hash %q, description %q", res.ContentSHA256, res.Description)
			}
			if t.Failed() {
				t.Logf("Markdown:\n%s", res.Markdown)
			}
		})
	}
}
