package config

import (
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files and docs/config.md")

// secretMarker is the password in testdata; no output may contain it.
const secretMarker = "s3cr3t-pw"

// TestParseGolden parses each testdata/*.yaml, named config.yaml, and
// compares the errors, or the decoded configuration as JSON, with the
// .golden file beside it.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := parseResult(t, data)
			if strings.Contains(got, secretMarker) {
				t.Errorf("output contains the password:\n%s", got)
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/config -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Parse(%s) =\n%s\nwant (%s):\n%s", file, got, golden, want)
			}
		})
	}
}

// parseResult is what the golden file of a case holds.
func parseResult(t *testing.T, data []byte) string {
	t.Helper()
	c, err := Parse("config.yaml", data)
	if err != nil {
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("Parse error is %T %v, want a non-empty Errors", err, err)
		}
		if c != nil {
			t.Error("Parse returned both a Config and an error")
		}
		return err.Error() + "\n"
	}
	if verr := Validate(c); verr != nil {
		t.Errorf("Parse accepted a Config that Validate rejects: %v", verr)
	}
	out, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(out) + "\n"
}

// TestMessages pins the exact text of the messages that users and docs
// quote, independently of the golden files that -update rewrites.
func TestMessages(t *testing.T) {
	tests := []struct {
		name, yaml, want string
		kind             error
	}{
		{
			"misspelled key",
			"store:\n  postgres:\n    dns: x\n",
			`config.yaml:3:5: store.postgres.dsn: unknown key "dns" (did you mean "dsn"?)`,
			ErrUnknownKey,
		},
		{
			"unknown key",
			"store:\n  postgres:\n    foo: x\n",
			`config.yaml:3:5: store.postgres.foo: unknown key "foo"`,
			ErrUnknownKey,
		},
		{"unknown top-level key", "foo: 1\n", `config.yaml:1:1: foo: unknown key "foo"`, ErrUnknownKey},
		{
			"duration",
			"server:\n  idle_timeout: abc\n",
			`config.yaml:2:17: server.idle_timeout: cannot use "abc" as a duration (e.g. "30s")`,
			ErrType,
		},
		{"mapping", "log: [a]\n", `config.yaml:1:6: log: expected a mapping, got a sequence`, ErrType},
		{
			"integer",
			"store: {postgres: {max_conns: x}}\n",
			`config.yaml:1:31: store.postgres.max_conns: cannot use "x" as an integer`,
			ErrType,
		},
		{"string", "listen: {a: 1}\n", `config.yaml:1:9: listen: expected a string, got a mapping`, ErrType},
		{
			"duplicate key",
			"listen: a:1\nlisten: b:2\n",
			`config.yaml:2:1: listen: duplicate key "listen" (first at line 1)`,
			ErrDuplicateKey,
		},
		{
			"postgres without dsn",
			"store:\n  driver: postgres\n",
			`config.yaml:2:11: store.postgres.dsn: required when store.driver is postgres`,
			ErrValue,
		},
		{
			"enum",
			"log:\n  level: deubg\n",
			`config.yaml:2:10: log.level: "deubg" is not one of debug, info, warn, error (did you mean "debug"?)`,
			ErrValue,
		},
		{"document", "[1]\n", `config.yaml:1:1: expected a mapping, got a sequence`, ErrType},
		{
			"second document",
			"listen: a:1\n---\nlisten: b:2\n",
			`config.yaml:2:1: a second YAML document starts here; a configuration file holds one`,
			ErrSyntax,
		},
		{"syntax", "log: [\n", `config.yaml:1: invalid YAML: did not find expected node content`, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("config.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if err.Error() != tt.want {
				t.Errorf("got  %s\nwant %s", err, tt.want)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("errors.Is(err, %v) = false", tt.kind)
			}
		})
	}
}

func TestEmptyIsDefault(t *testing.T) {
	for _, doc := range []string{"", "# comment\n", "---\n", "~\n", "{}\n"} {
		c, err := Parse("config.yaml", []byte(doc))
		if err != nil {
			t.Fatalf("Parse(%q): %v", doc, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Parse(%q) = %+v, want the defaults", doc, c)
		}
	}
}

// TestDefaults checks every default tag against the field it sets, which
// Default would otherwise only find at run time, and checks the defaults
// pass validation.
func TestDefaults(t *testing.T) {
	c := Default()
	if err := Validate(c); err != nil {
		t.Fatalf("defaults are invalid: %v", err)
	}
	if c.Store.Postgres.MaxConns != 10 || c.Server.IdleTimeout.D() != 120*time.Second || c.Log.Level != "info" {
		t.Errorf("Default() = %+v; defaults not applied", c)
	}
}

// TestSchemaTypes checks that the decoder, the reference and the example
// handle the type of every key, so that a new field of a new type fails
// here rather than in production.
func TestSchemaTypes(t *testing.T) {
	for _, l := range leaves(reflect.TypeFor[Config](), "") {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: %v", l.path, r)
				}
			}()
			typeName(l.typ)
		}()
		if l.doc == "" {
			t.Errorf("%s has no doc tag", l.path)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ztgate.yaml")
	if err := os.WriteFile(path, []byte("log:\n  levl: info\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + `:2:3: log.level: unknown key "levl" (did you mean "level"?)`
	if err == nil || err.Error() != want {
		t.Errorf("Load = %v, want %s", err, want)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want os.ErrNotExist", err)
	}
}

// TestAliasExpansion feeds a "billion laughs" built from merge keys, which
// would take 10^9 steps to expand, and requires a prompt error.
func TestAliasExpansion(t *testing.T) {
	var b strings.Builder
	b.WriteString("log: &l0 {level: info}\n")
	for i := 1; i <= 9; i++ {
		b.WriteString("x" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " {<<: [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*l" + string(rune('0'+i-1)))
		}
		b.WriteString("]}\n")
	}
	b.WriteString("server: {<<: *l9}\n")
	start := time.Now()
	_, err := Parse("config.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases expand to too many values") {
		t.Errorf("Parse = %v, want the expansion limit", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Parse took %v", d)
	}
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	for i := range 2 * maxErrors {
		b.WriteString("unknown" + strings.Repeat("x", i) + ": 1\n")
	}
	_, err := Parse("config.yaml", []byte(b.String()))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse = %v", err)
	}
	if len(errs) != maxErrors+1 || errs[maxErrors].Msg != "too many errors" {
		t.Errorf("got %d errors, last %v", len(errs), errs[len(errs)-1])
	}
}

func TestTooLarge(t *testing.T) {
	data := []byte("# " + strings.Repeat("x", maxSize) + "\n")
	if _, err := Parse("config.yaml", data); err == nil || !errors.Is(err, ErrSyntax) {
		t.Errorf("Parse = %v, want ErrSyntax", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"listen any interface", func(c *Config) { c.Listen = ":0" }, ""},
		{"listen ipv6", func(c *Config) { c.Listen = "[::1]:8080" }, ""},
		{"listen no port", func(c *Config) { c.Listen = "localhost" }, `listen: "localhost" is not host:port`},
		{"listen port only", func(c *Config) { c.Listen = "8080" }, `listen: "8080" is not host:port (did you mean ":8080"?)`},
		{"listen big port", func(c *Config) { c.Listen = "a:65536" }, `listen: port "65536" is not a number from 0 to 65535`},
		{"listen named port", func(c *Config) { c.Listen = "a:http" }, `listen: port "http" is not a number from 0 to 65535`},
		{"node name", func(c *Config) { c.Node.Name = "gw-1.eu_west" }, ""},
		{"node name too long", func(c *Config) { c.Node.Name = strings.Repeat("a", 64) }, `node.name: "` + strings.Repeat("a", 64) + `" must be 1 to 63 letters, digits, '.', '_' or '-'`},
		{"node name slash", func(c *Config) { c.Node.Name = "a/b" }, `node.name: "a/b" must be 1 to 63 letters, digits, '.', '_' or '-'`},
		{"log level", func(c *Config) { c.Log.Level = "trace" }, `log.level: "trace" is not one of debug, info, warn, error`},
		{"log level case", func(c *Config) { c.Log.Level = "INFO" }, `log.level: "INFO" is not one of debug, info, warn, error (did you mean "info"?)`},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, `log.format: "xml" is not one of auto, text, json`},
		{"driver", func(c *Config) { c.Store.Driver = "postgre" }, `store.driver: "postgre" is not one of sqlite, postgres (did you mean "postgres"?)`},
		{"postgres without dsn", func(c *Config) { c.Store.Driver = "postgres" }, `store.postgres.dsn: required when store.driver is postgres`},
		{"postgres", func(c *Config) {
			c.Store.Driver = "postgres"
			c.Store.Postgres.DSN = "host=db user=ztgate sslmode=disable"
		}, ""},
		{"bad dsn", func(c *Config) {
			c.Store.Postgres.DSN = "host=db password=" + secretMarker + " port=x"
		}, `store.postgres.dsn: invalid connection string: invalid port`},
		{"bad dsn keyword", func(c *Config) {
			c.Store.Postgres.DSN = "user=ztgate " + secretMarker
		}, `store.postgres.dsn: invalid connection string: malformed keyword=value list`},
		{"bad dsn url", func(c *Config) {
			c.Store.Postgres.DSN = "postgres://u:" + secretMarker + "@[::1/x"
		}, `store.postgres.dsn: invalid connection string: malformed URL`},
		{"bad dsn sslmode", func(c *Config) {
			c.Store.Postgres.DSN = "postgres://u:" + secretMarker + "@db/x?sslmode=" + secretMarker
		}, `store.postgres.dsn: invalid connection string: invalid TLS settings (sslmode, sslrootcert, sslcert, sslkey)`},
		{"sqlite path", func(c *Config) { c.Store.SQLite.Path = "" }, `store.sqlite.path: must not be empty when store.driver is sqlite`},
		{"max conns low", func(c *Config) { c.Store.Postgres.MaxConns = 0 }, `store.postgres.max_conns: must be from 1 to 1000, got 0`},
		{"max conns high", func(c *Config) { c.Store.Postgres.MaxConns = 1001 }, `store.postgres.max_conns: must be from 1 to 1000, got 1001`},
		{"max conns edges", func(c *Config) { c.Store.Postgres.MaxConns = 1000 }, ""},
		{"duration zero", func(c *Config) { c.Server.IdleTimeout = 0 }, `server.idle_timeout: must be greater than 0, got 0s`},
		{"duration negative", func(c *Config) { c.Store.SQLite.BusyTimeout = Duration(-time.Second) }, `store.sqlite.busy_timeout: must be greater than 0, got -1s`},
		{"several", func(c *Config) {
			c.Log.Level = ""
			c.Server.ShutdownTimeout = 0
		}, "log.level: \"\" is not one of debug, info, warn, error\nserver.shutdown_timeout: must be greater than 0, got 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(c)
			err := Validate(c)
			got := ""
			if err != nil {
				got = err.Error()
				if !errors.Is(err, ErrValue) {
					t.Errorf("errors.Is(err, ErrValue) = false")
				}
			}
			if got != tt.want {
				t.Errorf("Validate =\n%s\nwant\n%s", got, tt.want)
			}
			if strings.Contains(got, secretMarker) {
				t.Error("error contains the password")
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"listen", "node", "log", "store", "keys", "server"}
	tests := []struct{ in, want string }{
		{"lsiten", "listen"},
		{"listn", "listen"},
		{"Listen", "listen"},
		{"nodes", "node"},
		{"key", "keys"},
		{"sever", "server"},
		{"foo", ""},
		{"lo", "log"},
		{"x", ""},
		{"storage", "store"},
		{strings.Repeat("s", 10000), ""},
	}
	for _, tt := range tests {
		got, ok := suggest(tt.in, keys)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("suggest(%.20q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
	if got, _ := suggest("dns", []string{"dsn", "max_conns", "connect_timeout"}); got != "dsn" {
		t.Errorf(`suggest("dns") = %q, want "dsn"`, got)
	}
}

// TestSecretsRedacted checks that every section holding a secret, directly
// or below, logs through LogValue, and that the secret does not appear.
func TestSecretsRedacted(t *testing.T) {
	c := Default()
	c.Store.Postgres.DSN = "postgres://ztgate:" + secretMarker + "@db/ztgate"
	var sections func(v reflect.Value) bool // reports whether v holds a secret
	sections = func(v reflect.Value) bool {
		holds := false
		for _, f := range fields(v.Type()) {
			if f.secret || (isSection(f.typ) && sections(v.Field(f.index))) {
				holds = true
			}
		}
		if _, ok := v.Interface().(slog.LogValuer); holds && !ok {
			t.Errorf("%s holds a secret but does not implement slog.LogValuer", v.Type())
		}
		return holds
	}
	root := reflect.ValueOf(*c)
	sections(root)

	var b strings.Builder
	logger := slog.New(slog.NewJSONHandler(&b, nil))
	logger.Info("config", "config", *c, "store", c.Store, "postgres", c.Store.Postgres)
	out := b.String()
	if strings.Contains(out, secretMarker) {
		t.Errorf("log contains the password: %s", out)
	}
	if !strings.Contains(out, `"dsn":"REDACTED"`) || !strings.Contains(out, `"idle_timeout":"2m0s"`) {
		t.Errorf("log lacks the redacted DSN or a duration: %s", out)
	}
}
