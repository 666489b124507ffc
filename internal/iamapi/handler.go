package iamapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authn"
	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/awsquery"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/sigv4"
)

// MaxBody is the largest request body read. IAM requests are forms of at
// most a few policy documents.
const MaxBody = 1 << 20

// Version is the IAM API version.
const Version = "2010-05-08"

// Service is the SigV4 service name IAM requests are signed for.
const Service = "iam"

// Authenticator verifies a request's signature and names its caller.
type Authenticator interface {
	Authenticate(r *http.Request, body []byte) (*authn.Caller, error)
}

var _ Authenticator = (*authn.Authenticator)(nil)

// Policies gives the policy snapshot decisions are made with and rebuilds
// it after a write, so that the node's next request sees the change.
type Policies interface {
	Snapshot() *authz.Snapshot
	Refresh(ctx context.Context) error
}

var _ Policies = (*iam.Policies)(nil)

// Config is what a Handler needs.
type Config struct {
	Authenticator Authenticator
	Directory     *iam.Directory
	Policies      Policies
	Audit         audit.Recorder
	Log           *slog.Logger     // discarded when nil
	Clock         func() time.Time // the time simulations are made at; time.Now when nil
}

// Handler serves IAM on POST /.
type Handler struct {
	auth     Authenticator
	dir      *iam.Directory
	policies Policies
	audit    audit.Recorder
	log      *slog.Logger
	clock    func() time.Time
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler.
func New(c Config) *Handler {
	h := &Handler{auth: c.Authenticator, dir: c.Directory, policies: c.Policies, audit: c.Audit, log: c.Log, clock: c.Clock}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.clock == nil {
		h.clock = time.Now
	}
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := requestID()
	w.Header().Set("x-amzn-RequestId", id)
	key, region := claimedScope(r)
	actor := audit.Actor{
		Identity:   audit.UserIdentity{Type: "Unknown", AccessKeyID: key},
		Region:     region,
		SourceIP:   authn.SourceIP(r),
		UserAgent:  r.UserAgent(),
		AuthMethod: "sigv4",
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		h.refuse(w, r, id, actor, "Unknown", errMethod)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.refuse(w, r, id, actor, "Unknown", errTooLarge)
		}
		return // else the client went away
	}
	// The query protocol takes its parameters from the body, or from the
	// URL when there is none (a GET, a presigned URL sent as a POST), as
	// AWS's IAM endpoint does.
	src := body
	if len(body) == 0 && r.URL.RawQuery != "" {
		src = []byte(r.URL.RawQuery)
	}
	params, perr := awsquery.Parse(src)
	action := params.Get("Action")
	caller, err := h.auth.Authenticate(r, body)
	if err == nil && caller.Signature != nil && caller.Signature.Service != Service {
		// The node routes by the credential scope's service: this is a
		// misroute, answered as AWS answers a wrongly scoped signature.
		err = &sigv4.Error{Code: sigv4.CodeSignatureDoesNotMatch, Message: "Credential should be scoped to correct service: '" + Service + "'. ", HTTPStatus: http.StatusForbidden}
	}
	if err != nil {
		var e *sigv4.Error
		if !errors.As(err, &e) {
			h.log.Error("iam: authenticating a request failed", "err", err, "request_id", id)
			writeError(w, id, errInternal)
			return
		}
		h.refuse(w, r, id, actor, action, &Error{Code: e.Code, Message: e.Message, StatusCode: e.HTTPStatus})
		return
	}
	actor.Identity = caller.Identity()
	if caller.Signature != nil {
		actor.Region = caller.Signature.Region
	}
	if perr != nil {
		e := errBadForm
		if errors.Is(perr, awsquery.ErrInvalid) {
			e = invalidParam(perr)
		}
		h.refuse(w, r, id, actor, action, e)
		return
	}
	o := ops[action]
	if o == nil || (params.Has("Version") && params.Get("Version") != Version) {
		h.refuse(w, r, id, actor, action, &Error{
			Code:       "InvalidAction",
			Message:    fmt.Sprintf("Could not find operation %s for version %s", clip(action), clip(params.Get("Version"))),
			StatusCode: http.StatusBadRequest,
		})
		return
	}
	c := &call{h: h, ctx: r.Context(), id: id, op: o, params: params, caller: caller, actor: actor}
	var result any
	err = c.validate()
	if err == nil {
		err = c.storedNames()
	}
	if err == nil {
		result, err = o.run(c)
	}
	c.finish(w, result, err)
}

// call is one authenticated request being served.
type call struct {
	h      *Handler
	ctx    context.Context
	id     string
	op     *op
	params awsquery.Params
	caller *authn.Caller
	actor  audit.Actor

	// names are name parameters given in another case than the entity's,
	// by parameter, as stored.
	names map[string]string

	// Parsed aggregate parameters.
	lists   map[string][]string
	tags    []iam.Tag
	entries []contextEntry

	// What authorization decided, once it has.
	decided   bool
	decision  authz.Decision
	explicit  bool // an explicit deny
	resources []audit.Resource

	// response is what the audit record says was made (never a secret).
	response map[string]any
	// undo reverses a write whose audit record could not be written,
	// where that is possible.
	undo func(context.Context) error
}

// finish refreshes the policy snapshot after a write, audits the call and
// answers. A call whose record cannot be written is refused.
// refuse answers a request refused before any action ran (unsigned,
// malformed, an unknown action, the wrong method), and records it:
// every call, made or refused, is on record.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, id string, actor audit.Actor, action string, e *Error) {
	if action == "" {
		action = "Unknown"
	}
	rerr := h.audit.Record(context.WithoutCancel(r.Context()), audit.AuthFailureEvent{
		Actor: actor, Source: audit.SourceIAM, Name: clip(action), RequestID: id,
		Code: e.Code, Message: e.Message,
	}.Record())
	if rerr != nil {
		h.log.Error("iam: auditing a refused request failed", "err", rerr, "request_id", id)
	}
	writeError(w, id, e)
}

func (c *call) finish(w http.ResponseWriter, result any, err error) {
	h := c.h
	// What is done is refreshed and recorded even if the client has gone.
	ctx := context.WithoutCancel(c.ctx)
	var e *Error
	if err != nil {
		var public bool
		e, public = publicError(err)
		if !public {
			h.log.Error("iam: an action failed", "action", c.op.action, "err", err, "request_id", c.id)
		}
	}
	if e == nil && !c.decided {
		// Every action authorizes before it acts; one that did not is a
		// bug, and its result is not released.
		h.log.Error("iam: an action ran without an authorization decision", "action", c.op.action, "request_id", c.id)
		e = errInternal
	}
	if e == nil && c.op.write && !strings.Contains(c.op.action, "AccessKey") {
		// Access keys are not in the snapshot: the key cache follows
		// the directory's own writes and the change feed.
		if rerr := h.policies.Refresh(ctx); rerr != nil {
			// The change is stored; the node's watcher will rebuild.
			h.log.Error("iam: rebuilding the policy snapshot after a write failed", "action", c.op.action, "err", rerr, "request_id", c.id)
		}
	}
	if rec := c.record(e); rec != nil {
		if aerr := h.audit.Record(ctx, rec); aerr != nil {
			h.log.Error("iam: auditing a call failed; refusing it", "action", c.op.action, "err", aerr, "request_id", c.id)
			if e == nil && c.op.write {
				c.rollback()
			}
			e = errInternal
		}
	}
	if e != nil {
		writeError(w, c.id, e)
		return
	}
	if err := writeResult(w, c.id, c.op.action, result); err != nil {
		h.log.Error("iam: writing a response failed", "action", c.op.action, "err", err, "request_id", c.id)
	}
}

// rollback undoes a write that could not be audited, where it can be
// undone; where it cannot, the log says what stays unaudited.
func (c *call) rollback() {
	if c.undo == nil {
		c.h.log.Error("iam: a change was made that could not be audited", "action", c.op.action, "resources", c.resources, "params", c.params, "request_id", c.id)
		return
	}
	if err := c.undo(context.WithoutCancel(c.ctx)); err != nil { // the client may be gone
		c.h.log.Error("iam: undoing an unaudited change failed", "action", c.op.action, "resources", c.resources, "err", err, "request_id", c.id)
	}
}

// record is the call's audit record: an administrative event for every
// write, made or refused, and a decision for every read that was decided.
// A read refused before any decision (a missing parameter) is not a use
// of privilege and is not recorded.
func (c *call) record(e *Error) *audit.Record {
	var matched []audit.Statement
	for _, s := range c.decision.Matched() {
		effect := "Deny"
		if s.Allow {
			effect = "Allow"
		}
		matched = append(matched, audit.Statement{Policy: s.Policy.Name, Sid: s.Sid, Index: s.Index, Effect: effect})
	}
	if c.op.write {
		ev := audit.AdminEvent{
			Actor: c.actor, Source: audit.SourceIAM, Name: c.op.action, RequestID: c.id,
			Resources: c.resources, Matched: matched, Parameters: c.auditParams(),
		}
		if e != nil {
			ev.Code, ev.Message = e.Code, e.Message
		} else {
			ev.Response = c.response
		}
		rec := ev.Record()
		rec.ZTGate.Action = "iam:" + c.op.action
		switch {
		case !c.decided:
			rec.ZTGate.Decision = "" // refused before any decision
		case c.explicit:
			rec.ZTGate.Decision = audit.ExplicitDeny
		case c.decision.Effect != authz.Allowed:
			rec.ZTGate.Decision = audit.ImplicitDeny
			rec.ZTGate.BlockedBy = blockedBy(c.decision)
		}
		return rec
	}
	if !c.decided {
		if e == nil {
			return nil
		}
		// Refused before any decision (a parameter that fails its
		// constraint): on record all the same.
		return audit.AuthFailureEvent{
			Actor: c.actor, Source: audit.SourceIAM, Name: c.op.action, RequestID: c.id,
			Code: e.Code, Message: e.Message,
		}.Record()
	}
	ev := audit.DecisionEvent{
		Actor: c.actor, Source: audit.SourceIAM, Name: c.op.action, RequestID: c.id,
		Action: "iam:" + c.op.action, Resources: c.resources, Decision: c.decision.Effect.String(),
		Matched: matched, ReadOnly: true, Parameters: c.auditParams(),
	}
	if c.decision.Effect == authz.ImplicitDeny {
		ev.BlockedBy = blockedBy(c.decision)
	}
	return ev.Record()
}

func blockedBy(d authz.Decision) string {
	if d.BlockedBy == authz.NoLayer {
		return authz.LayerIdentity.String()
	}
	return d.BlockedBy.String()
}

// Resource types, as CloudTrail names them.
const (
	typeUser   = "AWS::IAM::User"
	typeRole   = "AWS::IAM::Role"
	typeGroup  = "AWS::IAM::Group"
	typePolicy = "AWS::IAM::Policy"
)

// authorize decides iam:<Action> on resource for the caller, with the
// condition keys the request adds, and refuses it with AWS's wording.
func (c *call) authorize(resource, typ string) error {
	action := "iam:" + c.op.action
	if resource != "*" {
		c.resources = append(c.resources, audit.Resource{ARN: resource, AccountID: c.h.dir.Account(), Type: typ})
	}
	if s := c.caller.Session; s != nil && s.Role == nil && !s.MFA {
		// AWS: credentials from GetSessionToken call no IAM operation
		// unless MFA was part of the request that got them, so that a
		// leaked session token cannot mint long-term keys for itself.
		c.decided, c.decision = true, authz.Decision{Effect: authz.ImplicitDeny}
		return accessDenied(c.caller.ARN, action, resource, "because temporary credentials from sts:GetSessionToken without MFA cannot call the IAM API")
	}
	snap := c.h.policies.Snapshot()
	d := c.caller.Decide(snap, action, resource, "")
	c.decided, c.decision = true, d
	switch d.Effect {
	case authz.Allowed:
		return nil
	case authz.ExplicitDeny:
		c.explicit = true
		return accessDenied(c.caller.ARN, action, c.asGiven(resource), "with an explicit deny in "+c.denyingPolicy(snap, action, resource, d))
	}
	return accessDenied(c.caller.ARN, action, c.asGiven(resource), "because no "+layerName(blockedLayer(d))+" allows the "+action+" action")
}

// asGiven writes a resource ARN named by a stored name (storedNames) with
// the name as the request gave it, for a refused caller: that "ADMIN" is
// the user admin tells that admin exists, which is not its to learn.
func (c *call) asGiven(resource string) string {
	for param, stored := range c.names {
		if prefix, ok := strings.CutSuffix(resource, "/"+stored); ok {
			return prefix + "/" + c.params.Get(param)
		}
	}
	return resource
}

func blockedLayer(d authz.Decision) authz.Layer {
	if d.BlockedBy == authz.NoLayer {
		return authz.LayerIdentity
	}
	return d.BlockedBy
}

// layerName names a layer as AWS's denial messages do.
func layerName(l authz.Layer) string {
	switch l {
	case authz.LayerBoundary:
		return "permissions boundary"
	case authz.LayerSession:
		return "session policy"
	case authz.LayerGuardrail:
		return "service control policy"
	case authz.LayerResourceGuardrail:
		return "resource control policy"
	case authz.LayerResource:
		return "resource-based policy"
	case authz.LayerEndpoint:
		return "VPC endpoint policy"
	}
	return "identity-based policy"
}

// denyingPolicy names the kind of policy whose statement denied, "an
// identity-based policy" unless the statement is found in another layer.
func (c *call) denyingPolicy(snap *authz.Snapshot, action, resource string, d authz.Decision) string {
	m := d.Matched()
	if len(m) == 0 || snap == nil {
		return "an identity-based policy"
	}
	ps := snap.Policies(c.caller.Request(action, resource), "", c.caller.SessionPolicies)
	p := m[0].Policy
	in := func(s *authz.Set) bool {
		if s == nil {
			return false
		}
		for _, q := range s.Policies {
			if q == p {
				return true
			}
		}
		return false
	}
	switch {
	case in(ps.Identity):
		return "an identity-based policy"
	case in(ps.Boundary):
		return "a permissions boundary"
	case in(ps.Session):
		return "a session policy"
	}
	for _, g := range ps.Guardrails {
		if in(g) {
			return "a service control policy"
		}
	}
	return "an identity-based policy"
}

// setContext adds a condition key of the request to the caller's context
// before the decision.
func (c *call) setContext(key, value string) { c.caller.Context.SetString(key, value) }

// setResourceTags adds the target's tags as aws:ResourceTag/… keys.
func (c *call) setResourceTags(ts []iam.Tag) {
	for _, t := range ts {
		c.setContext("aws:ResourceTag/"+t.Key, t.Value)
	}
}

// setRequestTags adds the request's tags as aws:RequestTag/… and
// aws:TagKeys.
func (c *call) setRequestTags(ts []iam.Tag) {
	if len(ts) == 0 {
		return
	}
	ks := make([]string, len(ts))
	for i, t := range ts {
		c.setContext("aws:RequestTag/"+t.Key, t.Value)
		ks[i] = t.Key
	}
	c.setTagKeys(ks)
}

func (c *call) setTagKeys(ks []string) {
	c.caller.Context.Set("aws:TagKeys", listValues(ks))
}

// claimedScope is the access key id and region the request claims, for
// the audit record of a failure; they are not trusted for anything else.
func claimedScope(r *http.Request) (key, region string) {
	s := authn.ClaimedScope(r)
	return s.AccessKeyID, s.Region
}

// clip bounds what a client controls before it is echoed or recorded.
func clip(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// requestID is a random UUID (version 4), as AWS's request ids.
func requestID() string { return authn.RequestID() }
