package ingest

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"
)

// progressInterval limits redraws: more often is flicker, and a syscall per
// post would cost more than reading it.
const progressInterval = 100 * time.Millisecond

// progress shows how far a run is. On a terminal it redraws one line in
// place (a bar over the file's bytes, posts, rate); elsewhere (a log file, a
// pipe, CI) in-place redraws are noise, so it prints only the summary line.
// A nil writer shows nothing.
type progress struct {
	w     io.Writer
	tty   bool
	drawn bool

	file      string
	size      int64
	counter   *countingReader
	fileStart time.Time
	postsAt   int // posts taken before this file, for the rate
	last      time.Time
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(interface{ Fd() uintptr }); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	return p
}

// startFile begins the bar of a file of size bytes (0 when unknown) read
// through counter.
func (p *progress) startFile(path string, size int64, counter *countingReader) {
	p.file, p.size, p.counter = filepath.Base(path), size, counter
	p.fileStart = time.Now()
	p.postsAt = -1
}

// tick redraws the line if enough time has passed; posts counts over the
// whole run.
func (p *progress) tick(posts, malformed int) {
	if p.w == nil || !p.tty {
		return
	}
	if p.postsAt < 0 {
		p.postsAt = posts - 1
	}
	now := time.Now()
	if now.Sub(p.last) < progressInterval {
		return
	}
	p.last = now
	var b strings.Builder
	b.WriteString("\r\x1b[K")
	if p.size > 0 {
		frac := min(float64(p.counter.n)/float64(p.size), 1)
		const width = 24
		filled := int(frac * width)
		fmt.Fprintf(&b, "[%s%s] %3.0f%% ", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100)
	}
	fmt.Fprintf(&b, "%s  %d posts", p.file, posts)
	if secs := now.Sub(p.fileStart).Seconds(); secs > 0 {
		fmt.Fprintf(&b, "  %.0f posts/s", float64(posts-p.postsAt)/secs)
	}
	if malformed > 0 {
		fmt.Fprintf(&b, "  %d malformed", malformed)
	}
	_, _ = io.WriteString(p.w, b.String())
	p.drawn = true
}

// clear erases the progress line so that a log line or the summary can take
// its place.
func (p *progress) clear() {
	if p.w == nil || !p.drawn {
		return
	}
	_, _ = io.WriteString(p.w, "\r\x1b[K")
	p.drawn = false
}

// finish replaces the progress line with the summary line.
func (p *progress) finish(sum Summary) {
	if p.w == nil {
		return
	}
	p.clear()
	_, _ = fmt.Fprintln(p.w, sum.String())
}
