package ai_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/pipeline"
)

// TestAPIErrorOutage: a provider's own trouble (429, 5xx, no answer, an
// open breaker, credentials or a model it refuses) is an outage the runner
// pauses for; a request it refuses for its content is the entry's (issue 21).
func TestAPIErrorOutage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *ai.APIError
		want bool
	}{
		{"429 with Retry-After", &ai.APIError{Status: 429, Temporary: true}, true},
		{"500", &ai.APIError{Status: 500, Temporary: true}, true},
		{"503", &ai.APIError{Status: 503, Temporary: true}, true},
		{"408", &ai.APIError{Status: 408, Temporary: true}, true},
		{"connection refused", &ai.APIError{Temporary: true, Err: errors.New("dial tcp: connection refused")}, true},
		{"certificate not trusted", &ai.APIError{Temporary: false, Err: errors.New("x509: unknown authority")}, true},
		{"circuit open", &ai.APIError{Temporary: true, Err: ai.ErrCircuitOpen}, true},
		{"401 token expired", &ai.APIError{Status: 401}, true},
		{"403", &ai.APIError{Status: 403}, true},
		{"404 model not found", &ai.APIError{Status: 404}, true},
		{"400 bad request", &ai.APIError{Status: 400}, false},
		{"413 too large", &ai.APIError{Status: 413}, false},
		{"422 unprocessable", &ai.APIError{Status: 422}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.err.Outage(); got != tt.want {
				t.Errorf("Outage() = %v, want %v", got, tt.want)
			}
			wrapped := fmt.Errorf("tag post 1: %w", tt.err)
			if got := pipeline.IsUnavailable(wrapped); got != tt.want {
				t.Errorf("pipeline.IsUnavailable = %v, want %v", got, tt.want)
			}
		})
	}
}
