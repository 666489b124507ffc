package querytest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ztgate/ztgate/internal/awsquery/querytest"
	"github.com/ztgate/ztgate/internal/conformance"
)

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// modelDir locates botocore's STS model, read in place. Without it the
// tests skip, unless the corpus was asked for.
func modelDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(conformance.Root(), "sts", "botocore-sts-model")
	if _, err := os.Stat(filepath.Join(dir, "service-2.json")); err != nil {
		if os.Getenv(conformance.Env) != "" {
			t.Fatalf("querytest: STS model conformance corpus missing although %s is set: %v", conformance.Env, err)
		}
		t.Skipf("querytest: STS model conformance corpus not found in %s (set %s to run it): %v", dir, conformance.Env, err)
	}
	return dir
}

func loadSTS(t *testing.T) *querytest.Model {
	t.Helper()
	m, err := querytest.LoadModel(filepath.Join(modelDir(t), "service-2.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestOperations(t *testing.T) {
	m := loadSTS(t)
	want := []string{
		"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "AssumeRoot",
		"DecodeAuthorizationMessage", "GetAccessKeyInfo", "GetCallerIdentity",
		"GetDelegatedAccessToken", "GetFederationToken", "GetSessionToken", "GetWebIdentityToken",
	}
	if got := m.Operations(); !slices.Equal(got, want) {
		t.Errorf("Operations() = %q, want %q", got, want)
	}
	if m.Namespace() != stsNamespace || m.Version() != "2011-06-15" {
		t.Errorf("Namespace %q, Version %q", m.Namespace(), m.Version())
	}
}

func find(t *testing.T, ms []querytest.Member, name string) querytest.Member {
	t.Helper()
	for _, m := range ms {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no member %s", name)
	return querytest.Member{}
}

func ptr[T any](v T) *T { return &v }

func TestInput(t *testing.T) {
	m := loadSTS(t)
	if _, err := m.Input("Nope"); !errors.Is(err, querytest.ErrUnknownOperation) {
		t.Errorf("Input(Nope) = %v", err)
	}
	for _, tc := range []struct {
		op, path            string
		typ                 string
		required            bool
		minLen, maxLen      *int64
		minVal, maxVal      *float64
		matches, mismatches []string
	}{
		{op: "AssumeRole", path: "RoleArn", typ: "string", required: true, minLen: ptr[int64](20), maxLen: ptr[int64](2048),
			matches: []string{"arn:aws:iam::123456789012:role/demo", "arn:aws:iam::1:role/\U0001F600"}, mismatches: []string{"", "arn\x00"}},
		{op: "AssumeRole", path: "RoleSessionName", typ: "string", required: true, minLen: ptr[int64](2), maxLen: ptr[int64](64),
			matches: []string{"testAssumeRoleSession", "a+b=c,d.e@f-g_h"}, mismatches: []string{"bad name", "a/b", "é"}},
		{op: "AssumeRole", path: "DurationSeconds", typ: "integer", minVal: ptr(900.0), maxVal: ptr(43200.0)},
		{op: "AssumeRole", path: "Tags", typ: "list", maxLen: ptr[int64](50)},
		{op: "AssumeRole", path: "Tags.member.Key", typ: "string", required: true, minLen: ptr[int64](1), maxLen: ptr[int64](128),
			matches: []string{"Project", "Cost-Center", "ünïcode key"}, mismatches: []string{"a,b", "*"}},
		{op: "AssumeRole", path: "Tags.member.Value", typ: "string", required: true, minLen: ptr[int64](0), maxLen: ptr[int64](256),
			matches: []string{""}},
		{op: "AssumeRole", path: "PolicyArns.member.arn", typ: "string", minLen: ptr[int64](20), maxLen: ptr[int64](2048)},
		{op: "AssumeRole", path: "ProvidedContexts", typ: "list", minLen: ptr[int64](1), maxLen: ptr[int64](5)},
		{op: "AssumeRole", path: "TokenCode", typ: "string", minLen: ptr[int64](6), maxLen: ptr[int64](6),
			matches: []string{"123456"}, mismatches: []string{"12345a"}},
		{op: "GetSessionToken", path: "DurationSeconds", typ: "integer", minVal: ptr(900.0), maxVal: ptr(129600.0)},
		{op: "GetWebIdentityToken", path: "Audience", typ: "list", required: true, minLen: ptr[int64](1), maxLen: ptr[int64](10)},
		{op: "AssumeRoleWithSAML", path: "Policy", typ: "string", minLen: ptr[int64](1), maxLen: ptr[int64](2048),
			matches: []string{`{"Version":"2012-10-17"}`, "tab\there"}, mismatches: []string{"\u0100", "nul\x00"}},
	} {
		t.Run(tc.op+"/"+tc.path, func(t *testing.T) {
			ms, err := m.Input(tc.op)
			if err != nil {
				t.Fatal(err)
			}
			var mb querytest.Member
			for i, part := range strings.Split(tc.path, ".") {
				switch {
				case i == 0:
					mb = find(t, ms, part)
				case part == "member":
					mb = *mb.Element
				default:
					mb = find(t, mb.Members, part)
				}
			}
			if mb.Type != tc.typ || mb.Required != tc.required {
				t.Errorf("type %s required %v, want %s %v", mb.Type, mb.Required, tc.typ, tc.required)
			}
			eq := func(what string, a, b any) {
				if fmt.Sprint(deref(a)) != fmt.Sprint(deref(b)) {
					t.Errorf("%s = %v, want %v", what, deref(a), deref(b))
				}
			}
			eq("MinLength", mb.MinLength, tc.minLen)
			eq("MaxLength", mb.MaxLength, tc.maxLen)
			eq("MinValue", mb.MinValue, tc.minVal)
			eq("MaxValue", mb.MaxValue, tc.maxVal)
			re, err := mb.Regexp()
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.matches {
				if re != nil && !re.MatchString(s) {
					t.Errorf("pattern %s rejects %q", mb.Pattern, s)
				}
			}
			for _, s := range tc.mismatches {
				if re == nil || re.MatchString(s) {
					t.Errorf("pattern %s accepts %q", mb.Pattern, s)
				}
			}
		})
	}
}

func deref(v any) any {
	switch p := v.(type) {
	case *int64:
		if p != nil {
			return *p
		}
	case *float64:
		if p != nil {
			return *p
		}
	}
	return nil
}

// TestEveryPatternCompiles walks every operation's input and output.
func TestEveryPatternCompiles(t *testing.T) {
	m := loadSTS(t)
	var walk func(path string, mb querytest.Member)
	walk = func(path string, mb querytest.Member) {
		if _, err := mb.Regexp(); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		for _, c := range mb.Members {
			walk(path+"."+c.Name, c)
		}
		for _, c := range []*querytest.Member{mb.Element, mb.Key, mb.Value} {
			if c != nil {
				walk(path+"."+c.Name, *c)
			}
		}
	}
	for _, op := range m.Operations() {
		in, err := m.Input(op)
		if err != nil {
			t.Fatal(err)
		}
		out, err := m.Output(op)
		if err != nil {
			t.Fatal(err)
		}
		walk(op, querytest.Member{Members: append(in, out...)})
	}
}

// example is one of examples-1.json's documented calls.
type example struct {
	ID     string         `json:"id"`
	Output map[string]any `json:"output"`
}

// envelope says how to wrap a serialised result; the zero value is what
// a server should send.
type envelope struct {
	namespace   string
	noResult    bool
	noRequestID bool
}

// serialize renders output as the server should, by the model: members
// by name (keys the model does not know are written as text, so that
// mutations can add them), lists as <member> elements, JSON numbers as
// integers, strings (timestamps included) as given.
func serialize(m *querytest.Model, op string, output map[string]any, env envelope) []byte {
	ns := env.namespace
	if ns == "" {
		ns = m.Namespace()
	}
	members, _ := m.Output(op)
	var b strings.Builder
	fmt.Fprintf(&b, `<%sResponse xmlns="%s">`, op, ns)
	if !env.noResult {
		fmt.Fprintf(&b, "<%sResult>", op)
		writeStruct(&b, members, output)
		fmt.Fprintf(&b, "</%sResult>", op)
	}
	b.WriteString("<ResponseMetadata>")
	if !env.noRequestID {
		b.WriteString("<RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>")
	}
	fmt.Fprintf(&b, "</ResponseMetadata></%sResponse>", op)
	return []byte(b.String())
}

func writeStruct(b *strings.Builder, members []querytest.Member, v map[string]any) {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var mb *querytest.Member
		for i := range members {
			if members[i].Name == k {
				mb = &members[i]
			}
		}
		writeValue(b, k, mb, v[k])
	}
}

func writeValue(b *strings.Builder, name string, mb *querytest.Member, v any) {
	fmt.Fprintf(b, "<%s>", name)
	switch x := v.(type) {
	case map[string]any:
		var members []querytest.Member
		if mb != nil {
			members = mb.Members
		}
		writeStruct(b, members, x)
	case []any:
		for _, e := range x {
			var el *querytest.Member
			elName := "member"
			if mb != nil && mb.Element != nil {
				el, elName = mb.Element, mb.Element.Name
			}
			writeValue(b, elName, el, e)
		}
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		escape(b, x)
	default:
		panic(fmt.Sprintf("unexpected %T", v))
	}
	fmt.Fprintf(b, "</%s>", name)
}

func escape(b *strings.Builder, s string) {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "\r", "&#xD;")
	_, _ = r.WriteString(b, s)
}

// clone deep-copies a JSON value.
func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = clone(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = clone(e)
		}
		return out
	}
	return v
}

// firstMember finds, depth first in the model's order, the first member
// of output that is present and satisfies ok; it returns the map holding
// it and its name.
func firstMember(members []querytest.Member, output map[string]any, ok func(querytest.Member) bool) (map[string]any, string) {
	for _, mb := range members {
		v, present := output[mb.Name]
		if !present {
			continue
		}
		if ok(mb) {
			return output, mb.Name
		}
		if sub, isMap := v.(map[string]any); isMap {
			if holder, name := firstMember(mb.Members, sub, ok); holder != nil {
				return holder, name
			}
		}
	}
	return nil, ""
}

// mutation breaks a good response; apply returns the body and the words
// the rejection must contain, or ok false when the example has nothing to
// break that way.
type mutation struct {
	name  string
	apply func(m *querytest.Model, op string, out []querytest.Member, output map[string]any) (body []byte, want []string, ok bool)
}

var mutations = []mutation{
	{"drop a required member", func(m *querytest.Model, op string, out []querytest.Member, output map[string]any) ([]byte, []string, bool) {
		holder, name := firstMember(out, output, func(mb querytest.Member) bool { return mb.Required })
		if holder == nil {
			// No required member in the result: the envelope's
			// RequestId is required in every response.
			return serialize(m, op, output, envelope{noRequestID: true}), []string{"missing RequestId"}, true
		}
		delete(holder, name)
		return serialize(m, op, output, envelope{}), []string{"missing required member " + name}, true
	}},
	{"add an unknown element", func(m *querytest.Model, op string, out []querytest.Member, output map[string]any) ([]byte, []string, bool) {
		output["Bogus"] = "x"
		return serialize(m, op, output, envelope{}), []string{op + "Result/Bogus", "unknown element"}, true
	}},
	{"bad timestamp", func(m *querytest.Model, op string, out []querytest.Member, output map[string]any) ([]byte, []string, bool) {
		holder, name := firstMember(out, output, func(mb querytest.Member) bool { return mb.Type == "timestamp" })
		if holder == nil {
			return nil, nil, false
		}
		holder[name] = "15 Jul 2011 23:28"
		return serialize(m, op, output, envelope{}), []string{name, "not an ISO 8601 timestamp"}, true
	}},
	{"timestamp with a space", func(m *querytest.Model, op string, out []querytest.Member, output map[string]any) ([]byte, []string, bool) {
		holder, name := firstMember(out, output, func(mb querytest.Member) bool { return mb.Type == "timestamp" })
		if holder == nil {
			return nil, nil, false
		}
		holder[name] = strings.Replace(holder[name].(string), "T", " ", 1)
		return serialize(m, op, output, envelope{}), []string{name, "not an ISO 8601 timestamp"}, true
	}},
	{"integer not numeric", func(m *querytest.Model, op string, out []querytest.Member, output map[string]any) ([]byte, []string, bool) {
		holder, name := firstMember(out, output, func(mb querytest.Member) bool { return mb.Type == "integer" })
		if holder == nil {
			return nil, nil, false
		}
		holder[name] = "eight"
		return serialize(m, op, output, envelope{}), []string{name, "not a 32-bit decimal integer"}, true
	}},
	{"wrong namespace", func(m *querytest.Model, op string, out []querytest.Member, output map[string]any) ([]byte, []string, bool) {
		return serialize(m, op, output, envelope{namespace: "https://sts.amazonaws.com/doc/2011-06-16/"}), []string{"namespace", op + "Response"}, true
	}},
	{"no result element", func(m *querytest.Model, op string, out []querytest.Member, output map[string]any) ([]byte, []string, bool) {
		return serialize(m, op, output, envelope{noResult: true}), []string{"missing " + op + "Result"}, true
	}},
}

// TestExamplesConformance serialises every documented example output of
// examples-1.json by the model, checks CheckResponse accepts it, then
// breaks it each way in mutations and checks each is rejected naming what
// is wrong.
func TestExamplesConformance(t *testing.T) {
	m := loadSTS(t)
	raw, err := os.ReadFile(filepath.Join(modelDir(t), "examples-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Examples map[string][]example `json:"examples"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var examples, accepted, mutants, rejected int
	for _, op := range slices.Sorted(func(yield func(string) bool) {
		for k := range doc.Examples {
			if !yield(k) {
				return
			}
		}
	}) {
		out, err := m.Output(op)
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range doc.Examples[op] {
			examples++
			t.Run(op+"/"+ex.ID, func(t *testing.T) {
				body := serialize(m, op, ex.Output, envelope{})
				if err := m.CheckResponse(op, body); err != nil {
					t.Errorf("good response rejected: %v\n%s", err, body)
				} else {
					accepted++
				}
				for _, mu := range mutations {
					body, want, ok := mu.apply(m, op, out, clone(ex.Output).(map[string]any))
					if !ok {
						continue
					}
					mutants++
					err := m.CheckResponse(op, body)
					switch {
					case err == nil:
						t.Errorf("%s: accepted\n%s", mu.name, body)
					case !errors.Is(err, querytest.ErrMismatch):
						t.Errorf("%s: %v is not ErrMismatch", mu.name, err)
					case !containsAll(err.Error(), want):
						t.Errorf("%s: rejected with %q, which does not say %q", mu.name, err, want)
					default:
						rejected++
					}
				}
			})
		}
	}
	line := fmt.Sprintf("querytest: examples-1 conformance: %d/%d example outputs accepted, %d/%d mutations rejected",
		accepted, examples, rejected, mutants)
	t.Log(line)
	fmt.Println(line)
	if examples == 0 {
		t.Error("no examples")
	}
}

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

const gcOK = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::123456789012:user/Alice</Arn>
    <UserId>AIDAEXAMPLE</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>`

const assumeOK = `<?xml version="1.0" encoding="UTF-8"?>
<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>` +
	`<Credentials><AccessKeyId>ASIAEXAMPLEEXAMPLE</AccessKeyId><SecretAccessKey>s3cr3t</SecretAccessKey>` +
	`<SessionToken>tok</SessionToken><Expiration>2026-01-01T00:00:00Z</Expiration></Credentials>` +
	`<AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn></AssumedRoleUser>` +
	`<PackedPolicySize>0</PackedPolicySize>` +
	`</AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>`

// TestCheckResponse covers what the examples cannot: hand-made breakage.
func TestCheckResponse(t *testing.T) {
	m := loadSTS(t)
	if err := m.CheckResponse("Nope", []byte(gcOK)); !errors.Is(err, querytest.ErrUnknownOperation) {
		t.Errorf("unknown operation: %v", err)
	}
	for _, tc := range []struct {
		name, op, body string
		want           string // "" when the body must pass
	}{
		{"caller identity", "GetCallerIdentity", gcOK, ""},
		{"assume role", "AssumeRole", assumeOK, ""},
		{"empty result", "GetCallerIdentity", `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult/><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`, ""},
		{"no namespace", "GetCallerIdentity", strings.Replace(gcOK, ` xmlns="https://sts.amazonaws.com/doc/2011-06-15/"`, "", 1), "namespace"},
		{"child in another namespace", "GetCallerIdentity", strings.Replace(gcOK, "<Account>123456789012</Account>", `<Account xmlns="urn:x">123456789012</Account>`, 1), `Account: element is in namespace "urn:x"`},
		{"wrong root", "GetSessionToken", gcOK, "root element is GetCallerIdentityResponse, want GetSessionTokenResponse"},
		{"duplicate member", "GetCallerIdentity", strings.Replace(gcOK, "<Account>", "<Account>1</Account><Account>", 1), "Account: appears more than once"},
		{"empty request id", "GetCallerIdentity", strings.Replace(gcOK, "01234567-89ab-cdef-0123-456789abcdef", " ", 1), "RequestId: is empty"},
		{"no metadata", "GetCallerIdentity", strings.Replace(gcOK, "<ResponseMetadata>\n    <RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId>\n  </ResponseMetadata>", "", 1), "missing ResponseMetadata"},
		{"attribute", "GetCallerIdentity", strings.Replace(gcOK, "<Arn>", `<Arn type="x">`, 1), "attribute type"},
		{"trailing element", "GetCallerIdentity", gcOK + "<x/>", "content after the root"},
		{"doctype", "GetCallerIdentity", "<!DOCTYPE x>" + gcOK, "DTD"},
		{"not xml", "GetCallerIdentity", "{}", "text outside the root element"},
		{"empty", "GetCallerIdentity", "", "no root element"},
		{"truncated", "GetCallerIdentity", gcOK[:60], "not well-formed XML"},
		{"text in structure", "GetCallerIdentity", strings.Replace(gcOK, "<Arn>", "hello<Arn>", 1), "GetCallerIdentityResult: holds text"},
		{"structure where string", "GetCallerIdentity", strings.Replace(gcOK, "<Account>123456789012</Account>", "<Account><Id>1</Id></Account>", 1), "Account: holds elements, but is a string"},
		{"string too short", "AssumeRole", strings.Replace(assumeOK, "AROAEXAMPLE:s", "A", 1), "AssumedRoleId: length 1 is below the model's minimum length 2"},
		{"pattern", "AssumeRole", strings.Replace(assumeOK, "AROAEXAMPLE:s", "AROA EXAMPLE", 1), "AssumedRoleId: \"AROA EXAMPLE\" does not match"},
		{"negative size", "AssumeRole", strings.Replace(assumeOK, "<PackedPolicySize>0", "<PackedPolicySize>-1", 1), "PackedPolicySize: -1 is below the model's minimum 0"},
		{"integer overflow", "AssumeRole", strings.Replace(assumeOK, "<PackedPolicySize>0", "<PackedPolicySize>4294967296", 1), "not a 32-bit decimal integer"},
		{"float for integer", "AssumeRole", strings.Replace(assumeOK, "<PackedPolicySize>0", "<PackedPolicySize>0.5", 1), "PackedPolicySize"},
		{"structure in a sensitive string", "AssumeRole", strings.Replace(assumeOK, "<SecretAccessKey>s3cr3t</SecretAccessKey>", "<SecretAccessKey><x>s3cr3t</x></SecretAccessKey>", 1), "SecretAccessKey: holds elements"},
		{"several problems", "AssumeRole", strings.Replace(strings.Replace(assumeOK, "<SessionToken>tok</SessionToken>", "", 1), "<PackedPolicySize>0", "<PackedPolicySize>x", 1), "missing required member SessionToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := m.CheckResponse(tc.op, []byte(tc.body))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, querytest.ErrMismatch) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrMismatch saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("message shows a sensitive value: %v", err)
			}
		})
	}
}

func TestCheckError(t *testing.T) {
	m := loadSTS(t)
	mk := func(typ, code, msg string) string {
		return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>` + typ + `</Type><Code>` + code +
			`</Code><Message>` + msg + `</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`
	}
	good := mk("Sender", "SignatureDoesNotMatch", "The request signature we calculated does not match")
	for _, tc := range []struct {
		name, body, want string
	}{
		{"sender", good, ""},
		{"receiver", mk("Receiver", "InternalFailure", "oops"), ""},
		{"modelled sender error", mk("Sender", "MalformedPolicyDocument", "bad policy"), ""},
		{"modelled error, wrong fault", mk("Receiver", "MalformedPolicyDocument", "bad policy"), "which the model says is the sender's fault"},
		{"bad type", mk("Client", "X", "m"), `"Client" is neither Sender nor Receiver`},
		{"empty code", mk("Sender", "", "m"), "Code: is empty"},
		{"empty message", mk("Sender", "X", ""), "Message: is empty"},
		{"no request id", strings.Replace(good, "<RequestId>r-1</RequestId>", "", 1), "missing RequestId"},
		{"request id inside error", strings.Replace(strings.Replace(good, "<RequestId>r-1</RequestId>", "", 1), "</Error>", "<RequestId>r</RequestId></Error>", 1), "Error/RequestId: unknown element"},
		{"unknown element", strings.Replace(good, "</Error>", "</Error><Detail/>", 1), "ErrorResponse/Detail: unknown element"},
		{"no namespace", strings.Replace(good, ` xmlns="https://sts.amazonaws.com/doc/2011-06-15/"`, "", 1), "namespace"},
		{"success body", gcOK, "root element is GetCallerIdentityResponse, want ErrorResponse"},
		{"no error", `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><RequestId>r</RequestId></ErrorResponse>`, "missing Error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := m.CheckError([]byte(tc.body))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, querytest.ErrMismatch) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrMismatch saying %q", err, tc.want)
			}
		})
	}
}

func TestLoadModelErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, doc, want string }{
		{"not json", "{", "unexpected end"},
		{"json protocol", `{"metadata":{"protocol":"json","xmlNamespace":"x"}}`, `protocol "json"`},
		{"no namespace", `{"metadata":{"protocol":"query"}}`, "no xmlNamespace"},
		{"dangling ref", `{"metadata":{"protocol":"query","xmlNamespace":"x"},"operations":{"Op":{"input":{"shape":"Nope"}}}}`, `unknown shape "Nope"`},
		{"bad pattern", `{"metadata":{"protocol":"query","xmlNamespace":"x"},"shapes":{"s":{"type":"string","pattern":"\\u12"}}}`, "four hex digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".json")
			if err := os.WriteFile(path, []byte(tc.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := querytest.LoadModel(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := querytest.LoadModel(filepath.Join(dir, "absent.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
}
