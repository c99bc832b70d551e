package ingest_test

import (
	"context"
	"fmt"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/ingest"
)

func ExampleReadFile() {
	counts, err := ingest.ReadFile(context.Background(), "../testdata/ingest/result.json", ingest.FormatAuto,
		func(ev *events.PostParsed) error {
			fmt.Println(ev.ChannelID, ev.TGMessageID, ev.TelegramPostURL, ev.URLs)
			return nil
		},
		func(p ingest.Problem) { fmt.Println("problem:", p) })
	if err != nil {
		fmt.Println(err)
	}
	fmt.Printf("%d posts, %d skipped\n", counts.Posts, counts.Skipped())
	// Output:
	// -1001843271905 2 https://t.me/c/1843271905/2 []
	// -1001843271905 3 https://t.me/c/1843271905/3 [https://docs.python.org/3.13/whatsnew/3.13.html https://example.org/blog/python-3-13]
	// -1001843271905 4 https://t.me/c/1843271905/4 [https://science.nasa.gov/mission/webb/]
	// -1001843271905 6 https://t.me/c/1843271905/6 []
	// -1001843271905 7 https://t.me/c/1843271905/7 [https://ru.wikipedia.org/wiki/Go_(язык_программирования)]
	// -1001843271905 8 https://t.me/c/1843271905/8 []
	// -1001843271905 9 https://t.me/c/1843271905/9 [https://example.org/r?id=313 https://t.me/naukaikod_chat https://example.org/blog/python-3-13]
	// 7 posts, 4 skipped
}
