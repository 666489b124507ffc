package bench

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/ztgate/ztgate/internal/authz/workload"
)

//go:embed ztgate.rego
var regoModule string

// OPA is Open Policy Agent with the workload's statements as data,
// grouped by user, and one prepared query for data.ztgate.allow.
type OPA struct{ query rego.PreparedEvalQuery }

var _ Engine = (*OPA)(nil)

// BuildOPA loads the statements into an in-memory store that holds AST
// values, so that no query converts data (OPA's fastest store), and
// prepares the query.
func BuildOPA(ps []workload.Policy) (Engine, error) {
	byUser := map[string][]*ast.Term{}
	for _, p := range ps {
		for _, s := range p.Statements {
			t, err := opaStatement(s)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", p.Name, s.Sid, err)
			}
			byUser[p.Principal] = append(byUser[p.Principal], t)
		}
	}
	users := ast.NewObject()
	for u, sts := range byUser {
		users.Insert(ast.StringTerm(u), ast.ArrayTerm(sts...))
	}
	store := inmem.NewFromASTObject(ast.NewObject(ast.Item(ast.StringTerm("statements"), ast.NewTerm(users))))
	q, err := rego.New(
		rego.Query("data.ztgate.allow"),
		rego.Module("ztgate.rego", regoModule),
		rego.Store(store),
	).PrepareForEval(context.Background())
	if err != nil {
		return nil, err
	}
	return &OPA{query: q}, nil
}

func opaStatement(s workload.Statement) (*ast.Term, error) {
	strs := func(ss []string, lower bool) ([]*ast.Term, error) {
		var ts []*ast.Term
		for _, v := range ss {
			// glob.match gives meaning to more than IAM's * and ?.
			if strings.ContainsAny(v, `[]{}\`) {
				return nil, fmt.Errorf("pattern %q not expressible as a glob", v)
			}
			if lower {
				v = strings.ToLower(v)
			}
			ts = append(ts, ast.StringTerm(v))
		}
		return ts, nil
	}
	actions, err := strs(s.Actions, true)
	if err != nil {
		return nil, err
	}
	resources, err := strs(s.Resources, false)
	if err != nil {
		return nil, err
	}
	o := ast.NewObject(
		ast.Item(ast.StringTerm("allow"), ast.BooleanTerm(s.Allow)),
		ast.Item(ast.StringTerm("actions"), ast.ArrayTerm(actions...)),
		ast.Item(ast.StringTerm("resources"), ast.ArrayTerm(resources...)),
	)
	if s.SourceCIDR != "" {
		o.Insert(ast.StringTerm("source_cidr"), ast.StringTerm(s.SourceCIDR))
	}
	if !s.NotAfter.IsZero() {
		o.Insert(ast.StringTerm("not_after_ns"), ast.IntNumberTerm(int(s.NotAfter.UnixNano())))
	}
	if s.Team != "" {
		o.Insert(ast.StringTerm("team"), ast.StringTerm(s.Team))
	}
	if s.Environment != "" {
		o.Insert(ast.StringTerm("env"), ast.StringTerm(s.Environment))
	}
	return ast.NewTerm(o), nil
}

// Prepare builds the input as an AST value, so that no decision
// converts it.
func (o *OPA) Prepare(r workload.Request) (Prepared, error) {
	in := ast.NewObject(
		ast.Item(ast.StringTerm("principal"), ast.StringTerm(r.Principal)),
		ast.Item(ast.StringTerm("action"), ast.StringTerm(r.Action)),
		ast.Item(ast.StringTerm("resource"), ast.StringTerm(r.Resource)),
		ast.Item(ast.StringTerm("source_ip"), ast.StringTerm(r.SourceIP)),
		ast.Item(ast.StringTerm("now_ns"), ast.IntNumberTerm(int(r.Time.UnixNano()))),
		ast.Item(ast.StringTerm("principal_tags"), ast.ObjectTerm(ast.Item(ast.StringTerm("team"), ast.StringTerm(r.Team)))),
		ast.Item(ast.StringTerm("resource_tags"), ast.ObjectTerm(ast.Item(ast.StringTerm("env"), ast.StringTerm(r.Environment)))),
	)
	return &opaRequest{query: o.query, input: in}, nil
}

type opaRequest struct {
	query rego.PreparedEvalQuery
	input ast.Value
}

func (r *opaRequest) Allowed() (bool, error) {
	rs, err := r.query.Eval(context.Background(), rego.EvalParsedInput(r.input))
	if err != nil {
		return false, err
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return false, fmt.Errorf("opa: unexpected result %v", rs)
	}
	allowed, ok := rs[0].Expressions[0].Value.(bool)
	if !ok {
		return false, fmt.Errorf("opa: allow is %v", rs[0].Expressions[0].Value)
	}
	return allowed, nil
}
