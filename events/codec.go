package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Encode renders an event as the values of one stream entry: a single data
// field with UTF-8 JSON, non-ASCII unescaped.
func Encode(ev Event) (map[string]any, error) {
	var b strings.Builder
	if fe, ok := ev.(fastEncoder); ok {
		if fe.encodeFast(&b) { // what encoding/json writes (fastencode.go)
			return map[string]any{DataField: b.String()}, nil
		}
		b.Reset()
	}
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, fmt.Errorf("encode %T: %w", ev, err)
	}
	return map[string]any{DataField: strings.TrimSuffix(b.String(), "\n")}, nil
}

// DecodeError is a permanent decoding failure; its message names the problem.
type DecodeError struct{ Reason string }

func (e *DecodeError) Error() string { return "undecodable entry: " + e.Reason }

// Decode fills ev from the values of a stream entry, accepting both the data
// form (a data field; other fields beside it are ignored) and the legacy
// flat-field form (no data field), and validates it. Every failure is a
// *DecodeError: retrying cannot fix it (the runner dead-letters it at once).
func Decode(values map[string]any, ev Event) error {
	// An entry with a data field is the data form, whatever fields sit
	// beside it: some producers copy post_id (or more) next to data for
	// XRANGE readability, and the event in data is the truth. Only an
	// entry without data is the legacy flat form.
	if raw, ok := values[DataField]; ok {
		s, isString := raw.(string)
		if !isString {
			return &DecodeError{Reason: fmt.Sprintf("field data is %T, not a string", raw)}
		}
		trimmed := strings.TrimSpace(s)
		if fd, ok := ev.(fastDecoder); ok && fd.decodeFast(trimmed) {
			// Valid UTF-8, decoded as encoding/json would have
			// (fastdecode.go).
		} else if !utf8.ValidString(s) {
			return &DecodeError{Reason: "data is not valid UTF-8"}
		} else if !strings.HasPrefix(trimmed, "{") {
			if json.Valid([]byte(trimmed)) {
				return &DecodeError{Reason: "data is JSON but not an object"}
			}
			return &DecodeError{Reason: "data is not JSON"}
		} else if err := json.Unmarshal([]byte(trimmed), ev); err != nil {
			// The old system's times (str(datetime), naive ISO) are not
			// RFC 3339: rewrite them and try once more before giving up.
			fixed, ok := normalizeTimes([]byte(trimmed), ev)
			if !ok || json.Unmarshal(fixed, ev) != nil {
				return &DecodeError{Reason: "data: " + describeJSONError(err, []byte(trimmed), ev)}
			}
		}
		env := ev.Env()
		if env.SchemaVersion != "" && env.SchemaVersion != SchemaV1 {
			return &DecodeError{Reason: fmt.Sprintf("unknown schema_version %q", env.SchemaVersion)}
		}
	} else if err := decodeFlat(values, ev); err != nil {
		return err
	}
	validate := ev.Validate
	if dv, ok := ev.(decodedValidator); ok {
		validate = dv.validateDecoded
	}
	if err := validate(); err != nil {
		return &DecodeError{Reason: err.Error()}
	}
	return nil
}

// decodedValidator is an event whose Validate re-checks what Decode has
// already checked (UTF-8); validateDecoded leaves that out.
type decodedValidator interface{ validateDecoded() error }

// describeJSONError names the field a decoding error is about. Errors such
// as a bad time carry no field name, so on that (rare, failing) path each
// field is decoded alone to find the culprit.
func describeJSONError(err error, data []byte, ev Event) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s has the wrong type (%s, want %s)", te.Field, te.Value, te.Type)
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) == nil {
		probe := reflect.New(reflect.TypeOf(ev).Elem()).Interface()
		for name, raw := range fields {
			one, _ := json.Marshal(map[string]json.RawMessage{name: raw})
			if ferr := json.Unmarshal(one, probe); ferr != nil {
				return fmt.Sprintf("field %s: %v", name, ferr)
			}
		}
	}
	return err.Error()
}

// decodeFlat reads the legacy flat form written by the old telethon-ingest:
// one stream field per event key, lists and objects JSON-encoded as strings,
// booleans as True/False, everything else stringified, no envelope.
func decodeFlat(values map[string]any, ev Event) error {
	obj := make(map[string]json.RawMessage, len(values))
	kinds := jsonFieldKinds(reflect.TypeOf(ev).Elem())
	for k, v := range values {
		s, ok := v.(string)
		if !ok {
			s = fmt.Sprint(v)
		}
		if !utf8.ValidString(s) {
			return &DecodeError{Reason: fmt.Sprintf("field %s is not valid UTF-8", k)}
		}
		kind, known := kinds[k]
		if !known {
			continue
		}
		raw, err := flatValue(s, kind)
		if err != nil {
			return &DecodeError{Reason: fmt.Sprintf("field %s: %v", k, err)}
		}
		if raw != nil {
			obj[k] = raw
		}
	}
	if len(obj) == 0 {
		return &DecodeError{Reason: "entry has neither a data field nor event fields"}
	}
	buf, err := json.Marshal(obj)
	if err != nil {
		return &DecodeError{Reason: err.Error()}
	}
	if err := json.Unmarshal(buf, ev); err != nil {
		return &DecodeError{Reason: describeJSONError(err, buf, ev)}
	}
	env := ev.Env()
	if env.SchemaVersion != "" && env.SchemaVersion != SchemaV1 {
		return &DecodeError{Reason: fmt.Sprintf("unknown schema_version %q", env.SchemaVersion)}
	}
	return nil
}

func flatValue(s string, kind reflect.Kind) (json.RawMessage, error) {
	switch kind {
	case reflect.String:
		b, _ := json.Marshal(s)
		return b, nil
	case kindTime:
		if s == "" || s == "None" {
			return nil, nil
		}
		t, err := ParseTime(s)
		if err != nil {
			return nil, err
		}
		b, _ := json.Marshal(t)
		return b, nil
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true", "1":
			return json.RawMessage("true"), nil
		case "false", "0", "", "none":
			return json.RawMessage("false"), nil
		}
		return nil, fmt.Errorf("%q is not a boolean", s)
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Float64:
		if s == "" || s == "None" {
			return nil, nil
		}
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return json.RawMessage(s), nil
	case reflect.Slice, reflect.Map, reflect.Struct:
		if s == "" || s == "None" {
			return nil, nil
		}
		if !json.Valid([]byte(s)) {
			return nil, fmt.Errorf("%q is not JSON", truncate(s, 40))
		}
		return json.RawMessage(s), nil
	}
	return nil, fmt.Errorf("unsupported kind %s", kind)
}

// kindTime marks a time.Time field in jsonFieldKinds: its flat value is a
// timestamp in any form ParseTime accepts.
const kindTime = reflect.Kind(1 << 10)

// jsonFieldKinds maps JSON keys of a struct (embedded structs flattened) to
// their kinds; time.Time fields are kindTime.
func jsonFieldKinds(t reflect.Type) map[string]reflect.Kind {
	out := map[string]reflect.Kind{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			for k, v := range jsonFieldKinds(f.Type) {
				out[k] = v
			}
			continue
		}
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		kind := f.Type.Kind()
		if f.Type == reflect.TypeOf(time.Time{}) {
			kind = kindTime
		}
		out[name] = kind
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// timeLayouts are the forms ParseTime accepts, tried in order.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00", // Python str(datetime), aware
	"2006-01-02T15:04:05.999999999",       // naive ISO (isoformat)
	"2006-01-02 15:04:05.999999999",       // naive str(datetime)
}

// ParseTime reads a timestamp as the old system's validator accepted it:
// RFC 3339 with a T or with a space between date and time (Python's
// str(datetime) writes "2024-12-04 09:00:28+00:00"), fractions of a second
// up to nanoseconds, Z or an offset; a time without a zone (a naive
// datetime) is taken as UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339, with T or a space, zone optional)", truncate(s, 40))
}

// normalizeTimes rewrites the time fields of a data-form object that
// ParseTime understands but encoding/json does not into RFC 3339; ok is
// false when there was nothing to rewrite.
func normalizeTimes(data []byte, ev Event) ([]byte, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil {
		return nil, false
	}
	changed := false
	for name, kind := range jsonFieldKinds(reflect.TypeOf(ev).Elem()) {
		raw, ok := obj[name]
		if kind != kindTime || !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
			continue
		}
		t, err := ParseTime(s)
		if err != nil {
			continue
		}
		obj[name], _ = json.Marshal(t)
		changed = true
	}
	if !changed {
		return nil, false
	}
	out, err := json.Marshal(obj)
	return out, err == nil
}
