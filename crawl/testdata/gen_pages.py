#!/usr/bin/env python3
"""Writes the saved article pages of crawl's extraction tests.

The pages are written for these tests (no third-party content): each imitates
the layout of a kind of site a Telegram news post links to -- a Russian news
portal, a regional site on windows-1251 tables, an old koi8-r tech site, a
tech blog, a government press release -- with the furniture that must not
reach the Markdown: navigation, ads, cookie banners, comments, related
links, footers. Run it from this directory to regenerate the files.
"""
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pages")

def paras(ps):
    return "\n".join(f"<p>{p}</p>" for p in ps)

PAGES = []

# 1. Russian news portal, UTF-8, modern markup.
PAGES.append(("ru-news-utf8.html", "utf-8", f"""<!DOCTYPE html>
<html lang="ru-RU">
<head>
<meta charset="utf-8">
<title>В Новосибирске запустили первый в Сибири квантовый симулятор — Вести Науки</title>
<meta name="description" content="Учёные Академгородка представили квантовый симулятор на 50 кубитах.">
<meta property="og:title" content="В Новосибирске запустили первый в Сибири квантовый симулятор">
<meta property="og:site_name" content="Вести Науки">
<meta property="article:published_time" content="2026-03-14T09:30:00+07:00">
<link rel="canonical" href="/news/2026/03/14/kvantovyj-simulyator">
<script>window.dataLayer=[];function gtag(){{dataLayer.push(arguments)}}</script>
<style>.cookie{{position:fixed}}</style>
</head>
<body>
<div class="cookie-banner" id="cookie-consent">Мы используем файлы cookie, чтобы сайт работал лучше. Продолжая пользоваться сайтом, вы соглашаетесь с политикой обработки данных. <button>Принять</button></div>
<header class="site-header">
<a class="logo" href="/">Вести Науки</a>
<nav class="main-menu"><ul>
<li><a href="/politika">Политика</a></li><li><a href="/ekonomika">Экономика</a></li>
<li><a href="/nauka">Наука</a></li><li><a href="/sport">Спорт</a></li><li><a href="/kultura">Культура</a></li>
</ul></nav>
<form class="search"><input name="q" placeholder="Поиск по сайту"></form>
</header>
<div class="banner-top ad" id="adfox_top">Реклама. Кредит наличными под 0,1% — оформите онлайн за 5 минут!</div>
<main>
<div class="breadcrumbs"><a href="/">Главная</a> / <a href="/nauka">Наука</a></div>
<article class="article">
<h1 class="article__title">В Новосибирске запустили первый в Сибири квантовый симулятор</h1>
<div class="article__meta"><time datetime="2026-03-14T09:30:00+07:00">14 марта 2026, 09:30</time> · Анна Соколова</div>
<div class="article__body">
{paras([
"Учёные Института физики полупроводников СО РАН и Новосибирского государственного университета представили квантовый симулятор на 50 сверхпроводящих кубитах. Это первая установка такого класса за Уралом, сообщили в пресс-службе Академгородка.",
"Симулятор предназначен для моделирования сложных молекул и новых материалов. По словам руководителя проекта Игоря Лаврентьева, на нём уже воспроизвели поведение магнитных цепочек, расчёт которых на обычных суперкомпьютерах занимал несколько недель.",
"Установка охлаждается до температуры в 15 милликельвинов в криостате растворения. Большую часть электроники управления разработали в Новосибирске, а часть компонентов изготовили на предприятиях Зеленограда.",
"В ближайший год исследователи планируют открыть удалённый доступ к симулятору для университетов Сибири и Дальнего Востока. Заявки на машинное время будут рассматривать раз в квартал.",
"Эксперты отмечают, что квантовые симуляторы, в отличие от универсальных квантовых компьютеров, решают узкий класс задач, зато делают это уже сегодня, без ожидания полной коррекции ошибок.",
])}
<div class="inline-ad ad-block">Реклама: Курсы программирования со скидкой 70% — успей записаться!</div>
<p>Проект финансируется в рамках национальной программы развития квантовых технологий до 2030 года.</p>
</div>
<div class="article__tags"><a href="/tag/kvant">квантовые технологии</a> <a href="/tag/nsk">Новосибирск</a></div>
<div class="share">Поделиться: <a href="#">ВКонтакте</a> <a href="#">Telegram</a> <a href="#">Одноклассники</a></div>
</article>
<section class="comments" id="comments">
<h3>Комментарии (3)</h3>
<div class="comment"><span class="comment__author">Петрович</span><p class="comment__text">А когда уже квантовый компьютер для дома продавать начнут? Хочу майнить.</p></div>
<div class="comment"><span class="comment__author">Marina_K</span><p class="comment__text">Горжусь нашими учёными! Молодцы ребята из Академгородка.</p></div>
<div class="comment"><span class="comment__author">скептик</span><p class="comment__text">Очередной распил бюджета, ничего это не даст.</p></div>
</section>
<aside class="related"><h3>Читайте также</h3><ul>
<li><a href="/news/1">Хоккейный клуб «Сибирь» обыграл «Авангард» в овертайме</a></li>
<li><a href="/news/2">Цены на бензин выросли за неделю на 0,3%</a></li></ul></aside>
</main>
<footer class="site-footer">© 2026 Вести Науки. Все права защищены. 18+ <a href="/about">О проекте</a> <a href="/ads">Реклама на сайте</a></footer>
</body></html>
"""))

# 2. Regional site, windows-1251, table layout, no lang attribute.
PAGES.append(("ru-regional-cp1251.html", "windows-1251", f"""<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">
<title>Тверской мост через Волгу закроют на ремонт до осени :: Тверские ведомости</title>
<meta name="description" content="Движение по Старому мосту в Твери ограничат с 1 апреля.">
<meta name="keywords" content="Тверь, мост, ремонт">
</head>
<body bgcolor="#ffffff">
<table width="100%" border="0"><tr><td class="top-menu">
<a href="/">Главная</a> | <a href="/news/">Новости</a> | <a href="/afisha/">Афиша</a> | <a href="/board/">Доска объявлений</a> | <a href="/forum/">Форум</a>
</td></tr></table>
<table width="100%"><tr>
<td width="200" valign="top" class="left-column">
<div class="menu-block"><b>Рубрики</b><br><a href="/r/1">Общество</a><br><a href="/r/2">Происшествия</a><br><a href="/r/3">ЖКХ</a><br><a href="/r/4">Транспорт</a></div>
<div class="banner"><a href="/click?b=12">Пластиковые окна от производителя! Скидки до 40%! Звоните: 8-800-000-00-00</a></div>
<div class="informer">Погода в Твери: +3, облачно. Курс доллара: 92,14</div>
</td>
<td valign="top" class="content">
<h1>Тверской мост через Волгу закроют на ремонт до осени</h1>
<div class="date">28.03.2026 14:05</div>
<div class="news-text">
{paras([
"С 1 апреля движение по Старому мосту через Волгу в Твери будет полностью закрыто для автомобилей. Подрядчик приступает к замене пролётных строений и опор, сообщили в администрации города.",
"Пешеходов будут пропускать по временному настилу вдоль восточной стороны моста. Общественный транспорт перенаправят через Новый и Восточный мосты, для этого изменят схему восьми автобусных маршрутов.",
"Ремонт обойдётся областному бюджету в 1,2 миллиарда рублей. Работы планируется завершить к 15 октября, однако в мэрии допускают, что сроки могут сдвинуться из-за паводка.",
"Старый мост построен в 1900 году по проекту инженера Евгения Кнорре и является объектом культурного наследия. Поэтому внешний облик чугунных перил и фонарей при реконструкции сохранят.",
"Водителям советуют заранее планировать маршруты: в часы пик на объездных направлениях ожидаются заторы до двух часов.",
])}
</div>
<div class="source">Источник: пресс-служба администрации Твери</div>
<div class="comments-block"><b>Отзывы читателей:</b>
<div class="comment">Гость, 28.03.2026: Опять всё лето в пробках стоять будем, спасибо мэрии!</div>
<div class="comment">Водитель_69, 28.03.2026: Лучше бы дороги в Заволжье сделали сначала.</div>
</div>
</td>
<td width="240" valign="top" class="right-column">
<div class="banner">Реклама. Шиномонтаж круглосуточно, Петербургское шоссе, 45</div>
<div class="top-news"><b>Популярное</b><br><a href="/n/1">В Твери выбрали лучшую пекарню года</a><br><a href="/n/2">На Волге начался ледоход</a></div>
</td></tr></table>
<div class="footer">Тверские ведомости © 2004–2026. При перепечатке ссылка обязательна. <a href="/contacts/">Контакты</a></div>
</body></html>
"""))

# 3. Old tech site, koi8-r, charset declared only in the HTTP header.
PAGES.append(("ru-tech-koi8r.html", "koi8-r", f"""<html lang="ru">
<head>
<title>Вышло ядро Linux 7.2 с поддержкой новых RISC-V плат</title>
<meta name="description" content="Обзор изменений в ядре Linux 7.2.">
</head>
<body>
<div id="menu"><a href="/">Главная</a> &middot; <a href="/news/">Новости</a> &middot; <a href="/articles/">Статьи</a> &middot; <a href="/soft/">Софт</a> &middot; <a href="/forum/">Форум</a> &middot; <a href="/rss/">RSS</a></div>
<div id="adv" class="advert">Хостинг VPS от 99 рублей в месяц — первый месяц бесплатно!</div>
<div id="main">
<h2 class="title">Вышло ядро Linux 7.2 с поддержкой новых RISC-V плат</h2>
<div class="info">Опубликовано 12.05.2026, автор: ОпенНьюс</div>
<div class="body">
{paras([
"Линус Торвальдс объявил о выпуске ядра Linux 7.2. В новую версию вошло более 14 тысяч исправлений от двух тысяч разработчиков, а размер патча составил 42 мегабайта.",
"Среди главных изменений — поддержка плат на процессорах RISC-V с расширением векторных инструкций, новый планировщик ввода-вывода для NVMe-накопителей и ускорение файловой системы Btrfs при работе со снимками.",
"В подсистеме сети появилась возможность разгружать шифрование протокола QUIC на сетевые карты. Разработчики обещают снижение нагрузки на процессор до тридцати процентов на загруженных серверах.",
"Драйверы для видеокарт получили поддержку нового поколения графических ускорителей, а в драйвер Nouveau добавили управление частотами для карт с прошивкой GSP.",
"Продолжилась работа по переводу компонентов ядра на язык Rust: на нём теперь написаны драйвер виртуальной файловой системы и часть кода сетевого стека.",
])}
</div>
</div>
<div id="comments"><b>Обсуждение (2):</b>
<div class="c">аноним: Наконец-то, ждал поддержку своей платы полгода.</div>
<div class="c">root: А Rust в ядре всё-таки зря тащат, помяните моё слово.</div>
</div>
<div id="footer">Copyright &copy; 1998-2026 ОпенНьюс. Сайт работает на Apache.</div>
</body></html>
"""))

# 4. English tech blog, sidebar, newsletter box, comments, code block.
PAGES.append(("en-blog.html", "utf-8", f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Profiling Go services in production without slowing them down | Gopher Notes</title>
<meta name="description" content="How continuous profiling works and what it costs.">
<meta property="og:site_name" content="Gopher Notes">
<meta property="og:title" content="Profiling Go services in production without slowing them down">
<meta property="article:published_time" content="2026-02-03T08:00:00Z">
<link rel="canonical" href="https://gophernotes.example/posts/continuous-profiling">
</head>
<body>
<nav class="navbar"><a href="/">Home</a> <a href="/archive">Archive</a> <a href="/about">About</a> <a href="/rss.xml">RSS</a></nav>
<div class="container">
<article class="post">
<h1>Profiling Go services in production without slowing them down</h1>
<p class="byline">By Dana Whitfield · February 3, 2026 · 6 min read</p>
{paras([
"Continuous profiling means sampling CPU and memory profiles from every instance of a service, all the time, and shipping them to a store where they can be compared across versions. The idea is old, but only recently has it become cheap enough to leave on.",
"The Go runtime makes this easier than most languages do. The CPU profiler is a signal-based sampler running at one hundred hertz, and the heap profiler records one allocation per half megabyte by default, so the overhead of both together stays in the low single digits of percent.",
"In our fleet we collect a ten second CPU profile from each instance once a minute. The profiles are labelled with the build version, so a regression shows up as a flame graph diff rather than as a vague feeling that the service got slower.",
])}
<pre><code>import _ "net/http/pprof"

go func() {{ log.Println(http.ListenAndServe("localhost:6060", nil)) }}()</code></pre>
{paras([
"The most useful view turned out to be the diff between two releases. When a dependency update doubled the time spent in JSON encoding, the diff pointed straight at the new reflection path, a day before any latency alert would have fired.",
"Memory profiles need more care. The inuse space view shows what is live right now, while the alloc space view shows churn, and the garbage collector's cost follows churn. Looking only at inuse space hides most of the allocation pressure that makes tail latency worse.",
])}
</article>
<aside class="sidebar">
<div class="newsletter"><h4>Subscribe to the newsletter</h4><p>Get new posts in your inbox every week. No spam, unsubscribe anytime.</p><input type="email" placeholder="you@example.com"><button>Subscribe</button></div>
<div class="sponsor">Sponsored: Try CloudMetrics free for 30 days — observability for teams that ship.</div>
<div class="popular"><h4>Popular posts</h4><ul><li><a href="/p/1">Why we rewrote our queue in Rust</a></li><li><a href="/p/2">A tour of generics</a></li></ul></div>
</aside>
<section id="disqus_thread" class="comments">
<h3>12 Comments</h3>
<div class="comment"><b>gopherfan42</b> Great write-up! Have you tried the new goroutine leak profile?</div>
<div class="comment"><b>ops_anna</b> We saw 4% overhead with the block profile enabled, be careful with that one.</div>
</section>
</div>
<footer>© 2026 Gopher Notes · Built with Hugo · <a href="/privacy">Privacy</a></footer>
</body></html>
"""))

# 5. Russian tech article in the style of a developer community, UTF-8.
PAGES.append(("ru-dev-article.html", "utf-8", f"""<!DOCTYPE html>
<html lang="ru">
<head>
<meta charset="UTF-8">
<title>Как мы ускорили поиск по логам в 40 раз с помощью ClickHouse / Хабр-клуб</title>
<meta property="og:title" content="Как мы ускорили поиск по логам в 40 раз с помощью ClickHouse">
<meta property="og:site_name" content="Хабр-клуб">
<meta name="description" content="История перехода с Elasticsearch на ClickHouse для хранения логов.">
<meta property="article:published_time" content="2026-04-21T11:15:00+03:00">
</head>
<body>
<div class="tm-header"><nav class="tm-main-menu"><a href="/ru/feed/">Моя лента</a><a href="/ru/all/">Все потоки</a><a href="/ru/flows/develop/">Разработка</a><a href="/ru/flows/admin/">Администрирование</a><a href="/ru/flows/design/">Дизайн</a><a href="/ru/flows/management/">Менеджмент</a></nav></div>
<div class="tm-cookie-banner">Этот сайт использует cookies. Подробнее — в Политике конфиденциальности. <button>Понятно</button></div>
<div class="tm-page">
<div class="tm-article-presenter">
<h1 class="tm-title"><span>Как мы ускорили поиск по логам в 40 раз с помощью ClickHouse</span></h1>
<div class="tm-article-snippet__meta">Время на прочтение 7 мин · Хабы: Go, Базы данных, DevOps</div>
<div id="post-content-body" class="article-formatted-body">
{paras([
"Два года назад наши логи жили в Elasticsearch: около четырёх терабайт в сутки, тридцать узлов в кластере и постоянная борьба с переполнением heap. Поиск за неделю занимал минуты, а за месяц просто не выполнялся.",
"Мы решили попробовать ClickHouse. Колоночное хранение хорошо сжимает однотипные строки логов: после перехода тот же объём данных занял в семь раз меньше места на дисках.",
"Главный вопрос был в полнотекстовом поиске. Мы построили вторичные индексы на основе блум-фильтров по токенам сообщения и добавили отдельную колонку с нормализованным текстом ошибки.",
])}
<pre><code class="sql">ALTER TABLE logs ADD INDEX msg_tokens message TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 4;</code></pre>
{paras([
"В результате типичный запрос «найти все ошибки сервиса за неделю» стал выполняться за полторы секунды вместо минуты. Стоимость хранения снизилась почти вдвое, а кластер сократился до восьми серверов.",
"Были и проблемы: вставка мелкими пачками убивала производительность, поэтому пришлось поставить буферизующий слой перед ClickHouse и писать пачками по сто тысяч строк.",
])}
</div>
<div class="tm-article-labels">Теги: clickhouse, elasticsearch, логирование</div>
</div>
<div class="tm-article-comments" id="comments"><h2>Комментарии 47</h2>
<div class="tm-comment"><span class="user">@dbadmin</span><div class="tm-comment__body">А почему не Loki? У нас он прекрасно справляется с похожими объёмами.</div></div>
<div class="tm-comment"><span class="user">@gopher_vasya</span><div class="tm-comment__body">Спасибо за статью, про tokenbf_v1 не знал, попробую у себя.</div></div>
</div>
<div class="tm-sidebar"><div class="tm-ad">Реклама. Вакансии Go-разработчиков в финтехе. Зарплата от 400 000 ₽.</div><div class="tm-similar">Похожие публикации: <a href="/a/1">ClickHouse для аналитики</a></div></div>
</div>
<footer class="tm-footer">Ваш аккаунт · Разделы · Информация · Услуги. © 2006–2026 «Хабр-клуб»</footer>
</body></html>
"""))

# 6. English news page with JSON-LD, a consent dialog and ad slots.
PAGES.append(("en-news.html", "utf-8", f"""<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<title>Port of Rotterdam trials hydrogen-powered cranes - Harbour Times</title>
<meta name="description" content="The port is testing two hydrogen cranes as it cuts diesel use.">
<script type="application/ld+json">{{"@context":"https://schema.org","@type":"NewsArticle","headline":"Port of Rotterdam trials hydrogen-powered cranes","datePublished":"2026-01-19T06:45:00Z","publisher":{{"@type":"Organization","name":"Harbour Times"}}}}</script>
</head>
<body>
<div id="consent-dialog" class="gdpr-consent">We value your privacy. We and our 812 partners store and access information on your device. Accept all / Manage options</div>
<header><nav><a href="/world">World</a> <a href="/business">Business</a> <a href="/climate">Climate</a> <a href="/opinion">Opinion</a></nav></header>
<div class="ad-slot" id="div-gpt-ad-top">Advertisement</div>
<main id="main-content">
<article>
<h1>Port of Rotterdam trials hydrogen-powered cranes</h1>
<p class="dateline">19 January 2026</p>
{paras([
"Europe's largest port has begun testing two container cranes powered by hydrogen fuel cells, part of a plan to cut diesel use on its terminals by half before the end of the decade.",
"The cranes, built by a Finnish manufacturer, refuel in about fifteen minutes and can run a full eight hour shift. Port engineers will compare their uptime and running costs with the diesel units they replace over the next twelve months.",
"Hydrogen for the trial comes from an electrolyser at the edge of the Maasvlakte area that runs on power from offshore wind farms. The port authority says the same supply could serve trucks and barges if the trial succeeds.",
"Critics point out that green hydrogen remains several times more expensive than diesel, and that battery-electric cranes already work well at smaller terminals. The port answers that its largest machines need more energy than batteries can currently store.",
])}
</article>
<section class="most-read"><h2>Most read</h2><ol><li><a href="/a/1">Markets slide as oil jumps</a></li><li><a href="/a/2">Ten best winter walks</a></li></ol></section>
<div class="ad-slot">Advertisement — Holidays in Portugal from £199</div>
</main>
<footer>Harbour Times © 2026 · Terms · Cookies · Contact us</footer>
</body></html>
"""))

# 7. Russian government press release, UTF-8, heavy navigation.
PAGES.append(("ru-gov-press.html", "utf-8", f"""<!DOCTYPE html>
<html lang="ru">
<head>
<meta charset="utf-8">
<title>Минцифры утвердило требования к отечественным облачным платформам</title>
<meta name="description" content="Приказ вступает в силу с 1 сентября 2026 года.">
<meta name="date" content="2026-05-30">
</head>
<body>
<div class="gov-top">Официальный сайт Министерства цифрового развития. <a href="/eng">English</a> <a href="/vision">Версия для слабовидящих</a></div>
<nav class="gov-menu"><ul><li><a href="/ministry">О министерстве</a></li><li><a href="/activity">Деятельность</a></li><li><a href="/documents">Документы</a></li><li><a href="/press">Пресс-центр</a></li><li><a href="/appeals">Обращения граждан</a></li><li><a href="/opendata">Открытые данные</a></li></ul></nav>
<div class="breadcrumbs">Главная → Пресс-центр → Новости</div>
<div class="press-release">
<h1>Минцифры утвердило требования к отечественным облачным платформам</h1>
<div class="press-date">30 мая 2026</div>
{paras([
"Министерство цифрового развития утвердило требования к облачным платформам, которые могут использоваться для размещения государственных информационных систем. Соответствующий приказ опубликован на портале правовой информации.",
"Платформы должны размещаться в центрах обработки данных на территории России, иметь аттестат соответствия требованиям защиты информации и обеспечивать доступность сервисов не ниже 99,95 процента в год.",
"Отдельный раздел документа посвящён переносимости: заказчик должен иметь возможность выгрузить свои данные и образы виртуальных машин в открытых форматах и перенести их к другому поставщику без потери функциональности.",
"Приказ вступает в силу с 1 сентября 2026 года. Для уже работающих систем предусмотрен переходный период в двенадцать месяцев.",
])}
</div>
<div class="related-docs"><b>Документы:</b> <a href="/docs/1.pdf">Приказ № 512 (PDF, 1,2 МБ)</a></div>
<div class="feedback-widget">Была ли информация полезной? Да / Нет</div>
<footer class="gov-footer">© Минцифры России, 2026. Адрес: Москва, Пресненская наб., 10. Телефон справочной службы.</footer>
</body></html>
"""))

# 8. Popular science site, windows-1251, comments, "subscribe" popup.
PAGES.append(("ru-science-cp1251.html", "windows-1251", f"""<!DOCTYPE html>
<html lang="ru">
<head>
<meta charset="windows-1251">
<title>Байкальские нерпы научились нырять глубже из-за потепления - Природа и люди</title>
<meta property="og:title" content="Байкальские нерпы научились нырять глубже из-за потепления">
<meta property="og:site_name" content="Природа и люди">
<meta property="article:published_time" content="2026-06-02T07:00:00+08:00">
</head>
<body>
<div class="popup-subscribe">Подпишитесь на нашу рассылку и получайте лучшие статьи недели! <a href="#">Подписаться</a> <a href="#">Закрыть</a></div>
<div class="menu"><a href="/">Главная</a> <a href="/animals/">Животные</a> <a href="/plants/">Растения</a> <a href="/space/">Космос</a> <a href="/quiz/">Тесты</a></div>
<div class="wrapper">
<div class="post-content">
<h1>Байкальские нерпы научились нырять глубже из-за потепления</h1>
<span class="post-date">2 июня 2026</span>
{paras([
"Биологи Лимнологического института СО РАН обнаружили, что байкальские нерпы стали нырять в среднем на двадцать метров глубже, чем десять лет назад. К такому выводу учёные пришли, проанализировав данные датчиков, закреплённых на сорока животных.",
"По мнению исследователей, причина в изменении поведения рыбы. Из-за потепления верхние слои воды летом прогреваются сильнее, и голомянка — основной корм нерпы — держится глубже.",
"Нерпа способна задерживать дыхание до семидесяти минут, но обычно её погружения длятся не больше двадцати. Более глубокие нырки требуют больше энергии, и учёные опасаются, что это может сказаться на упитанности молодых животных.",
"Наблюдения продолжатся следующим летом: на животных установят датчики нового поколения, которые записывают ещё и температуру воды на глубине.",
])}
</div>
<div class="sidebar"><div class="yandex-direct ads">Яндекс.Директ: Туры на Байкал от 25 000 рублей! Горящие путёвки.</div></div>
<div class="comments"><h4>Комментарии</h4>
<div class="comment-item">Ирина: Бедные нерпочки, надо беречь Байкал!</div>
<div class="comment-item">Сибиряк: Видел нерп на Ушканьих островах, очень милые.</div>
</div>
</div>
<div class="bottom">© «Природа и люди», 2010–2026. Все материалы защищены авторским правом.</div>
</body></html>
"""))

def main():
    os.makedirs(OUT, exist_ok=True)
    for name, enc, text in PAGES:
        with open(os.path.join(OUT, name), "wb") as f:
            if enc == "koi8-r":
                text = text.replace("\u2014", "-")  # koi8-r has no em dash
            f.write(text.encode(enc))

if __name__ == "__main__":
    main()
