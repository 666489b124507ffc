// Package workload generates the policy workload that ztgate's decision
// benchmarks run, the same for ztgate and for the engines it is measured
// against: a principal with five attached policies of ten statements each,
// with IP-address, date, string and tag conditions, among any number of
// other principals' policies of the same shape.
package workload

import (
	"encoding/json"
	"fmt"
	"time"
)

// Account is the workload's account.
const Account = "111122223333"

// Statement is one statement, in a form every engine can express.
type Statement struct {
	Sid       string
	Allow     bool
	Actions   []string // literal actions, or "svc:Prefix*"
	Resources []string // ARN patterns with *
	// Conditions, all required when set.
	SourceCIDR  string    // IpAddress aws:SourceIp
	NotAfter    time.Time // DateLessThan aws:CurrentTime
	Team        string    // StringEquals aws:PrincipalTag/team
	Environment string    // StringEquals aws:ResourceTag/env
}

// Policy is one named policy attached to one principal.
type Policy struct {
	Name       string
	Principal  string // user name
	Statements []Statement
}

// Request is the request every engine decides.
type Request struct {
	Principal   string // user name
	Action      string
	Resource    string
	SourceIP    string
	Time        time.Time
	Team        string
	Environment string
}

// Target is the principal whose request is decided.
const Target = "alice"

var services = []string{"s3", "dynamodb", "sqs", "sns", "kms", "lambda", "ec2", "logs", "http", "secretsmanager"}

// policiesFor builds the five policies of one principal.
func policiesFor(user string, seed int) []Policy {
	expiry := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []Policy
	for p := 0; p < 5; p++ {
		pol := Policy{Name: fmt.Sprintf("%s-policy-%d", user, p), Principal: user}
		for s := 0; s < 10; s++ {
			svc := services[(p*10+s+seed)%len(services)]
			st := Statement{
				Sid:         fmt.Sprintf("P%dS%d", p, s),
				Allow:       true,
				Actions:     []string{fmt.Sprintf("%s:Get%d", svc, s), fmt.Sprintf("%s:List%d", svc, s)},
				Resources:   []string{fmt.Sprintf("arn:aws:%s:::%s-res-%d-%d/*", svc, user, p, s)},
				SourceCIDR:  fmt.Sprintf("10.%d.0.0/16", s),
				NotAfter:    expiry,
				Team:        "payments",
				Environment: "prod",
			}
			switch s {
			case 3: // a service-wide read with a wildcard action
				st.Actions = []string{svc + ":Describe*"}
			case 9: // a guard: no deleting, anywhere
				st.Allow = false
				st.Actions = []string{"s3:DeleteObject"}
				st.Resources = []string{"*"}
				st.SourceCIDR, st.Team, st.Environment = "", "", ""
				st.NotAfter = time.Time{}
			}
			pol.Statements = append(pol.Statements, st)
		}
		out = append(out, pol)
	}
	// The statement the request is allowed by: in the fourth policy.
	if user == Target {
		out[3].Statements[5] = Statement{
			Sid: "ReadReports", Allow: true,
			Actions:     []string{"s3:GetObject"},
			Resources:   []string{"arn:aws:s3:::reports/*"},
			SourceCIDR:  "10.1.0.0/16",
			NotAfter:    expiry,
			Team:        "payments",
			Environment: "prod",
		}
	}
	return out
}

// Generate returns the target's five policies and others, the policies of
// other principals, so that there are total policies in all (at least 5).
func Generate(total int) (target, others []Policy) {
	target = policiesFor(Target, 0)
	for i := 0; len(others)+len(target) < total; i++ {
		for _, p := range policiesFor(fmt.Sprintf("user%06d", i), i+1) {
			if len(others)+len(target) == total {
				break
			}
			others = append(others, p)
		}
	}
	return target, others
}

// TheRequest is the request decided: allowed by the target's ReadReports
// statement.
func TheRequest() Request {
	return Request{
		Principal:   Target,
		Action:      "s3:GetObject",
		Resource:    "arn:aws:s3:::reports/2026/q3.csv",
		SourceIP:    "10.1.2.3",
		Time:        time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC),
		Team:        "payments",
		Environment: "prod",
	}
}

// PrincipalARN returns a user's ARN.
func PrincipalARN(user string) string { return "arn:zt:iam::" + Account + ":user/" + user }

// JSON returns the policy as an IAM policy document.
func (p Policy) JSON() []byte {
	type cond map[string]map[string]any
	type stmt struct {
		Sid       string
		Effect    string
		Action    []string
		Resource  []string
		Condition cond `json:",omitempty"`
	}
	doc := struct {
		Version   string
		Statement []stmt
	}{Version: "2012-10-17"}
	for _, s := range p.Statements {
		st := stmt{Sid: s.Sid, Effect: "Deny", Action: s.Actions, Resource: s.Resources}
		if s.Allow {
			st.Effect = "Allow"
		}
		c := cond{}
		add := func(op, key, v string) {
			if c[op] == nil {
				c[op] = map[string]any{}
			}
			c[op][key] = v
		}
		if s.SourceCIDR != "" {
			add("IpAddress", "aws:SourceIp", s.SourceCIDR)
		}
		if !s.NotAfter.IsZero() {
			add("DateLessThan", "aws:CurrentTime", s.NotAfter.Format(time.RFC3339))
		}
		if s.Team != "" {
			add("StringEquals", "aws:PrincipalTag/team", s.Team)
		}
		if s.Environment != "" {
			add("StringEquals", "aws:ResourceTag/env", s.Environment)
		}
		if len(c) > 0 {
			st.Condition = c
		}
		doc.Statement = append(doc.Statement, st)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}
