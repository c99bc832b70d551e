package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

const redactedMark = "<redacted>"

// hostOptional are the schemes whose URLs may name no host.
var hostOptional = []string{"unix", "postgres", "postgresql", "redis", "rediss"}

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
		if u.Scheme != s {
			continue
		}
		// "http:/x" parses but names no server to reach; a database or
		// Redis URL may leave the host to its driver's default or socket.
		if u.Host == "" && !slices.Contains(hostOptional, s) {
			return errors.New("names no host")
		}
		return nil
	}
	return fmt.Errorf("scheme %q is not one of %s", u.Scheme, strings.Join(schemes, ", "))
}

// Redacted returns a copy with every secret hidden: fields tagged
// secret:"true" are replaced, and passwords inside secret:"url" fields are
// masked while the rest of the URL stays readable.
func (c Config) Redacted() Config {
	c = c.Clone()
	rv := reflect.ValueOf(&c).Elem()
	redactValue(rv)
	for _, name := range c.Stages.Names() {
		redactValue(reflect.ValueOf(c.Stages.Get(name)).Elem())
	}
	return c
}

var sectionsType = reflect.TypeOf(StageSections{})

func redactValue(rv reflect.Value) {
	rt := rv.Type()
	for i := range rt.NumField() {
		f, fv := rt.Field(i), rv.Field(i)
		switch {
		case !f.IsExported() || f.Type == sectionsType:
		case fv.Kind() == reflect.Struct:
			redactValue(fv)
		case fv.Kind() == reflect.Slice && fv.Len() > 0 && f.Tag.Get("secret") == "tenant-tokens":
			// A fresh slice: Clone may share the original's backing array.
			red := make([]string, fv.Len())
			for j := range red {
				red[j] = RedactTenantToken(fv.Index(j).String())
			}
			fv.Set(reflect.ValueOf(red))
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

// RedactTenantToken hides the token of an api.tokens entry
// ("<tenant>:<token>"), keeping the tenant readable.
func RedactTenantToken(entry string) string {
	tenant, _, ok := strings.Cut(entry, ":")
	if !ok {
		return redactedMark
	}
	return tenant + ":" + redactedMark
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

// YAML renders the configuration with secrets redacted, in the layout of
// config.yaml: keys in struct order, durations written the way a person
// writes them ("2s", "2160h") rather than as yaml.v3's nanosecond integers,
// so that the output can be fed back to Load.
func (c Config) YAML() ([]byte, error) {
	node, err := yamlNode(reflect.ValueOf(c.Redacted()))
	if err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return buf.Bytes(), nil
}

var durationType = reflect.TypeOf(time.Duration(0))

// yamlNode builds the YAML tree of a value, rendering time.Duration fields
// with FormatDuration and honouring `yaml:",inline"`.
func yamlNode(rv reflect.Value) (*yaml.Node, error) {
	if rv.Type() == durationType {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: FormatDuration(time.Duration(rv.Int()))}, nil
	}
	if rv.Type() == sectionsType {
		sections := rv.Interface().(StageSections)
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, name := range sections.Names() {
			val, err := yamlNode(reflect.ValueOf(sections.Get(name)).Elem())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, val)
		}
		return m, nil
	}
	if rv.Kind() != reflect.Struct {
		var n yaml.Node
		if err := n.Encode(rv.Interface()); err != nil {
			return nil, err
		}
		return &n, nil
	}
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if err := appendFields(m, rv); err != nil {
		return nil, err
	}
	return m, nil
}

func appendFields(m *yaml.Node, rv reflect.Value) error {
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := strings.Split(f.Tag.Get("yaml"), ",")
		if tag[0] == "-" {
			continue
		}
		if len(tag) > 1 && tag[1] == "inline" {
			if err := appendFields(m, rv.Field(i)); err != nil {
				return err
			}
			continue
		}
		name := tag[0]
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		val, err := yamlNode(rv.Field(i))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, val)
	}
	return nil
}

// FormatDuration writes d as time.Duration.String does, minus the zero
// trailing units that make "2160h0m0s" out of 90 days: "1m", "2160h", "1h30m",
// "500ms". time.ParseDuration reads every result back to the same value.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
