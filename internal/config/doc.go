// Package config reads, checks and documents ztgate's YAML configuration.
//
// A configuration starts from the defaults written in the default tags of
// [Config] and its sections; a file then overrides the keys it names. The
// decoder is strict on purpose, because a misspelled key silently ignored is
// a security setting silently left at its default: unknown keys, duplicate
// keys, values of the wrong type and documents after the first are errors.
// Null values (a key with nothing after it) leave the default in place.
//
// Besides scalars and nested sections, a key may hold a list: a YAML
// sequence of strings, or of mappings that are each decoded as strictly as
// a section, starting from the defaults of their keys. A list in a file
// replaces its default whole, and an element left null is an error. Paths
// in messages name elements by index, as in iam.roles[2].name.
//
// Every problem in a file is reported, not only the first, as an [Errors]
// list whose lines read like a compiler's:
//
//	config.yaml:12:3: store.postgres.dsn: unknown key "dns" (did you mean "dsn"?)
//
// Anchors, aliases and merge keys (<<) are resolved, with a limit on how far
// aliases may expand, and files over 1 MiB are refused, so that no file can
// make the decoder do unbounded work.
//
// Values tagged secret, such as the PostgreSQL connection string, never
// appear in error text or logs.
//
// The struct tags are the single source of the key reference in
// docs/config.md ([Reference]) and of the example file ([Example]); tests fail
// when either drifts from the types.
package config
