package policy

import (
	"strings"
	"testing"
)

// TestEvaluable: documents AWS accepts (Check passes them) whose
// conditions can never match are accepted, with a warning where the value
// is written; a malformed policy variable, which ztgate cannot evaluate,
// is a problem.
func TestEvaluable(t *testing.T) {
	const head = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "http:GET", `
	cases := []struct {
		name, tail, want string
		never            bool // a warning, not a problem
	}{
		{"no values", `"Resource": "*", "Condition": {"StringEquals": {"zt:X": []}}}]}`, `has no values`, true},
		{"date", `"Resource": "*", "Condition": {"DateGreaterThan": {"aws:CurrentTime": "01T"}}}]}`, `not a date`, true},
		{"number", `"Resource": "*", "Condition": {"NumericLessThan": {"zt:RiskScore": "forty"}}}]}`, `not a number`, true},
		{"bool", `"Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "yes"}}}]}`, `true or false`, true},
		{"null", `"Resource": "*", "Condition": {"Null": {"zt:X": "yes"}}}]}`, `"yes"`, true},
		{"cidr", `"Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "10.0.0.0/33"]}}}]}`, `10.0.0.0/33`, true},
		{"base64", `"Resource": "*", "Condition": {"BinaryEquals": {"zt:X": "%%%"}}}]}`, `base64`, true},
		{"empty variable", `"Resource": "arn:zt:gateway::111122223333:route/${}"}]}`, `variable`, false},
		{"default in double quotes", `"Resource": "arn:zt:gateway::111122223333:route/${aws:username, \"g\"}"}]}`, `variable`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := head + tc.tail
			if _, errs := Check([]byte(doc), Identity); len(errs) > 0 {
				t.Fatalf("Check: %v (the case needs a document AWS accepts)", errs)
			}
			d, errs := CheckEvaluable([]byte(doc), Identity)
			_, warns := Assess(d)
			got, msg := errs, MsgUnevaluable
			if tc.never {
				got, msg = warns, MsgNeverMatches
				if len(errs) > 0 {
					t.Fatalf("CheckEvaluable: %v, want none (AWS accepts it)", errs)
				}
			}
			if len(got) != 1 {
				t.Fatalf("problems %v, warnings %v; want one", errs, warns)
			}
			e := got[0]
			if e.Msg != msg || !strings.Contains(e.Detail, tc.want) {
				t.Errorf("got %q (%q), want %q mentioning %q", e.Msg, e.Detail, msg, tc.want)
			}
			if e.Pos.Line != 1 || e.Pos.Col <= len(head) {
				t.Errorf("at %v, want a position in the statement's tail", e.Pos)
			}
		})
	}
	// Where the cause is one of several values, the position is that value's.
	doc := "{\"Version\": \"2012-10-17\", \"Statement\": {\"Effect\": \"Allow\", \"Action\": \"http:GET\", \"Resource\": \"*\",\n" +
		"  \"Condition\": {\"IpAddress\": {\"aws:SourceIp\": [\n    \"10.0.0.0/8\",\n    \"10.0.0.0/33\"]}}}}"
	d, _ := CheckEvaluable([]byte(doc), Identity)
	if _, warns := Assess(d); len(warns) != 1 || warns[0].Pos.Line != 4 || warns[0].Pos.Col != 5 {
		t.Errorf("warnings %v, want one at 4:5", warns)
	}
	// Policy version 2008-10-17 reads "${}" as text.
	old := `{"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "http:GET", "Resource": "arn:zt:gateway::111122223333:route/${}"}}`
	pd, errs := parse([]byte(old))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if errs, _ := Assess(pd); len(errs) > 0 {
		t.Errorf("2008-10-17: %v", errs)
	}
	ok := head + `"Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "Null": {"zt:X": "false"}}}]}`
	d, errs = CheckEvaluable([]byte(ok), Identity)
	if _, warns := Assess(d); len(errs) > 0 || len(warns) > 0 {
		t.Errorf("a sound document: %v %v", errs, warns)
	}
}

func TestSize(t *testing.T) {
	cases := []struct {
		doc  string
		want int
	}{
		{`{"a":"b"}`, 9},
		{"{\n  \"a\" : \"b\"\n}\n", 9},
		{`{"a":"b c"}`, 11},            // white space in a string counts
		{`{"a":"b\" c", "d" : 1}`, 19}, // an escaped quote does not end the string
		{`{"a":"b\\", "c" : 1}`, 17},   // an escaped backslash does not escape the quote
	}
	for _, tc := range cases {
		if got := Size([]byte(tc.doc)); got != tc.want {
			t.Errorf("Size(%q) = %d, want %d", tc.doc, got, tc.want)
		}
	}
}

// TestPrincipalARNs: only what can be a principal is accepted in a
// Principal element: AWS refuses the rest with "Invalid principal in
// policy".
func TestPrincipalARNs(t *testing.T) {
	doc := func(p string) []byte {
		return []byte(`{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": "` + p + `"}, "Action": "http:GET", "Resource": "*"}}`)
	}
	for p, ok := range map[string]bool{
		"arn:zt:iam::111122223333:root":                        true,
		"arn:zt:iam::111122223333:user/alice":                  true,
		"arn:zt:iam::111122223333:user/division/alice":         true,
		"arn:zt:iam::111122223333:role/deployer":               true,
		"arn:zt:sts::111122223333:assumed-role/deployer/ci-42": true,
		"arn:zt:sts::111122223333:federated-user/bob":          true,
		"111122223333":                                         true,
		"arn:zt:iam::111122223333:group/admins":                false,
		"arn:zt:iam::111122223333:policy/p":                    false,
		"arn:zt:iam::111122223333:instance-profile/web":        false,
		"arn:zt:iam::111122223333:user/":                       false,
		"arn:zt:iam::111122223333:role/":                       false,
		"arn:zt:sts::111122223333:assumed-role/deployer":       false,
		"arn:zt:sts::111122223333:assumed-role/deployer/":      false,
		"arn:zt:sts::111122223333:assumed-role/deployer/ci/42": false,
		"arn:zt:iam::111122223333:user/ali*":                   false,
		"arn:zt:sts::111122223333:role/deployer":               false,
		"arn:zt:iam::11112222333:user/alice":                   false,
	} {
		_, errs := Check(doc(p), Resource)
		if got := len(errs) == 0; got != ok {
			t.Errorf("%s: accepted %v, want %v (%v)", p, got, ok, errs)
		}
		if !ok && len(errs) > 0 && !strings.HasPrefix(errs[0].Msg, "Invalid principal in policy") {
			t.Errorf("%s: %v", p, errs)
		}
	}
}

// TestEvaluableValueOrder: a malformed policy variable is a problem
// wherever it stands in a value list, after a value that only makes the
// condition never match as well as before it.
func TestEvaluableValueOrder(t *testing.T) {
	for _, vals := range []string{`["yes", "${}"]`, `["${}", "yes"]`} {
		doc := `{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": ` + vals + `}}}}`
		if _, errs := CheckEvaluable([]byte(doc), Identity); len(errs) != 1 || errs[0].Msg != MsgUnevaluable {
			t.Errorf("%s: %v, want the malformed variable", vals, errs)
		}
	}
}
