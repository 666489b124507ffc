package serve

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/ztgate/ztgate/internal/authn"
	"github.com/ztgate/ztgate/internal/config"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/iamapi"
	"github.com/ztgate/ztgate/internal/session"
	"github.com/ztgate/ztgate/internal/sigv4"
	"github.com/ztgate/ztgate/internal/sts"
	"github.com/ztgate/ztgate/internal/webidentity"
)

// account is the deployment's account id.
func (n *node) account() string {
	if n.cfg.IAM.Account != "" {
		return n.cfg.IAM.Account
	}
	return iam.DefaultAccount
}

// declaration is what the configuration declares in iam.
func declaration(c config.IAM) iam.Declaration {
	inline := func(ps []config.InlinePolicy) map[string]string {
		if len(ps) == 0 {
			return nil
		}
		m := make(map[string]string, len(ps))
		for _, p := range ps {
			m[p.Name] = p.Document
		}
		return m
	}
	tags := func(ts []config.Tag) []iam.Tag {
		var out []iam.Tag
		for _, t := range ts {
			out = append(out, iam.Tag{Key: t.Key, Value: t.Value})
		}
		return out
	}
	var d iam.Declaration
	for _, p := range c.Policies {
		d.Policies = append(d.Policies, iam.ManagedPolicy{Name: p.Name, Path: p.Path, Description: p.Description, Document: p.Document})
	}
	for _, g := range c.Groups {
		d.Groups = append(d.Groups, iam.Group{Name: g.Name, Path: g.Path, Attachments: iam.Attachments{Inline: inline(g.Policies), Attached: g.ManagedPolicies}})
	}
	for _, u := range c.Users {
		d.Users = append(d.Users, iam.User{Name: u.Name, Path: u.Path, Groups: u.Groups, Tags: tags(u.Tags),
			Attachments: iam.Attachments{Inline: inline(u.Policies), Attached: u.ManagedPolicies, Boundary: u.PermissionsBoundary}})
	}
	for _, r := range c.Roles {
		d.Roles = append(d.Roles, iam.Role{Name: r.Name, Path: r.Path, Description: r.Description, TrustPolicy: r.TrustPolicy,
			MaxSessionDuration: r.MaxSessionDuration.D(), Tags: tags(r.Tags),
			Attachments: iam.Attachments{Inline: inline(r.Policies), Attached: r.ManagedPolicies, Boundary: r.PermissionsBoundary}})
	}
	return d
}

// webIdentity builds the verifier of AssumeRoleWithWebIdentity tokens;
// nil when no issuer is configured.
func webIdentity(c config.WebIdentity, log *slog.Logger) (sts.WebIdentity, error) {
	if len(c.Issuers) == 0 {
		return nil, nil
	}
	var is []webidentity.Issuer
	for _, i := range c.Issuers {
		is = append(is, webidentity.Issuer{URL: i.URL, JWKSURL: i.JWKSURL, Audiences: i.Audiences})
	}
	v, err := webidentity.New(webidentity.Config{Issuers: is, Log: log})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// query serves the AWS query APIs on POST /: a request signed for the
// service "iam" goes to IAM, every other one to STS (which answers
// unsigned AssumeRoleWithWebIdentity calls and refuses the rest). The
// claimed scope only routes: each handler verifies the signature for its
// own service.
func (n *node) query(w http.ResponseWriter, r *http.Request) {
	stsH, iamH := n.apis()
	if stsH == nil {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write((&sigv4.Error{Code: "ServiceUnavailable", Message: "The store is not available yet.", HTTPStatus: http.StatusServiceUnavailable}).XML(""))
		return
	}
	if authn.ClaimedScope(r).Service == "iam" && iamH != nil {
		iamH.ServeHTTP(w, r)
		return
	}
	stsH.ServeHTTP(w, r)
}

// presigned serves GET / when it carries a query-API call (a presigned
// URL, or parameters in the query string); any other GET / is not found.
func (n *node) presigned(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("Action") && !q.Has("X-Amz-Credential") {
		http.NotFound(w, r)
		return
	}
	n.query(w, r)
}

// apis returns the STS and IAM handlers, made once the store is open.
func (n *node) apis() (*sts.Handler, http.Handler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stsH == nil && n.st != nil {
		tokens := n.tokens
		keys := session.KeyStore{Keys: n.iam, Tokens: tokens, Revoked: &n.revoked}
		verifier := func(service string) *authn.Authenticator {
			return authn.New(authn.Config{
				Verifier: &sigv4.Verifier{Keys: keys, Service: service, MaxSkew: n.maxSkew()},
				Users:    n.iam,
				Tokens:   tokens,
				Policies: n.policies,
			})
		}
		n.stsH = sts.New(sts.Config{
			Authenticator: verifier("sts"),
			Roles:         n.iam,
			Policies:      n.policies,
			Tokens:        tokens,
			WebIdentity:   n.web,
			Account:       n.account(),
			Audit:         n.audit,
			Log:           n.log,
		})
		n.iamH = n.newIAMHandler(verifier("iam"))
	}
	return n.stsH, n.iamH
}

// maxSkew is how far a signed request's time may be from now.
func (n *node) maxSkew() time.Duration { return n.cfg.STS.MaxClockSkew.D() }

// newIAMHandler makes the IAM query API's handler.
func (n *node) newIAMHandler(a *authn.Authenticator) http.Handler {
	return iamapi.New(iamapi.Config{Authenticator: a, Directory: n.iam, Policies: n.policies, Audit: n.audit, Log: n.log})
}
