package config

import (
	"log/slog"
	"reflect"
	"strconv"
)

// The sections that hold a secret, directly or below, log as groups of
// their keys with every secret replaced, so that logging a whole
// configuration at startup is safe. TestSecretsRedacted finds any section
// that needs this and lacks it.
var (
	_ slog.LogValuer = Config{}
	_ slog.LogValuer = Store{}
	_ slog.LogValuer = Postgres{}
)

// redacted replaces a secret that is set.
const redacted = "REDACTED"

// LogValue logs c by key, without secrets.
func (c Config) LogValue() slog.Value { return logValue(reflect.ValueOf(c)) }

// LogValue logs s by key, without secrets.
func (s Store) LogValue() slog.Value { return logValue(reflect.ValueOf(s)) }

// LogValue logs p by key, without secrets.
func (p Postgres) LogValue() slog.Value { return logValue(reflect.ValueOf(p)) }

func logValue(v reflect.Value) slog.Value {
	fs := fields(v.Type())
	attrs := make([]slog.Attr, 0, len(fs))
	for _, f := range fs {
		fv := v.Field(f.index)
		switch {
		case isSection(f.typ):
			attrs = append(attrs, slog.Attr{Key: f.key, Value: logValue(fv)})
		case isTable(f.typ):
			// A group keyed by index, each element by key, so that a
			// secret inside an element is redacted like one in a section.
			elems := make([]slog.Attr, fv.Len())
			for i := range elems {
				elems[i] = slog.Attr{Key: strconv.Itoa(i), Value: logValue(fv.Index(i))}
			}
			attrs = append(attrs, slog.Attr{Key: f.key, Value: slog.GroupValue(elems...)})
		case f.secret:
			s := ""
			if !fv.IsZero() {
				s = redacted
			}
			attrs = append(attrs, slog.String(f.key, s))
		default:
			attrs = append(attrs, slog.Any(f.key, fv.Interface()))
		}
	}
	return slog.GroupValue(attrs...)
}

// LogValue implements slog.LogValuer: client secrets print as redacted.
func (g Gateway) LogValue() slog.Value { return logValue(reflect.ValueOf(g)) }

// LogValue implements slog.LogValuer: the client secret prints as redacted.
func (p IdentityProvider) LogValue() slog.Value { return logValue(reflect.ValueOf(p)) }
