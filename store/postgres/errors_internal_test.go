package postgres

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestIsUnavailable: outages and a schema lacking a table or column are
// unavailable (the runner pauses); data errors and anything else are not.
func TestIsUnavailable(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return fmt.Errorf("upsert: %w", &pgconn.PgError{Code: code}) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection failure 08006", pg("08006"), true},
		{"cannot connect now 57P03", pg("57P03"), true},
		{"admin shutdown 57P01", pg("57P01"), true},
		{"crash shutdown 57P02", pg("57P02"), true},
		{"too many connections 53300", pg("53300"), true},
		{"undefined table 42P01", pg("42P01"), true},
		{"undefined column 42703", pg("42703"), true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		// Issue 21: what a database refusing connections, a failover and a
		// server short of resources answer.
		{"not accepting connections 55000", pg("55000"), true},
		{"object in use 55006", pg("55006"), true},
		{"lock not available 55P03", pg("55P03"), true},
		{"read-only transaction 25006 after a failover", pg("25006"), true},
		{"disk full 53100", pg("53100"), true},
		{"out of memory 53200", pg("53200"), true},
		{"database dropped 57P04", pg("57P04"), true},
		{"idle session timeout 57P05", pg("57P05"), true},
		{"statement timeout 57014", pg("57014"), true},
		{"io error 58030", pg("58030"), true},
		{"invalid schema 3F000", pg("3F000"), true},
		{"conn closed", fmt.Errorf("commit: %w", pgconn.ErrConnClosed), true},
		{"unexpected EOF", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), true},
		{"tls handshake", fmt.Errorf("tls: %w", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), true},
		{"tls certificate", fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}), true},
		{"tls alert", fmt.Errorf("tls: %w", tls.AlertError(40)), true},
		{"serialization failure 40001", pg("40001"), false},
		{"data exception 22001", pg("22001"), false},
		{"unique violation 23505", pg("23505"), false},
		{"program limit 54000", pg("54000"), false},
		{"syntax error 42601", pg("42601"), false},
		{"context cancelled", context.Canceled, false},
		{"deadline exceeded on a call", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"plain error", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := IsUnavailable(tt.err); got != tt.want {
				t.Errorf("IsUnavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestErrorClassification: a SQLSTATE of class 22, 23 or 54 is the rows'
// own fault (permanent for the entry at fault, found by WriteSplitting); an
// outage is Unavailable (the runner pauses) and never a data error, so it
// never starts a split; anything else is neither (a transient retry).
func TestErrorClassification(t *testing.T) {
	t.Parallel()
	pg := func(code string) error {
		return fmt.Errorf("upsert 3 posts: %w", &pgconn.PgError{Code: code, Message: "refused"})
	}
	const (
		data    = "data"
		outage  = "outage"
		neither = "neither"
	)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"string data right truncation 22001", pg("22001"), data},
		{"invalid text representation 22P02", pg("22P02"), data},
		{"untranslatable character 22P05", pg("22P05"), data},
		{"not null violation 23502", pg("23502"), data},
		{"unique violation 23505", pg("23505"), data},
		{"check violation 23514", pg("23514"), data},
		{"program limit exceeded 54000 (index row size)", pg("54000"), data},
		{"statement too complex 54001", pg("54001"), data},
		{"too many columns 54011", pg("54011"), data},
		{"connection exception 08000", pg("08000"), outage},
		{"connection failure 08006", pg("08006"), outage},
		{"admin shutdown 57P01", pg("57P01"), outage},
		{"cannot connect now 57P03", pg("57P03"), outage},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, outage},
		{"connect error", &pgconn.ConnectError{}, outage},
		{"serialization failure 40001", pg("40001"), neither},
		{"deadlock 40P01", pg("40P01"), neither},
		{"query canceled 57014 (statement_timeout)", pg("57014"), outage},
		{"lock timeout 55P03", pg("55P03"), outage},
		{"read only 25006", pg("25006"), outage},
		{"disk full 53100", pg("53100"), outage},

		{"syntax error 42601", pg("42601"), neither},
		{"context cancelled", context.Canceled, neither},
		{"plain error", errors.New("boom"), neither},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			isData, isOutage := IsDataError(tt.err), IsUnavailable(tt.err)
			got := neither
			switch {
			case isData && isOutage:
				t.Fatalf("%v is both a data error and an outage", tt.err)
			case isData:
				got = data
			case isOutage:
				got = outage
			}
			if got != tt.want {
				t.Errorf("%v classified %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}
