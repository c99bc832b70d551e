package config

import (
	"fmt"
	"net/url"
	"reflect"

	"go.yaml.in/yaml/v3"
)

const redactedMark = "<redacted>"

// checkURL parses raw and requires one of the schemes.
func checkURL(raw string, schemes ...string) error {
	if raw == "" {
		return errEmptyURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return nil
		}
	}
	return fmt.Errorf("scheme %q is not one of %v", u.Scheme, schemes)
}

// Redacted returns a copy with every secret hidden: fields tagged
// secret:"true" are replaced, and passwords inside secret:"url" fields are
// masked while the rest of the URL stays readable.
func (c Config) Redacted() Config {
	rv := reflect.ValueOf(&c).Elem()
	redactValue(rv)
	return c
}

func redactValue(rv reflect.Value) {
	rt := rv.Type()
	for i := range rt.NumField() {
		f, fv := rt.Field(i), rv.Field(i)
		switch {
		case fv.Kind() == reflect.Struct:
			redactValue(fv)
		case fv.Kind() == reflect.String && fv.String() != "":
			switch f.Tag.Get("secret") {
			case "true":
				fv.SetString(redactedMark)
			case "url":
				fv.SetString(RedactURL(fv.String()))
			}
		}
	}
}

// RedactURL masks the password of a URL, for logs and `config print`.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redactedMark
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// YAML renders the configuration with secrets redacted.
func (c Config) YAML() ([]byte, error) {
	out, err := yaml.Marshal(c.Redacted())
	if err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return out, nil
}
