package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Example returns a configuration file that sets every key to its default,
// each under its description as a comment; ztgate init writes it as a
// starting point. It is generated from the same tags as Reference, and
// TestExampleSetsEveryKey keeps it complete.
func Example() string {
	var b strings.Builder
	b.WriteString(`# ztgate configuration.
#
# Every key is shown at its default. Keys are optional: delete the ones you
# do not change. Unknown keys are errors. Durations use Go's syntax: 300ms,
# 5s, 1m30s. Check this file with "ztgate config validate FILE"; every key
# is described by "ztgate config reference".
`)
	example(&b, reflect.TypeFor[Config](), "")
	return b.String()
}

// example writes the keys of the section type t, indented by indent.
func example(b *strings.Builder, t reflect.Type, indent string) {
	for i, f := range fields(t) {
		if i > 0 || indent == "" {
			b.WriteString("\n")
		}
		for _, line := range wrap(f.doc, 78-len(indent)-2) {
			fmt.Fprintf(b, "%s# %s\n", indent, line)
		}
		if isSection(f.typ) {
			fmt.Fprintf(b, "%s%s:\n", indent, f.key)
			example(b, f.typ, indent+"  ")
			continue
		}
		fmt.Fprintf(b, "%s%s: %s\n", indent, f.key, exampleValue(f))
	}
}

// exampleValue is f's default in YAML, or its type's zero value.
func exampleValue(f field) string {
	if f.hasDef {
		return f.def
	}
	switch {
	case f.typ == durationType:
		return "0s"
	case f.typ.Kind() == reflect.String:
		return `""`
	case f.typ.Kind() == reflect.Bool:
		return "false"
	}
	return "0"
}

// wrap splits s into lines of at most width bytes, breaking between words.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// Dev returns a minimal configuration for development on one machine:
// ztgate listening on listen, state in SQLite inside the data directory.
func Dev(listen string) string {
	return `# ztgate development configuration: one node, state in SQLite inside the
# data directory, logs as text on a terminal and JSON otherwise.
# "ztgate config example" shows every key.
listen: ` + yamlString(listen) + `

log:
  level: info
  format: auto

store:
  driver: sqlite
`
}

// yamlString writes s as a YAML scalar that reads back as the string s.
func yamlString(s string) string {
	if out, err := yaml.Marshal(s); err == nil {
		if v := strings.TrimSuffix(string(out), "\n"); !strings.Contains(v, "\n") {
			return v
		}
	}
	// A string that yaml.v3 writes over several lines, as a block scalar,
	// cannot follow a key on one line; a JSON string is also a YAML
	// double-quoted scalar.
	out, _ := json.Marshal(s)
	return string(out)
}
