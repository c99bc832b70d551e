package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// fakeWriter refuses every range that holds a bad item, as PostgreSQL
// refuses a whole multi-row statement for one bad row, and records the
// ranges it stored.
type fakeWriter struct {
	bad     map[int]bool
	stored  []int
	failAt  int // the write number that fails with an outage (0: none)
	writes  int
	outage  error
	refusal func(i int) error
}

func (f *fakeWriter) write(_ context.Context, lo, hi int) error {
	f.writes++
	if f.writes == f.failAt {
		return f.outage
	}
	for i := lo; i < hi; i++ {
		if f.bad[i] {
			return f.refusal(i)
		}
	}
	for i := lo; i < hi; i++ {
		f.stored = append(f.stored, i)
	}
	return nil
}

func refusedAt(code string) func(int) error {
	return func(i int) error {
		return fmt.Errorf("upsert: %w", &pgconn.PgError{Code: code, Message: fmt.Sprintf("row %d refused", i)})
	}
}

// TestWriteSplitting: the items at fault, and only they, are refused;
// every other item is stored exactly once; the number of writes stays
// within 1 + 2·k·log2(n).
func TestWriteSplitting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		n    int
		bad  []int
		code string
	}{
		{"no bad item", 64, nil, "54000"},
		{"one item alone", 1, []int{0}, "23505"},
		{"first of 64", 64, []int{0}, "54000"},
		{"middle of 64", 64, []int{31}, "54000"},
		{"last of 64", 64, []int{63}, "54000"},
		{"two adjacent of 64", 64, []int{20, 21}, "22001"},
		{"three spread over 100", 100, []int{0, 50, 99}, "23514"},
		{"all of 5", 5, []int{0, 1, 2, 3, 4}, "22P02"},
		{"odd size 7", 7, []int{3}, "54000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeWriter{bad: map[int]bool{}, refusal: refusedAt(tt.code)}
			for _, i := range tt.bad {
				f.bad[i] = true
			}
			res, err := WriteSplitting(context.Background(), tt.n, f.write)
			if err != nil {
				t.Fatalf("WriteSplitting: %v", err)
			}
			var refused []int
			for _, r := range res.Refused {
				refused = append(refused, r.Index)
				if SQLState(r.Err) != tt.code {
					t.Errorf("item %d refused with %v, want SQLSTATE %s", r.Index, r.Err, tt.code)
				}
			}
			if !slices.Equal(refused, tt.bad) {
				t.Errorf("refused %v, want %v", refused, tt.bad)
			}
			slices.Sort(f.stored)
			var want []int
			for i := range tt.n {
				if !f.bad[i] {
					want = append(want, i)
				}
			}
			if !slices.Equal(f.stored, want) {
				t.Errorf("stored %v, want %v", f.stored, want)
			}
			limit := 1
			if k := len(tt.bad); k > 0 {
				limit += 2 * k * bits.Len(uint(tt.n-1))
			}
			if res.Writes != f.writes || res.Writes > limit {
				t.Errorf("%d writes (reported %d), want at most %d", f.writes, res.Writes, limit)
			}
			t.Logf("n=%d bad=%v: %d writes", tt.n, tt.bad, res.Writes)
		})
	}
}

// TestWriteSplittingStopsOnOtherErrors: an outage or any error that is not
// the data's fault, on the first write or in the middle of a split, is
// returned as it is and nothing is reported refused on its account.
func TestWriteSplittingStopsOnOtherErrors(t *testing.T) {
	t.Parallel()
	outage := fmt.Errorf("upsert: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"})
	for _, failAt := range []int{1, 2, 5} {
		t.Run(fmt.Sprint("write ", failAt), func(t *testing.T) {
			t.Parallel()
			f := &fakeWriter{bad: map[int]bool{40: true}, failAt: failAt, outage: outage, refusal: refusedAt("54000")}
			res, err := WriteSplitting(context.Background(), 64, f.write)
			if !errors.Is(err, outage) {
				t.Fatalf("err = %v, want the outage", err)
			}
			if len(res.Refused) != 0 {
				t.Errorf("refused %v during an outage", res.Refused)
			}
			if res.Writes != failAt {
				t.Errorf("%d writes, want %d (stop at the outage)", res.Writes, failAt)
			}
		})
	}
}
