package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLState returns the SQLSTATE of the PostgreSQL error err wraps, or "" when
// err did not come from the server.
func SQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// Refused is one item of a batch that PostgreSQL refused for its own data
// (IsDataError) when written alone.
type Refused struct {
	// Index is the item's position in the batch.
	Index int
	// Err is the error of writing the item alone; it names the SQLSTATE.
	Err error
}

// SplitResult is what WriteSplitting did.
type SplitResult struct {
	// Refused are the items PostgreSQL refused, in batch order.
	Refused []Refused
	// Writes counts the calls of write (each one statement or transaction).
	Writes int
}

// WriteSplitting writes the n items of a batch with write(ctx, lo, hi),
// which must write items [lo, hi) in one statement or transaction that
// either stores all of them or none, and be idempotent.
//
// When PostgreSQL refuses the batch for its data (IsDataError: an invalid
// value, a violated constraint, a key over the index row limit), no retry of
// that batch can ever succeed, yet only some items are at fault. The batch
// is then bisected: each refused range is split in two and the halves are
// written separately, down to single items, so that the items at fault end
// up in Refused and every other item is stored. For k refused items in a
// batch of n this costs O(k log n) writes; a batch of 64 with one refused
// item costs at most 1 + 2·log2(64) = 13.
//
// Any other error (an outage, a timeout, a deadlock) says nothing about
// which item is at fault: WriteSplitting stops and returns it, so the caller
// retries the whole batch (what was written is idempotent) or pauses.
func WriteSplitting(ctx context.Context, n int, write func(ctx context.Context, lo, hi int) error) (SplitResult, error) {
	var res SplitResult
	if n <= 0 {
		return res, nil
	}
	try := func(lo, hi int) (refused bool, err error) {
		res.Writes++
		err = write(ctx, lo, hi)
		switch {
		case err == nil:
			return false, nil
		case !IsDataError(err):
			return false, err
		case hi-lo == 1:
			res.Refused = append(res.Refused, Refused{Index: lo, Err: err})
		}
		return true, nil
	}
	// split handles [lo, hi), which has been written and refused as a
	// whole, so hi-lo >= 2.
	var split func(lo, hi int) error
	split = func(lo, hi int) error {
		mid := lo + (hi-lo)/2
		leftRefused, err := try(lo, mid)
		if err != nil {
			return err
		}
		if leftRefused && mid-lo > 1 {
			if err := split(lo, mid); err != nil {
				return err
			}
		}
		if !leftRefused && hi-mid > 1 {
			// The left half went in, so what the whole range was refused
			// for lies in the right half: writing it whole again would
			// only be refused again.
			return split(mid, hi)
		}
		rightRefused, err := try(mid, hi)
		if err != nil {
			return err
		}
		if rightRefused && hi-mid > 1 {
			return split(mid, hi)
		}
		return nil
	}
	refused, err := try(0, n)
	if err != nil || !refused || n == 1 {
		return res, err
	}
	return res, split(0, n)
}
