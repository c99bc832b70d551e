package legacy

import (
	"fmt"
	"io"
	"time"

	"golang.org/x/term"
)

// progress shows how far an import is: on a terminal one line redrawn in
// place (posts of the pending total, percent, rate); elsewhere only the
// summary line, since redraws are noise in a log file.
type progress struct {
	w       io.Writer
	tty     bool
	drawn   bool
	total   int64
	started time.Time
	last    time.Time
}

func newProgress(w io.Writer, total int64) *progress {
	p := &progress{w: w, total: total, started: time.Now()}
	if f, ok := w.(interface{ Fd() uintptr }); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	return p
}

func (p *progress) tick(done int) {
	if p.w == nil || !p.tty || time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	pct := 100.0
	if p.total > 0 {
		pct = min(100, 100*float64(done)/float64(p.total))
	}
	rate := float64(done) / max(time.Since(p.started).Seconds(), 1e-3)
	fmt.Fprintf(p.w, "\r\x1b[Kimport legacy: %d of %d posts (%.0f%%)  %.0f posts/s", done, p.total, pct, rate)
	p.drawn = true
}

// finish replaces the progress line with the summary line (and says where
// the run stopped when it failed).
func (p *progress) finish(sum Summary, err error) {
	if p.w == nil {
		return
	}
	if p.drawn {
		_, _ = io.WriteString(p.w, "\r\x1b[K")
	}
	line := sum.String()
	if err != nil {
		line += "; stopped early, run again to resume"
	}
	_, _ = fmt.Fprintln(p.w, line)
}
