package config

import "time"

// Config is the whole of ztgate's YAML configuration. Every field carries a
// yaml tag (its key), a doc tag (its description in docs/config.md and in
// the example file) and, where it has one, a default tag holding the
// default in YAML syntax; secret:"true" keeps a value out of logs and error
// messages. Paths that are relative are resolved against the data
// directory.
type Config struct {
	Listen string `yaml:"listen" doc:"Address of the main HTTP listener, host:port. The serve flag --listen overrides it; port 0 picks a free port." default:"127.0.0.1:8080"`
	Node   Node   `yaml:"node" doc:"This node's identity within a cluster."`
	Log    Log    `yaml:"log" doc:"Logging."`
	Store  Store  `yaml:"store" doc:"Where ztgate keeps its state."`
	Keys   Keys   `yaml:"keys" doc:"Key material."`
	Audit  Audit  `yaml:"audit" doc:"The tamper-evident audit log, in the audit directory of the data directory."`
	Server Server `yaml:"server" doc:"HTTP server limits and timeouts."`
}

// Node names this process among the nodes that share a store.
type Node struct {
	Name string `yaml:"name" doc:"Name of this node, recorded with every change it writes: up to 63 letters, digits, dots, underscores and hyphens. Empty means the host name."`
}

// Log selects the level and format of ztgate's own log.
type Log struct {
	Level  string `yaml:"level" doc:"Least severe level logged: debug, info, warn or error." default:"info"`
	Format string `yaml:"format" doc:"auto (text on a terminal, JSON otherwise), text or json." default:"auto"`
}

// Store selects and configures the state backend.
type Store struct {
	Driver   string   `yaml:"driver" doc:"sqlite (embedded, one node) or postgres (any number of nodes)." default:"sqlite"`
	SQLite   SQLite   `yaml:"sqlite" doc:"Embedded SQLite backend."`
	Postgres Postgres `yaml:"postgres" doc:"PostgreSQL backend."`
}

// SQLite configures the embedded backend.
type SQLite struct {
	Path        string   `yaml:"path" doc:"Database file; relative paths are inside the data directory." default:"ztgate.db"`
	BusyTimeout Duration `yaml:"busy_timeout" doc:"How long a writer waits for the database lock before failing." default:"5s"`
}

// Postgres configures the PostgreSQL backend.
type Postgres struct {
	DSN            string   `yaml:"dsn" doc:"Connection string, URL (postgres://user@host:5432/db?sslmode=verify-full) or key=value form. Required when driver is postgres. A password here is never logged." secret:"true"`
	MaxConns       int      `yaml:"max_conns" doc:"Most connections held open in the pool, besides the one that listens for changes; from 1 to 1000." default:"10"`
	ConnectTimeout Duration `yaml:"connect_timeout" doc:"Limit on establishing one connection." default:"5s"`
}

// Keys locates the key-encryption key.
type Keys struct {
	KEKFile string `yaml:"kek_file" doc:"File holding the key-encryption key (base64, mode 0600); relative paths are inside the data directory. The environment variable ZTGATE_KEK, when set, takes precedence." default:"kek.key"`
}

// Audit configures the audit log.
type Audit struct {
	Mode           string         `yaml:"mode" doc:"sync: a record is on disk before the request it records is answered (many records share one fsync); async: records are written in the background, and those of the last moments before a crash can be lost." default:"sync"`
	SegmentSizeMiB int            `yaml:"segment_size_mib" doc:"A segment is closed, and its digest signed, when it reaches this size in MiB (1 to 4096)." default:"64"`
	SegmentAge     Duration       `yaml:"segment_age" doc:"A segment is closed, and its digest signed, when it is this old." default:"15m"`
	Region         string         `yaml:"region" doc:"The awsRegion written in records that have no region of their own." default:"zt-local"`
	Retention      AuditRetention `yaml:"retention" doc:"How long closed segments are kept. The oldest are removed, and a signed retention marker written first so that verification still holds; the newest closed segment is always kept."`
}

// AuditRetention bounds the audit log by age and size.
type AuditRetention struct {
	MaxAge     Duration `yaml:"max_age" doc:"Remove closed segments whose newest record is older than this. 0 keeps them forever." default:"0s"`
	MaxSizeMiB int      `yaml:"max_size_mib" doc:"Remove the oldest closed segments while the node's closed segments take more than this many MiB. 0 means no limit." default:"0"`
}

// Server holds HTTP server limits.
type Server struct {
	ReadHeaderTimeout Duration `yaml:"read_header_timeout" doc:"Limit on reading a request's headers." default:"10s"`
	IdleTimeout       Duration `yaml:"idle_timeout" doc:"How long an idle keep-alive connection stays open." default:"120s"`
	ShutdownTimeout   Duration `yaml:"shutdown_timeout" doc:"On SIGINT or SIGTERM, how long in-flight requests may take before connections are closed." default:"15s"`
}

// Duration is a time.Duration written in Go's syntax ("5s", "1m30s").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
