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
// starting point. Lists are empty, as by default, with a sample element to
// start from in the comment above each. It is generated from the same tags
// as Reference, and TestExampleSetsEveryKey keeps it complete.
func Example() string {
	var b strings.Builder
	b.WriteString(`# ztgate configuration.
#
# Every key is shown at its default. Keys are optional: delete the ones you
# do not change. Unknown keys are errors. Durations use Go's syntax: 300ms,
# 5s, 1m30s. Lists are empty; the comment above each shows an element to
# start from. Check this file with "ztgate config validate FILE"; every key
# is described by "ztgate config reference".
`)
	example(&b, configType, "", style{docs: true})
	return b.String()
}

// style selects what example writes.
type style struct {
	docs bool // each key below its description, keys apart
	// sample fills each sequence of mappings with its sample element: one
	// element whose keys hold their example tags, or their defaults. The
	// samples together form a valid configuration, which TestSample
	// checks.
	sample bool
}

// example writes the keys of the section type t, each line starting with
// indent, which may hold a "#" when the section is commented out.
func example(b *strings.Builder, t reflect.Type, indent string, st style) {
	for i, f := range fields(t) {
		if st.docs {
			if i > 0 || indent == "" {
				b.WriteString(blank(indent) + "\n")
			}
			for _, line := range wrap(describeField(f), 78-len(indent)-2) {
				fmt.Fprintf(b, "%s# %s\n", indent, line)
			}
		}
		switch {
		case isSection(f.typ):
			fmt.Fprintf(b, "%s%s:\n", indent, f.key)
			example(b, f.typ, indent+"  ", st)
		case isTable(f.typ) && st.sample:
			fmt.Fprintf(b, "%s%s:\n", indent, f.key)
			element(b, f.typ.Elem(), indent+"  ", st)
		case isTable(f.typ):
			if st.docs {
				// A sample element, commented out, so that the file still
				// sets the list to its default, empty, and an element can
				// be started by removing a "#" from each line.
				fmt.Fprintf(b, "%s#\n%s# For example:\n%s#\n%s#   %s:\n", indent, indent, indent, indent, f.key)
				element(b, f.typ.Elem(), indent+"#     ", style{docs: true, sample: true})
			}
			fmt.Fprintf(b, "%s%s: []\n", indent, f.key)
		default:
			fmt.Fprintf(b, "%s%s: %s\n", indent, f.key, exampleValue(f, st.sample))
		}
	}
}

// element writes the sample element of a sequence of the section type t,
// its first line starting with indent and "- ".
func element(b *strings.Builder, t reflect.Type, indent string, st style) {
	var e strings.Builder
	example(&e, t, indent+"  ", st)
	b.WriteString(indent + "- " + strings.TrimPrefix(e.String(), indent+"  "))
}

// blank is an empty line among lines starting with indent: empty, or "#"
// inside a commented-out block.
func blank(indent string) string {
	if i := strings.LastIndexByte(indent, '#'); i >= 0 {
		return indent[:i+1]
	}
	return ""
}

// describeField is the comment above f's key.
func describeField(f field) string {
	if f.required {
		return f.doc + " Required."
	}
	return f.doc
}

// exampleValue is f's value in YAML: in a sample its example tag, else its
// default, else its type's zero value.
func exampleValue(f field, sample bool) string {
	switch {
	case sample && f.hasExample:
		return f.example
	case f.hasDef:
		return f.def
	case f.typ == durationType:
		return "0s"
	case isList(f.typ):
		return "[]"
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
