package local

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/ai"
)

// TestFailureKinds covers each failure kind of keyphrase-v1 (issue 16) with
// real sentences: the tags must include want and no tag may equal any of
// notWant (compared ignoring case).
func TestFailureKinds(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []string
		notWant []string
	}{
		{
			name:    "name kept whole, not glued to the country before it",
			text:    "Президент Турции Реджеп Эрдоган заявил, что Анкара готова к переговорам. Реджеп Эрдоган провел встречу с послами.",
			want:    []string{"Реджеп Эрдоган"},
			notWant: []string{"Турции Реджеп Эрдоган", "Турции Реджеп", "Реджеп", "Эрдоган"},
		},
		{
			name:    "lower-case word glued in front of a name",
			text:    "Песню посвятили самому Владимиру Путину. Поэт прочел стихи, среди гостей был в том числе Виталий Кальпиди.",
			want:    []string{"Владимиру Путину", "Виталий Кальпиди"},
			notWant: []string{"самому Владимиру Путину", "числе Виталий Кальпиди"},
		},
		{
			name:    "a name never split",
			text:    "Турецко-иранский бизнесмен Реза Зарраб дал показания в суде Нью-Йорка. Адвокаты Реза Зарраб не комментируют.",
			want:    []string{"Реза Зарраб"},
			notWant: []string{"Реза", "Зарраб", "бизнесмен Реза Зарраб"},
		},
		{
			name:    "acronym next to a name is two tags",
			text:    "Президент США Джо Байден помиловал сына. Джо Байден объяснил решение.",
			want:    []string{"Джо Байден"},
			notWant: []string{"США Джо Байден", "США Джо"},
		},
		{
			name:    "a Latin name with an acronym inside is one name",
			text:    "Метод разработали ученые из лаборатории T-Bank AI Research совместно со студентами МИСИС и МФТИ.",
			want:    []string{"T-Bank AI Research"},
			notWant: []string{"T-Bank AI", "Research", "AI Research"},
		},
		{
			name:    "English name after a lower-case word",
			text:    "A keynote by engineer Russ Cox on testing in Go. Russ Cox shared twenty tips.",
			want:    []string{"Russ Cox"},
			notWant: []string{"engineer Russ Cox"},
		},
		{
			name:    "English name at a sentence start",
			text:    "Thorsten Ball, автор книги о интерпретаторах, размышляет о том, что Go оказался подходящим языком. Thorsten Ball добавил go.mod в 2020 году.",
			want:    []string{"Thorsten Ball"},
			notWant: []string{"Ball", "Thorsten"},
		},
		{
			name:    "words joined by a slash are one word",
			text:    "Статья о новом пакете math/rand/v2 в Go 1.22 и о протоколе HTTP/2. Пакет math/rand/v2 первый v2 в стандартной библиотеке.",
			want:    []string{"math/rand/v2"},
			notWant: []string{"math", "rand"},
		},
		{
			name:    "base form: the stem as a prefix of the genitive",
			text:    "Нефть из Ирана подорожала. Поставки из Ирана выросли, санкции против Ирана не помогли.",
			want:    []string{"Иран"},
			notWant: []string{"Ирана"},
		},
		{
			name:    "a name's stem shown as the name, not as the adjective or the people",
			text:    "Минфин оценил российских экспортеров. Россияне покупают меньше. Экспорт из России вырос, российском рынке тесно, россиян стало больше.",
			want:    []string{"России"},
			notWant: []string{"российских", "российском", "российск", "россиян", "Россияне"},
		},
		{
			name:    "a phrase counted over its inflections",
			text:    "Центральный банк снизил ставку. Решение Центрального банка удивило рынок. Глава Центрального банка выступит завтра, аналитики ждали от Центрального банка паузы.",
			want:    []string{"Центральный банк"},
			notWant: []string{"Центрального банка"},
		},
		{
			name:    "base form: the nominative occurs in the text",
			text:    "В Москве открыли станцию. Москва строит метро быстрее всех, заявили в мэрии Москвы.",
			want:    []string{"Москва"},
			notWant: []string{"Москве", "Москвы"},
		},
		{
			name:    "masculine past verbs are not tags",
			text:    "Явка составила 60 процентов. Ученые нашли способ замедлить старение. Разработчик Яндекса создал робота, который побил мировой рекорд.",
			notWant: []string{"явка составила", "ученые нашли способ", "Разработчик Яндекса создал", "побил мировой рекорд", "создал", "побил"},
		},
		{
			name:    "reflexive verbs, participles and adverbs",
			text:    "Маск согласился на бой. Мы периодически проводим акции для подписчиков, регулирующим органам это понравилось. Производство успешно запустилось.",
			notWant: []string{"Маск согласился", "согласился", "периодически проводим акции", "регулирующим органам", "успешно", "понравилось"},
		},
		{
			name:    "numbers and dates alone",
			text:    "11-й раз в истории 38-летний Рафаэль Надаль проиграл 19 ноября 2024 года в Малаге.",
			want:    []string{"Рафаэль Надаль"},
			notWant: []string{"11-й", "38-летний", "19", "2024", "11-й раз"},
		},
		{
			name:    "pronoun-led phrases",
			text:    "Наш новый курс по Kubernetes стартует. Свою карьеру в DevOps можно начать с него. Этот курс для инженеров.",
			want:    []string{"Kubernetes"},
			notWant: []string{"Наш новый курс", "Свою карьеру", "Этот курс"},
		},
	}
	tagger := NewTagger()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tagger.Tag(t.Context(), ai.TagRequest{Text: tt.text, MaxTags: 5})
			if err != nil {
				t.Fatal(err)
			}
			res := ai.ValidateTags(resp.Raw, tt.text, 5)
			if len(res.Rejected) > 0 {
				t.Fatalf("validator rejected %v of %s", res.Rejected, resp.Raw)
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(res.Tags, func(s string) bool { return strings.EqualFold(s, w) }) {
					t.Errorf("tags %q lack %q", res.Tags, w)
				}
			}
			for _, nw := range tt.notWant {
				if slices.ContainsFunc(res.Tags, func(s string) bool { return strings.EqualFold(s, nw) }) {
					t.Errorf("tags %q contain %q", res.Tags, nw)
				}
			}
		})
	}
}

// TestOutletWeightedDown: an acronym the post names as the medium a source
// spoke to («рассказал RT», «в беседе с RT») ranks lower than the same
// acronym as a topic of the same text.
func TestOutletWeightedDown(t *testing.T) {
	const (
		asOutlet = "Минфин готовит новые правила для криптовалюты. «Рынок ждёт ясности», — рассказал %s аналитик Иван Петров. В беседе с %s он добавил, что правила примут осенью."
		asTopic  = "Минфин готовит новые правила для криптовалюты. «Рынок ждёт ясности», — пишут %s и аналитик Иван Петров. Издание %s и он добавили, что правила примут осенью."
	)
	tagger := NewTagger()
	rank := func(format, name string) int {
		tags := tagger.Extract(fmt.Sprintf(format, name, name), 20)
		i := slices.Index(tags, name)
		if i < 0 {
			t.Fatalf("%q not among %q", name, tags)
		}
		return i
	}
	for _, name := range []string{"RT", "ТАСС"} {
		if o, tp := rank(asOutlet, name), rank(asTopic, name); o <= tp {
			t.Errorf("%s ranks %d as the outlet, %d as a topic: want lower as the outlet", name, o, tp)
		}
	}
}
