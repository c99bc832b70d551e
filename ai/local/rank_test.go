package local

import (
	"context"
	"math"
	"strings"
	"testing"
)

func TestKeyphrasenessSmoothing(t *testing.T) {
	counts := map[string]kpCount{
		"америк":      {cand: 100, kw: 0},  // never picked
		"украин":      {cand: 100, kw: 50}, // picked half the time
		"редк":        {cand: 3, kw: 3},    // too few to count
		"стран":       {cand: 10, kw: 1},   // at the base rate
		"донал трамп": {cand: 20, kw: 15},
	}
	k := newKeyphraseness(counts, 1000, 100) // base rate 0.1
	if v := k.logRatio["америк"]; v >= -1 {
		t.Errorf("never-picked phrase: log ratio %.3f, want < -1", v)
	}
	if v := k.logRatio["украин"]; v <= 1 {
		t.Errorf("half-picked phrase: log ratio %.3f, want > 1", v)
	}
	if _, ok := k.logRatio["редк"]; ok {
		t.Error("a phrase seen in fewer than kpMinCandidate articles is in the table")
	}
	if v := k.logRatio["стран"]; math.Abs(v) > 1e-9 {
		t.Errorf("phrase at the base rate: log ratio %.3f, want 0", v)
	}
	// Round trip through the file format.
	parsed, err := parseKeyphraseness(formatKeyphraseness(counts, 1000, 100))
	if err != nil {
		t.Fatal(err)
	}
	if len(parsed.logRatio) != len(k.logRatio) {
		t.Fatalf("parsed %d phrases, want %d", len(parsed.logRatio), len(k.logRatio))
	}
	for key, v := range k.logRatio {
		if math.Abs(parsed.logRatio[key]-v) > 1e-12 {
			t.Errorf("%q: parsed %.4f, want %.4f", key, parsed.logRatio[key], v)
		}
	}
	for _, bad := range []string{"", "росс\t3\t1\n", "total 10 x\n", "total 10 1\nросс\t3\n", "total 10 1\nросс\t3\t4\n", "total 10 1\nросс\tx\t1\n"} {
		if _, err := parseKeyphraseness(bad); err == nil {
			t.Errorf("parseKeyphraseness(%q) accepted", bad)
		}
	}
}

// TestEmbeddedKeyphraseness checks the committed table: it parses, it
// holds enough phrases, and it tells a phrase editors pick («Украина»)
// from one they do not («Америка»).
func TestEmbeddedKeyphraseness(t *testing.T) {
	k := loadKeyphraseness()
	if len(k.logRatio) < 1000 {
		t.Fatalf("embedded table: %d phrases, want ≥ 1,000", len(k.logRatio))
	}
	if k.logRatio["америк"] >= 0 || k.logRatio["украин"] <= 0 {
		t.Errorf("америк %.2f, украин %.2f: want below and above 0", k.logRatio["америк"], k.logRatio["украин"])
	}
	if !strings.Contains(keyphrasenessData, "ru_kw_eval_datasets") {
		t.Error("the table lost its source header")
	}
}

// TestFeaturesKeyphraseness: a phrase below the base rate is weighted down
// whatever it is; one above it is weighted up only as a name («Украина»),
// not as a common word («книги»), which editors of one outlet pick for
// their own sections.
func TestFeaturesKeyphraseness(t *testing.T) {
	tg := NewTagger(WithoutChannelStats())
	tg.kp = &keyphraseness{logRatio: map[string]float64{"украин": 1.5, "книг": 1.5, "америк": -2}}
	text := "Поставки на Украину\nАмерика обещает Украине новые книги и поставки книг по истории."
	_, order := tg.candidates(context.Background(), "", text)
	want := map[string][numFeatures]float64{
		"\x00украин": {fKPPos: 1.5},
		"\x00книг":   {},
		"\x00америк": {fKPNeg: -2},
	}
	found := 0
	for _, c := range order {
		w, ok := want[c.key]
		if !ok {
			continue
		}
		found++
		if c.feat[fKPNeg] != w[fKPNeg] || c.feat[fKPPos] != w[fKPPos] {
			t.Errorf("%q: fKPNeg %.2f fKPPos %.2f, want %.2f %.2f", c.key, c.feat[fKPNeg], c.feat[fKPPos], w[fKPNeg], w[fKPPos])
		}
		if c.feat[fScore] != math.Log(c.score) {
			t.Errorf("%q: fScore %.3f, want log of the hand-set score %.3f", c.key, c.feat[fScore], math.Log(c.score))
		}
	}
	if found != len(want) {
		t.Fatalf("found %d of the %d candidates", found, len(want))
	}
}

// TestRerank: the learned ranking moves a phrase editors rarely pick
// down from the first place the hand-set score alone gives it.
func TestRerank(t *testing.T) {
	text := "Америка и сталь\nАмерика ввела пошлины на сталь. Америка ждёт ответа Китая. Америка готова к переговорам."
	kp := &keyphraseness{logRatio: map[string]float64{"америк": -3}}
	hand := NewTagger(WithoutChannelStats())
	hand.kp = kp
	hand.weights = &[numFeatures]float64{fScore: 1}
	learned := NewTagger(WithoutChannelStats())
	learned.kp = kp
	learned.weights = &[numFeatures]float64{fScore: 1, fKPNeg: 1, fKPPos: 1}
	h, l := hand.Extract(text, 3), learned.Extract(text, 3)
	if len(h) == 0 || h[0] != "Америка" {
		t.Fatalf("hand-set order %q: want «Америка» first (the test needs it there)", h)
	}
	if len(l) == 0 || l[0] == "Америка" {
		t.Errorf("learned order %q: «Америка» still first", l)
	}
}
