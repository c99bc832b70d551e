package pipeline

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StreamID is a Redis stream entry id, <milliseconds>-<sequence>. It is the
// one parser of entry ids: trimming compares them, `streams` reads the age
// of the oldest pending entry from them, `dlq` validates the ids it is given.
type StreamID struct {
	Ms, Seq uint64
}

// ParseStreamID parses a full entry id; anything else (a range, "$", a bare
// number) is an error naming the expected form, so a typo cannot turn into
// a range.
func ParseStreamID(id string) (StreamID, error) {
	msPart, seqPart, ok := strings.Cut(id, "-")
	if ok {
		ms, err1 := strconv.ParseUint(msPart, 10, 64)
		seq, err2 := strconv.ParseUint(seqPart, 10, 64)
		if err1 == nil && err2 == nil {
			return StreamID{ms, seq}, nil
		}
	}
	return StreamID{}, fmt.Errorf("%q is not a stream entry id (want <ms>-<seq>, e.g. 1732880000000-0)", id)
}

// Less orders ids as Redis does.
func (a StreamID) Less(b StreamID) bool {
	return a.Ms < b.Ms || a.Ms == b.Ms && a.Seq < b.Seq
}

// Next is the smallest id above a.
func (a StreamID) Next() StreamID {
	if a.Seq == ^uint64(0) {
		return StreamID{a.Ms + 1, 0}
	}
	return StreamID{a.Ms, a.Seq + 1}
}

// Time is the moment Redis gave the entry its id (the XADD, for ids Redis
// generated).
func (a StreamID) Time() time.Time { return time.UnixMilli(int64(a.Ms)) }

func (a StreamID) String() string {
	return strconv.FormatUint(a.Ms, 10) + "-" + strconv.FormatUint(a.Seq, 10)
}
