package local

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
)

// semanticDocs is a small corpus with two topics that share no words
// between the query and the target but co-occur within the topic.
func semanticDocs() []string {
	var docs []string
	for i := 0; i < 300; i++ {
		switch i % 3 {
		case 0:
			docs = append(docs, fmt.Sprintf("биткоин криптовалюта подорожала биржа курс токены майнинг %d", i))
		case 1:
			docs = append(docs, fmt.Sprintf("ракета космодром запуск орбита спутник астронавты станция %d", i))
		default:
			docs = append(docs, fmt.Sprintf("футбол матч команда гол турнир болельщики стадион %d", i))
		}
	}
	// Distinct filler stems so the vocabulary exceeds the rank.
	for i := 0; i < 400; i++ {
		docs = append(docs, fmt.Sprintf("слово%[1]dа слово%[1]dб", i), fmt.Sprintf("слово%[1]dа слово%[1]dв", i))
	}
	return docs
}

func TestSemanticModelTrainsDeterministicallyAndRoundTrips(t *testing.T) {
	docs := semanticDocs()
	a, err := Train(docs, TrainOptions{Rank: 16})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Train(docs, TrainOptions{Rank: 16})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID {
		t.Fatalf("two trainings on the same posts differ: %s vs %s", a.ID, b.ID)
	}
	path := filepath.Join(t.TempDir(), "model.bin")
	if err := a.Save(path); err != nil {
		t.Fatal(err)
	}
	c, err := LoadSemanticModel(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != a.ID {
		t.Fatalf("loaded model id %s, saved %s", c.ID, a.ID)
	}
	if _, err := Train(docs[:10], TrainOptions{Rank: 16}); err == nil {
		t.Fatal("training on 10 posts for rank 16 succeeded")
	}
}

func TestSemanticModelRelatesCoOccurringWords(t *testing.T) {
	m, err := Train(semanticDocs(), TrainOptions{Rank: 16})
	if err != nil {
		t.Fatal(err)
	}
	cos := func(x, y []float64) float64 {
		var s float64
		for i := range x {
			s += x[i] * y[i]
		}
		return s
	}
	q := m.Vector("курс токенов на бирже")
	same, other := m.Vector("майнинг биткоина"), m.Vector("запуск ракеты")
	if cs, co := cos(q, same), cos(q, other); !(cs > 0.5 && cs > co+0.3) {
		t.Fatalf("cos(same topic) = %.3f, cos(other topic) = %.3f", cs, co)
	}
	e := NewEmbedder(64, WithSemanticModel(m, 0.6))
	if e.Model() != SemanticEmbedderModel+"-"+m.ID {
		t.Fatalf("model name %q", e.Model())
	}
	vs, err := e.Embed(t.Context(), []string{"курс токенов", ""})
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, x := range vs[0] {
		n += float64(x) * float64(x)
	}
	if math.Abs(n-1) > 1e-4 || len(vs[0]) != 64 {
		t.Fatalf("embedding of dim %d has squared norm %.5f", len(vs[0]), n)
	}
}
