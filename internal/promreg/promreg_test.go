package promreg_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/assistant-dev/assistant/internal/promreg"
)

func newCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "things_total", Help: "Things."}, []string{"kind"})
}

// TestSecondRegistrationWritesLiveSeries: the collector a second
// registration hands back is the registered one, so what the second owner
// counts is what a scrape of the registry shows.
func TestSecondRegistrationWritesLiveSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := promreg.Register(reg, newCounter())
	if err != nil {
		t.Fatal(err)
	}
	second := newCounter()
	if err := promreg.Into(reg, &second); err != nil {
		t.Fatalf("second registration: %v", err)
	}
	first.WithLabelValues("a").Inc()
	second.WithLabelValues("a").Add(2)
	second.WithLabelValues("b").Inc()
	want := `
# HELP things_total Things.
# TYPE things_total counter
things_total{kind="a"} 3
things_total{kind="b"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "things_total"); err != nil {
		t.Fatalf("the second owner's series are not the scraped ones: %v", err)
	}
}

// TestConflictingRegistrationFails: a name registered with other labels is
// a programming error and is reported, not papered over.
func TestConflictingRegistrationFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := promreg.Register(reg, newCounter()); err != nil {
		t.Fatal(err)
	}
	other := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "things_total", Help: "Things."}, []string{"other"})
	err := promreg.Into(reg, &other)
	var are prometheus.AlreadyRegisteredError
	if err == nil || errors.As(err, &are) {
		t.Fatalf("conflicting registration: %v, want a descriptor error", err)
	}
}
