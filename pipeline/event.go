package pipeline

import "github.com/assistant-dev/assistant/events"

// DecodeEvent is events.Decode with a failure marked Permanent: an entry
// whose data field does not decode will not decode on a retry either, so
// the runner dead-letters it at once instead of spending attempts.
func DecodeEvent(values map[string]any, ev events.Event) error {
	return Permanent(events.Decode(values, ev))
}
