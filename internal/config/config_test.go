package config

import (
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
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
		{
			"sequence of mappings",
			"iam:\n  roles: {name: deployer}\n",
			`config.yaml:2:10: iam.roles: expected a sequence of mappings, got a mapping`,
			ErrType,
		},
		{
			"sequence of strings",
			"iam:\n  users:\n    - name: alice\n      groups: developers\n",
			`config.yaml:4:15: iam.users[0].groups: expected a sequence of strings, got a string`,
			ErrType,
		},
		{
			"element not a mapping",
			"iam:\n  roles:\n    - deployer\n",
			`config.yaml:3:7: iam.roles[0]: expected a mapping, got a string`,
			ErrType,
		},
		{
			"null element",
			"iam:\n  policies:\n    -\n",
			`config.yaml:3:6: iam.policies[0]: expected a mapping, got null`,
			ErrType,
		},
		{
			"element not a string",
			"iam: {users: [{name: alice, groups: [[ops]]}]}\n",
			`config.yaml:1:38: iam.users[0].groups[0]: expected a string, got a sequence`,
			ErrType,
		},
		{
			"null string element",
			"iam: {users: [{name: alice, groups: [~]}]}\n",
			`config.yaml:1:38: iam.users[0].groups[0]: expected a string, got null`,
			ErrType,
		},
		{
			"unknown key in element",
			"iam:\n  roles:\n    - name: deployer\n      trust_policy: '{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"000000000000\"}, \"Action\": \"sts:AssumeRole\"}]}'\n      max_sesion_duration: 2h\n",
			`config.yaml:5:7: iam.roles[0].max_session_duration: unknown key "max_sesion_duration" (did you mean "max_session_duration"?)`,
			ErrUnknownKey,
		},
		{
			"misspelled required key",
			"iam:\n  roles:\n    - name: deployer\n      trust_polcy: '{}'\n",
			`config.yaml:4:7: iam.roles[0].trust_policy: unknown key "trust_polcy" (did you mean "trust_policy"?)`,
			ErrUnknownKey,
		},
		{
			"duplicate key in element",
			"iam:\n  policies:\n    - name: a\n      document: '{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:GetObject\", \"Resource\": \"*\"}]}'\n      name: b\n",
			`config.yaml:5:7: iam.policies[0].name: duplicate key "name" (first at line 3)`,
			ErrDuplicateKey,
		},
		{
			"required key left out",
			"iam:\n  roles:\n    - name: deployer\n",
			`config.yaml:3:7: iam.roles[0].trust_policy: required`,
			ErrValue,
		},
		{
			"required key empty",
			"iam:\n  roles:\n    - name: deployer\n      trust_policy: \"\"\n",
			`config.yaml:4:21: iam.roles[0].trust_policy: must not be empty`,
			ErrValue,
		},
		{
			"required list empty",
			"sts:\n  web_identity:\n    issuers:\n      - url: https://issuer.example.com\n        audiences: []\n",
			`config.yaml:5:20: sts.web_identity.issuers[0].audiences: must not be empty`,
			ErrValue,
		},
		{
			"duplicate name",
			"iam:\n  groups:\n    - name: ops\n    - name: dev\n    - name: Ops\n",
			`config.yaml:5:13: iam.groups[2].name: name "Ops" is already used by iam.groups[0], as "ops" (names are compared without case)`,
			ErrValue,
		},
		{
			"undeclared group",
			"iam:\n  groups: [{name: developers}]\n  users: [{name: alice, groups: [developer]}]\n",
			`config.yaml:3:34: iam.users[0].groups[0]: "developer" is not the name of a group in iam.groups (did you mean "developers"?)`,
			ErrValue,
		},
		{
			"invalid JSON",
			"iam:\n  policies:\n    - name: p\n      document: |\n        {\"Version\": \"2012-10-17\",\n         \"Statement\": []]}\n",
			`config.yaml:4:17: iam.policies[0].document: invalid JSON at line 2, column 17 of the document: invalid character ']' after object key:value pair`,
			ErrValue,
		},
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
	if c.Store.Postgres.MaxConns != 10 || c.Server.IdleTimeout.D() != 120*time.Second || c.Log.Level != "info" ||
		c.IAM.Account != "000000000000" || c.STS.MaxClockSkew.D() != 5*time.Minute {
		t.Errorf("Default() = %+v; defaults not applied", c)
	}
	// The defaults of keys in the elements of lists are applied as each
	// element is decoded; a bad tag there would panic only then.
	for _, l := range leaves(configType, "") {
		if !isTable(l.typ) {
			continue
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: %v", l.path, r)
				}
			}()
			setDefaults(reflect.New(l.typ.Elem()).Elem(), l.path+"[]")
		}()
	}
	c, err := Parse("config.yaml", []byte("iam: {roles: [{name: r, trust_policy: '{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"000000000000\"}, \"Action\": \"sts:AssumeRole\"}]}'}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.IAM.Roles[0]; r.Path != "/" || r.MaxSessionDuration.D() != time.Hour {
		t.Errorf("role = %+v; element defaults not applied", r)
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
		inElement := strings.Contains(l.path, "[]")
		if l.required && (!inElement || l.hasDef || (l.typ.Kind() != reflect.String && !isList(l.typ))) {
			t.Errorf("%s is required, which only a string or list without a default in an element of a list may be", l.path)
		}
		if l.hasExample && !inElement {
			t.Errorf("%s has an example tag, which only a key in an element of a list shows", l.path)
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

// TestAliasExpansionInLists repeats, through aliases, a list element that
// itself holds a list of aliases: each element costs decoding work, which
// must stop at the limit rather than grow with the product.
func TestAliasExpansionInLists(t *testing.T) {
	var b strings.Builder
	b.WriteString("iam:\n  users:\n    - &u {name: a, tags: [&t {key: k}")
	b.WriteString(strings.Repeat(", *t", 200))
	b.WriteString("]}\n")
	b.WriteString(strings.Repeat("    - *u\n", 200))
	_, err := Parse("config.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases expand to too many values") {
		t.Errorf("Parse = %.500v, want the expansion limit", err)
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
		{"gateway route", func(c *Config) {
			c.Gateway.Routes = []Route{{Name: "app", Host: "app.localhost", PathPrefix: "/", Upstreams: []string{"http://127.0.0.1:3000"}, Auth: []string{"session", "sigv4"}}}
			c.Gateway.TrustedProxies = "10.0.0.0/8, 192.0.2.7"
		}, ""},
		{"gateway route name", func(c *Config) {
			c.Gateway.Routes = []Route{{Name: "a b", PathPrefix: "/", Upstreams: []string{"http://127.0.0.1:3000"}}}
		}, `gateway.routes[0].name: "a b" must be 1 to 64 letters, digits and _.-`},
		{"gateway upstream", func(c *Config) {
			c.Gateway.Routes = []Route{{Name: "a", PathPrefix: "/", Upstreams: []string{"ftp://x"}}}
		}, `gateway.routes[0].upstreams[0]: must be an absolute http or https URL without user information`},
		{"gateway auth", func(c *Config) {
			c.Gateway.Routes = []Route{{Name: "a", PathPrefix: "/", Upstreams: []string{"http://x"}, Auth: []string{"sigv5"}}}
		}, `gateway.routes[0].auth[0]: "sigv5" is not one of session, sigv4, jwt, mtls (did you mean "sigv4"?)`},
		{"gateway duplicate place", func(c *Config) {
			c.Gateway.Routes = []Route{{Name: "a", Host: "x", PathPrefix: "/p", Upstreams: []string{"http://x"}}, {Name: "b", Host: "x", PathPrefix: "/p/", Upstreams: []string{"http://x"}}}
		}, `gateway.routes[1].path_prefix: host and path prefix are already those of gateway.routes[0]`},
		{"gateway proxies", func(c *Config) { c.Gateway.TrustedProxies = "10.0.0.0/8, nope" }, `gateway.trusted_proxies: "nope" is not an address or CIDR prefix`},
		{"gateway route policy without a principal", func(c *Config) {
			c.Gateway.Routes = []Route{{Name: "a", PathPrefix: "/", Upstreams: []string{"http://x"},
				Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"http:*","Resource":"*"}]}`}}
		}, `gateway.routes[0].policy: 1:38: Missing required field Principal`},
		{"gateway route policy", func(c *Config) {
			c.Gateway.Routes = []Route{{Name: "a", PathPrefix: "/", Upstreams: []string{"http://x"},
				Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"http:*","Resource":"*"}]}`}}
		}, ""},
		{"ca and tls listener", func(c *Config) {
			c.CA.TrustDomain = "prod.example-corp.org"
			c.Gateway.TLS = GatewayTLS{Listen: "127.0.0.1:8443", Names: "gw.example.org, 10.0.0.5"}
		}, ""},
		{"trust domain case", func(c *Config) { c.CA.TrustDomain = "Example.org" }, `ca.trust_domain: "Example.org" may hold only lowercase letters, digits, dots, hyphens and underscores`},
		{"trust domain empty", func(c *Config) { c.CA.TrustDomain = "" }, `ca.trust_domain: must be 1 to 255 characters`},
		{"svid ttl above max", func(c *Config) {
			c.CA.MaxTTL = Duration(48 * time.Hour)
			c.CA.SVIDTTL = Duration(72 * time.Hour)
			c.Devices.CertTTL = Duration(48 * time.Hour)
		}, `ca.svid_ttl: must be from 1m to 48h, got 72h`},
		{"device cert above ca max", func(c *Config) { c.CA.MaxTTL = Duration(24 * time.Hour) }, `devices.cert_ttl: must be from 1h to 24h, got 720h`},
		{"ca import half", func(c *Config) { c.CA.ImportCert = "ca.pem" }, `ca.import_cert_file: import_cert_file and import_key_file go together`},
		{"tls listen", func(c *Config) { c.Gateway.TLS.Listen = "8443" }, `gateway.tls.listen: "8443" is not host:port (did you mean ":8443"?)`},
		{"tls names", func(c *Config) { c.Gateway.TLS.Names = "localhost, *.example.org" }, `gateway.tls.names: "*.example.org" must be a lowercase DNS name or an IP address`},
		{"tls cert half", func(c *Config) { c.Gateway.TLS.KeyFile = "k.pem" }, `gateway.tls.cert_file: cert_file and key_file go together`},
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

		{"iam", withIAM(func(*Config) {}), ""},
		{"account", withIAM(func(c *Config) { c.IAM.Account = "12345678901" }), `iam.account: "12345678901" must be exactly 12 digits`},
		{"account letter", withIAM(func(c *Config) { c.IAM.Account = "12345678901a" }), `iam.account: "12345678901a" must be exactly 12 digits`},
		{"user name longest", withIAM(func(c *Config) { c.IAM.Users[0].Name = strings.Repeat("a", 64) }), ""},
		{"user name too long", withIAM(func(c *Config) { c.IAM.Users[0].Name = strings.Repeat("a", 65) }),
			`iam.users[0].name: "` + strings.Repeat("a", 64) + `…" must be 1 to 64 letters, digits and +=,.@_-`},
		{"role name", withIAM(func(c *Config) { c.IAM.Roles[0].Name = "ci/deploy" }), `iam.roles[0].name: "ci/deploy" must be 1 to 64 letters, digits and +=,.@_-`},
		{"role name characters", withIAM(func(c *Config) { c.IAM.Roles[0].Name = "a+b=c,d.e@f_g-h" }), ""},
		{"group name longest", withIAM(func(c *Config) {
			c.IAM.Groups[0].Name = strings.Repeat("g", 128)
			c.IAM.Users[0].Groups = nil
		}), ""},
		{"group name too long", withIAM(func(c *Config) {
			c.IAM.Groups[0].Name = strings.Repeat("g", 129)
			c.IAM.Users[0].Groups = nil
		}), `iam.groups[0].name: "` + strings.Repeat("g", 64) + `…" must be 1 to 128 letters, digits and +=,.@_-`},
		{"policy name", withIAM(func(c *Config) { c.IAM.Policies[0].Name = "Read Only" }),
			"iam.policies[0].name: \"Read Only\" must be 1 to 128 letters, digits and +=,.@_-\n" +
				`iam.groups[0].managed_policies[0]: "ReadOnly" is not the name of a policy in iam.policies or an ARN (did you mean "Read Only"?)`},
		{"name required", withIAM(func(c *Config) { c.IAM.Users[0].Name = "" }), `iam.users[0].name: required`},
		{"duplicate name", withIAM(func(c *Config) { c.IAM.Users = append(c.IAM.Users, IAMUser{Name: "alice", Path: "/"}) }),
			`iam.users[1].name: name "alice" is already used by iam.users[0]`},
		{"duplicate name case", withIAM(func(c *Config) { c.IAM.Roles = append(c.IAM.Roles, c.IAM.Roles[0]); c.IAM.Roles[1].Name = "Deployer" }),
			`iam.roles[1].name: name "Deployer" is already used by iam.roles[0], as "deployer" (names are compared without case)`},
		{"same name in different lists", withIAM(func(c *Config) { c.IAM.Roles[0].Name = "alice" }), ""},
		{"path", withIAM(func(c *Config) { c.IAM.Roles[0].Path = "/ops/eu/" }), ""},
		{"path without slash", withIAM(func(c *Config) { c.IAM.Roles[0].Path = "/ops" }),
			`iam.roles[0].path: "/ops" must begin and end with / and hold at most 512 printable ASCII characters, without spaces`},
		{"path empty", withIAM(func(c *Config) { c.IAM.Policies[0].Path = "" }),
			`iam.policies[0].path: "" must begin and end with / and hold at most 512 printable ASCII characters, without spaces`},
		{"path space", withIAM(func(c *Config) { c.IAM.Groups[0].Path = "/a b/" }),
			`iam.groups[0].path: "/a b/" must begin and end with / and hold at most 512 printable ASCII characters, without spaces`},
		{"path longest", withIAM(func(c *Config) { c.IAM.Users[0].Path = "/" + strings.Repeat("p", 510) + "/" }), ""},
		{"path too long", withIAM(func(c *Config) { c.IAM.Users[0].Path = "/" + strings.Repeat("p", 511) + "/" }),
			`iam.users[0].path: "/` + strings.Repeat("p", 63) + `…" must begin and end with / and hold at most 512 printable ASCII characters, without spaces`},
		{"description", withIAM(func(c *Config) { c.IAM.Roles[0].Description = strings.Repeat("é", 1000) }), ""},
		{"description too long", withIAM(func(c *Config) { c.IAM.Policies[0].Description = strings.Repeat("é", 1001) }),
			`iam.policies[0].description: must be at most 1000 characters, got 1001`},
		{"document required", withIAM(func(c *Config) { c.IAM.Policies[0].Document = "" }), `iam.policies[0].document: required`},
		{"document syntax", withIAM(func(c *Config) { c.IAM.Policies[0].Document = "{'Version': 1}" }),
			`iam.policies[0].document: invalid JSON at line 1, column 2 of the document: invalid character '\'' looking for beginning of object key string`},
		{"document trailing", withIAM(func(c *Config) { c.IAM.Roles[0].TrustPolicy = "{}\n{}" }),
			`iam.roles[0].trust_policy: invalid JSON at line 2, column 1 of the document: invalid character '{' after top-level value`},
		{"document blank", withIAM(func(c *Config) { c.IAM.Roles[0].TrustPolicy = "  " }),
			`iam.roles[0].trust_policy: invalid JSON at line 1, column 2 of the document: unexpected end of JSON input`},
		{"document string", withIAM(func(c *Config) { c.IAM.Groups[0].Policies = []InlinePolicy{{Name: "p", Document: `"Allow"`}} }),
			`iam.groups[0].policies[0].document: must be a JSON object ({...}), got a JSON string`},
		{"trust policy required", withIAM(func(c *Config) { c.IAM.Roles[0].TrustPolicy = "" }), `iam.roles[0].trust_policy: required`},
		{"inline policies", withIAM(func(c *Config) {
			c.IAM.Users[0].Policies = []InlinePolicy{{Name: "a", Document: okDoc}, {Name: "b", Document: okDoc}, {Name: "a", Document: okDoc}}
		}), `iam.users[0].policies[2].name: name "a" is already used by iam.users[0].policies[0]`},
		{"inline policy name required", withIAM(func(c *Config) { c.IAM.Roles[0].Policies = []InlinePolicy{{Document: okDoc}} }),
			`iam.roles[0].policies[0].name: required`},
		{"managed policy arn", withIAM(func(c *Config) {
			c.IAM.Roles[0].ManagedPolicies = []string{"arn:aws:iam::aws:policy/ReadOnlyAccess", "ReadOnly"}
			c.IAM.Roles[0].PermissionsBoundary = "ReadOnly"
			c.IAM.Users[0].PermissionsBoundary = "arn:aws:iam::000000000000:policy/Boundary"
		}), ""},
		{"managed policy unknown", withIAM(func(c *Config) { c.IAM.Roles[0].ManagedPolicies = []string{"readonly"} }),
			`iam.roles[0].managed_policies[0]: "readonly" is not the name of a policy in iam.policies or an ARN (did you mean "ReadOnly"?)`},
		{"managed policy twice", withIAM(func(c *Config) { c.IAM.Groups[0].ManagedPolicies = []string{"ReadOnly", "ReadOnly"} }),
			`iam.groups[0].managed_policies[1]: "ReadOnly" is already listed at iam.groups[0].managed_policies[0]`},
		{"boundary unknown", withIAM(func(c *Config) { c.IAM.Roles[0].PermissionsBoundary = "Boundary" }),
			`iam.roles[0].permissions_boundary: "Boundary" is not the name of a policy in iam.policies or an ARN`},
		{"group unknown", withIAM(func(c *Config) { c.IAM.Users[0].Groups = []string{"developer"} }),
			`iam.users[0].groups[0]: "developer" is not the name of a group in iam.groups (did you mean "developers"?)`},
		{"group arn", withIAM(func(c *Config) { c.IAM.Users[0].Groups = []string{"arn:aws:iam::000000000000:group/developers"} }),
			`iam.users[0].groups[0]: "arn:aws:iam::000000000000:group/developers" is not the name of a group in iam.groups`},
		{"group twice", withIAM(func(c *Config) { c.IAM.Users[0].Groups = []string{"developers", "developers"} }),
			`iam.users[0].groups[1]: "developers" is already listed at iam.users[0].groups[0]`},
		{"group empty", withIAM(func(c *Config) { c.IAM.Users[0].Groups = []string{""} }), `iam.users[0].groups[0]: must not be empty`},
		{"tags", withIAM(func(c *Config) {
			c.IAM.Roles[0].Tags = []Tag{{"équipe", "bleu"}, {"cost-center", ""}, {"a b:c/d=e+f-g@h_i.j", "k l"}, {strings.Repeat("k", 128), strings.Repeat("v", 256)}}
		}), ""},
		{"tags too many", withIAM(func(c *Config) { c.IAM.Users[0].Tags = manyTags(51) }), `iam.users[0].tags: holds 51 tags; at most 50 are allowed`},
		{"tags most", withIAM(func(c *Config) { c.IAM.Users[0].Tags = manyTags(50) }), ""},
		{"tag key required", withIAM(func(c *Config) { c.IAM.Users[0].Tags[0].Key = "" }), `iam.users[0].tags[0].key: required`},
		{"tag key too long", withIAM(func(c *Config) { c.IAM.Users[0].Tags[0].Key = strings.Repeat("k", 129) }),
			`iam.users[0].tags[0].key: "` + strings.Repeat("k", 64) + `…" must be 1 to 128 letters, digits, spaces and _.:/=+-@`},
		{"tag key character", withIAM(func(c *Config) { c.IAM.Users[0].Tags[0].Key = "team!" }),
			`iam.users[0].tags[0].key: "team!" must be 1 to 128 letters, digits, spaces and _.:/=+-@`},
		{"tag key reserved", withIAM(func(c *Config) { c.IAM.Users[0].Tags[0].Key = "AWS:team" }),
			`iam.users[0].tags[0].key: "AWS:team" begins with aws:, which AWS reserves`},
		{"tag value too long", withIAM(func(c *Config) { c.IAM.Users[0].Tags[0].Value = strings.Repeat("v", 257) }),
			`iam.users[0].tags[0].value: "` + strings.Repeat("v", 64) + `…" must be at most 256 letters, digits, spaces and _.:/=+-@`},
		{"tag key twice", withIAM(func(c *Config) {
			c.IAM.Roles[0].Tags = []Tag{{"team", "a"}, {"env", "b"}, {"team", "c"}, {"TEAM", "d"}}
		}), "iam.roles[0].tags[2].key: key \"team\" is already used by iam.roles[0].tags[0]\n" +
			`iam.roles[0].tags[3].key: key "TEAM" is already used by iam.roles[0].tags[0], as "team" (keys are compared without case)`},
		{"session duration", withIAM(func(c *Config) { c.IAM.Roles[0].MaxSessionDuration = Duration(12 * time.Hour) }), ""},
		{"session duration short", withIAM(func(c *Config) { c.IAM.Roles[0].MaxSessionDuration = Duration(30 * time.Minute) }),
			`iam.roles[0].max_session_duration: must be from 1h to 12h, got 30m`},
		{"session duration long", withIAM(func(c *Config) { c.IAM.Roles[0].MaxSessionDuration = Duration(12*time.Hour + time.Second) }),
			`iam.roles[0].max_session_duration: must be from 1h to 12h, got 12h0m1s`},
		{"session duration zero", withIAM(func(c *Config) { c.IAM.Roles[0].MaxSessionDuration = 0 }),
			`iam.roles[0].max_session_duration: must be from 1h to 12h, got 0s`},
		{"clock skew", func(c *Config) { c.STS.MaxClockSkew = Duration(time.Hour) }, ""},
		{"clock skew long", func(c *Config) { c.STS.MaxClockSkew = Duration(90 * time.Minute) }, `sts.max_clock_skew: must be from 1s to 1h, got 1h30m`},
		{"clock skew short", func(c *Config) { c.STS.MaxClockSkew = Duration(500 * time.Millisecond) }, `sts.max_clock_skew: must be from 1s to 1h, got 500ms`},
		{"issuer loopback", withIAM(func(c *Config) {
			c.STS.WebIdentity.Issuers = []OIDCIssuer{
				{URL: "http://localhost:5556/dex", JWKSURL: "http://127.0.0.1:5556/keys", Audiences: []string{"a"}},
				{URL: "http://[::1]", Audiences: []string{"a"}},
				{URL: "http://127.0.0.2/", Audiences: []string{"a"}},
				{URL: "https://issuer.example.com/tenant/", JWKSURL: "https://keys.example.com/jwks.json", Audiences: []string{"a"}},
			}
		}), ""},
		{"issuer url required", withIAM(func(c *Config) { c.STS.WebIdentity.Issuers[0].URL = "" }), `sts.web_identity.issuers[0].url: required`},
		{"issuer http", withIAM(func(c *Config) { c.STS.WebIdentity.Issuers[0].URL = "http://issuer.example.com" }),
			`sts.web_identity.issuers[0].url: must use https; http is allowed only for a loopback host (localhost, 127.0.0.1, ::1)`},
		{"issuer scheme", withIAM(func(c *Config) { c.STS.WebIdentity.Issuers[0].URL = "ftp://issuer.example.com" }),
			`sts.web_identity.issuers[0].url: must be an absolute https URL, such as https://issuer.example.com`},
		{"issuer no scheme", withIAM(func(c *Config) { c.STS.WebIdentity.Issuers[0].URL = "issuer.example.com" }),
			`sts.web_identity.issuers[0].url: must be an absolute https URL, such as https://issuer.example.com`},
		{"issuer no host", withIAM(func(c *Config) { c.STS.WebIdentity.Issuers[0].URL = "https:///path" }),
			`sts.web_identity.issuers[0].url: must be an absolute https URL, such as https://issuer.example.com`},
		{"issuer unparsable", withIAM(func(c *Config) { c.STS.WebIdentity.Issuers[0].URL = "https://[::1" }),
			`sts.web_identity.issuers[0].url: not a URL`},
		{"issuer password", withIAM(func(c *Config) {
			c.STS.WebIdentity.Issuers[0].URL = "https://u:" + secretMarker + "@issuer.example.com"
		}),
			`sts.web_identity.issuers[0].url: must not hold a user name or password`},
		{"issuer query", withIAM(func(c *Config) { c.STS.WebIdentity.Issuers[0].URL = "https://issuer.example.com?" }),
			`sts.web_identity.issuers[0].url: must not have a query (?...)`},
		{"issuer fragment", withIAM(func(c *Config) { c.STS.WebIdentity.Issuers[0].URL = "https://issuer.example.com#" }),
			`sts.web_identity.issuers[0].url: must not have a fragment (#...)`},
		{"issuer twice", withIAM(func(c *Config) {
			c.STS.WebIdentity.Issuers = append(c.STS.WebIdentity.Issuers, c.STS.WebIdentity.Issuers[0])
		}), `sts.web_identity.issuers[1].url: issuer is already listed at sts.web_identity.issuers[0]`},
		{"jwks url", withIAM(func(c *Config) { c.STS.WebIdentity.Issuers[0].JWKSURL = "http://keys.example.com/jwks" }),
			`sts.web_identity.issuers[0].jwks_url: must use https; http is allowed only for a loopback host (localhost, 127.0.0.1, ::1)`},
		{"audiences required", withIAM(func(c *Config) { c.STS.WebIdentity.Issuers[0].Audiences = nil }),
			`sts.web_identity.issuers[0].audiences: required`},
		{"audience empty", withIAM(func(c *Config) { c.STS.WebIdentity.Issuers[0].Audiences = []string{"a", ""} }),
			`sts.web_identity.issuers[0].audiences[1]: must not be empty`},
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

// withIAM returns a change that declares a valid set of IAM entities and
// an issuer, then applies change.
//
// Its documents are sound policies: config validate checks them as ztgate
// will apply them.
func withIAM(change func(*Config)) func(*Config) {
	return func(c *Config) {
		c.IAM.Policies = []IAMPolicy{{Name: "ReadOnly", Path: "/", Document: okDoc}}
		c.IAM.Groups = []IAMGroup{{Name: "developers", Path: "/", ManagedPolicies: []string{"ReadOnly"}}}
		c.IAM.Users = []IAMUser{{Name: "alice", Path: "/", Groups: []string{"developers"}, Tags: []Tag{{"team", "blue"}}}}
		c.IAM.Roles = []IAMRole{{Name: "deployer", Path: "/", TrustPolicy: okTrust, MaxSessionDuration: Duration(time.Hour)}}
		c.STS.WebIdentity.Issuers = []OIDCIssuer{{URL: "https://token.actions.githubusercontent.com", Audiences: []string{"sts.amazonaws.com"}}}
		change(c)
	}
}

func manyTags(n int) []Tag {
	tags := make([]Tag, n)
	for i := range tags {
		tags[i] = Tag{Key: "k" + strconv.Itoa(i)}
	}
	return tags
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
// or below, in a section or in the elements of a list, logs through
// LogValue, and that the secret does not appear.
func TestSecretsRedacted(t *testing.T) {
	c := Default()
	withIAM(func(*Config) {})(c)
	c.Store.Postgres.DSN = "postgres://ztgate:" + secretMarker + "@db/ztgate"
	var holds func(t reflect.Type) bool // reports whether t holds a secret
	holds = func(typ reflect.Type) bool {
		h := false
		for _, f := range fields(typ) {
			if f.secret || isSection(f.typ) && holds(f.typ) || isTable(f.typ) && holds(f.typ.Elem()) {
				h = true
			}
		}
		if _, ok := reflect.New(typ).Elem().Interface().(slog.LogValuer); h && !ok {
			t.Errorf("%s holds a secret but does not implement slog.LogValuer", typ)
		}
		return h
	}
	holds(configType)

	var b strings.Builder
	logger := slog.New(slog.NewJSONHandler(&b, nil))
	logger.Info("config", "config", *c, "store", c.Store, "postgres", c.Store.Postgres)
	out := b.String()
	if strings.Contains(out, secretMarker) {
		t.Errorf("log contains the password: %s", out)
	}
	for _, want := range []string{
		`"dsn":"REDACTED"`,
		`"idle_timeout":"2m0s"`,
		`"users":{"0":{"name":"alice","path":"/","groups":["developers"],"tags":{"0":{"key":"team","value":"blue"}},"managed_policies":null,`,
		`"audiences":["sts.amazonaws.com"]`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s: %s", want, out)
		}
	}
}

// TestCertTTLFollowsMaxTTL: a file that lowers ca.max_ttl below the
// device certificates' default lifetime, without naming
// devices.cert_ttl, gets the cap; naming a longer one is an error.
func TestCertTTLFollowsMaxTTL(t *testing.T) {
	c, err := Parse("c.yaml", []byte("ca:\n  max_ttl: 24h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Devices.CertTTL.D(); got != 24*time.Hour {
		t.Errorf("devices.cert_ttl %s, want 24h", got)
	}
	if _, err := Parse("c.yaml", []byte("ca:\n  max_ttl: 24h\ndevices:\n  cert_ttl: 720h\n")); err == nil || !strings.Contains(err.Error(), "c.yaml:4:13: devices.cert_ttl") {
		t.Errorf("a named cert_ttl over max_ttl: %v", err)
	}
}

// okDoc and okTrust are sound identity and trust policies.
const (
	okDoc   = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}`
	okTrust = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "000000000000"}, "Action": "sts:AssumeRole"}]}`
)
