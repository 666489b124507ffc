package sts

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/awsquery"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/peer"
	"github.com/ztgate/ztgate/internal/policy"
	"github.com/ztgate/ztgate/internal/policy/keys"
	"github.com/ztgate/ztgate/internal/session"
	"github.com/ztgate/ztgate/internal/sigv4"
	"github.com/ztgate/ztgate/internal/webidentity"
)

// Role session bounds, as AWS's.
const (
	MinRoleDuration     = 15 * time.Minute
	DefaultRoleDuration = time.Hour
	// ChainedMaxDuration bounds a session assumed by a role session.
	ChainedMaxDuration = time.Hour
	MaxSessionPolicy   = 2048
	MaxPolicyARNs      = 10
	MaxSessionTags     = 50
)

// AWS's input patterns for AssumeRole (the STS API model's).
var (
	sessionNameRE    = regexp.MustCompile(`^[\w+=,.@-]*$`)
	externalIDRE     = regexp.MustCompile(`^[\w+=,.@:/-]*$`)
	sourceIdentityRE = regexp.MustCompile(`^[\w+=,.@-]*$`)
	tagKeyRE         = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
	tagValueRE       = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

func validation(format string, a ...any) *sigv4.Error {
	return &sigv4.Error{Code: "ValidationError", Message: fmt.Sprintf(format, a...), HTTPStatus: http.StatusBadRequest}
}

func invalidParameter(msg string) *sigv4.Error {
	return &sigv4.Error{Code: "InvalidParameterValue", Message: msg, HTTPStatus: http.StatusBadRequest}
}

// null is AWS's message for a missing required member.
func null(member string) *sigv4.Error {
	return validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
}

// length checks a member's length as the model's constraints say.
func length(member, v string, min, max int) *sigv4.Error {
	n := len([]rune(v))
	switch {
	case n < min:
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", clip(v), member, min)
	case n > max:
		return validation("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", member, max)
	}
	return nil
}

func pattern(member, v string, re *regexp.Regexp, text string) *sigv4.Error {
	if !re.MatchString(v) {
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", clip(v), member, text)
	}
	return nil
}

// checkARN accepts what AWS's parser accepts: six colon-separated parts
// with a partition, a service and a resource.
func checkARN(s string) *sigv4.Error {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] == "" || parts[5] == "" {
		return validation("%s is invalid", clip(s))
	}
	return nil
}

// roleRequest is what AssumeRole and AssumeRoleWithWebIdentity share.
type roleRequest struct {
	roleARN, sessionName string
	duration             time.Duration
	durationSet          bool
	policy               string
	policyARNs           []string
}

func parseRoleRequest(p awsquery.Params) (roleRequest, *sigv4.Error) {
	var rr roleRequest
	rr.roleARN = p.Get("RoleArn")
	if !p.Has("RoleArn") {
		return rr, null("roleArn")
	}
	if e := length("roleArn", rr.roleARN, 20, 2048); e != nil {
		return rr, e
	}
	if e := checkARN(rr.roleARN); e != nil {
		return rr, e
	}
	rr.sessionName = p.Get("RoleSessionName")
	if !p.Has("RoleSessionName") {
		return rr, null("roleSessionName")
	}
	if e := length("roleSessionName", rr.sessionName, 2, 64); e != nil {
		return rr, e
	}
	if e := pattern("roleSessionName", rr.sessionName, sessionNameRE, `[\w+=,.@-]*`); e != nil {
		return rr, e
	}
	if p.Has("DurationSeconds") {
		s := p.Get("DurationSeconds")
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return rr, &sigv4.Error{Code: "MalformedInput", Message: "Invalid value for DurationSeconds: " + clip(s), HTTPStatus: http.StatusBadRequest}
		}
		switch {
		case n < int64(MinRoleDuration/time.Second):
			return rr, validation("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", n)
		case n > int64(iam.MaxMaxSession/time.Second):
			return rr, validation("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200", n)
		}
		rr.duration, rr.durationSet = time.Duration(n)*time.Second, true
	} else {
		rr.duration = DefaultRoleDuration
	}
	if p.Has("Policy") {
		rr.policy = p.Get("Policy")
		if e := length("policy", rr.policy, 1, MaxSessionPolicy); e != nil {
			if len(rr.policy) > MaxSessionPolicy {
				return rr, &sigv4.Error{Code: "PackedPolicyTooLarge", Message: "Packed policy consumes more than 100% of the allotted space.", HTTPStatus: http.StatusBadRequest}
			}
			return rr, e
		}
		if _, errs := policy.CheckEvaluable([]byte(rr.policy), policy.Session); len(errs) > 0 {
			return rr, &sigv4.Error{Code: "MalformedPolicyDocument", Message: errs[0].Error(), HTTPStatus: http.StatusBadRequest}
		}
	}
	arns, err := p.Structs("PolicyArns")
	if err != nil {
		return rr, queryError(err)
	}
	if len(arns) > MaxPolicyARNs {
		return rr, validation("1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to %d", MaxPolicyARNs)
	}
	for _, a := range arns {
		arn := a.Get("arn")
		if e := length("policyArns.member.arn", arn, 20, 2048); e != nil {
			return rr, e
		}
		if e := checkARN(arn); e != nil {
			return rr, e
		}
		rr.policyARNs = append(rr.policyARNs, arn)
	}
	return rr, nil
}

func queryError(err error) *sigv4.Error {
	var qe *awsquery.Error
	if errors.As(err, &qe) {
		return validation("Invalid parameter %s: %s", qe.Param, qe.Reason)
	}
	return errBadForm
}

// sessionTags reads AssumeRole's Tags and TransitiveTagKeys.
func sessionTags(p awsquery.Params) (map[string]string, []string, *sigv4.Error) {
	ts, err := p.Structs("Tags")
	if err != nil {
		return nil, nil, queryError(err)
	}
	if len(ts) > MaxSessionTags {
		return nil, nil, validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to %d", MaxSessionTags)
	}
	var tags map[string]string
	seen := map[string]bool{}
	for _, t := range ts {
		k, v := t.Get("Key"), t.Get("Value")
		if !t.Has("Key") {
			return nil, nil, null("tags.member.key")
		}
		if !t.Has("Value") {
			return nil, nil, null("tags.member.value")
		}
		if e := length("tags.member.key", k, 1, 128); e != nil {
			return nil, nil, e
		}
		if e := length("tags.member.value", v, 0, 256); e != nil {
			return nil, nil, e
		}
		if e := pattern("tags.member.key", k, tagKeyRE, `[\p{L}\p{Z}\p{N}_.:/=+\-@]+`); e != nil {
			return nil, nil, e
		}
		if e := pattern("tags.member.value", v, tagValueRE, `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`); e != nil {
			return nil, nil, e
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, nil, invalidParameter("Tag keys starting with aws: are reserved.")
		}
		lk := strings.ToLower(k)
		if seen[lk] {
			return nil, nil, invalidParameter("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[lk] = true
		if tags == nil {
			tags = map[string]string{}
		}
		tags[k] = v
	}
	transitive, err := p.List("TransitiveTagKeys")
	if err != nil {
		return nil, nil, queryError(err)
	}
	for _, k := range transitive {
		if !seen[strings.ToLower(k)] {
			return nil, nil, invalidParameter("The specified transitive tag key must be included in the requested tags.")
		}
	}
	return tags, transitive, nil
}

type assumedRoleUser struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	Arn           string `xml:"Arn"`
}

type credentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type assumeRoleResponse struct {
	XMLName          xml.Name        `xml:"AssumeRoleResponse"`
	Xmlns            string          `xml:"xmlns,attr"`
	Credentials      credentials     `xml:"AssumeRoleResult>Credentials"`
	AssumedRoleUser  assumedRoleUser `xml:"AssumeRoleResult>AssumedRoleUser"`
	PackedPolicySize *int            `xml:"AssumeRoleResult>PackedPolicySize,omitempty"`
	SourceIdentity   string          `xml:"AssumeRoleResult>SourceIdentity,omitempty"`
	RequestID        string          `xml:"ResponseMetadata>RequestId"`
}

type webIdentityResponse struct {
	XMLName          xml.Name        `xml:"AssumeRoleWithWebIdentityResponse"`
	Xmlns            string          `xml:"xmlns,attr"`
	Credentials      credentials     `xml:"AssumeRoleWithWebIdentityResult>Credentials"`
	Subject          string          `xml:"AssumeRoleWithWebIdentityResult>SubjectFromWebIdentityToken"`
	AssumedRoleUser  assumedRoleUser `xml:"AssumeRoleWithWebIdentityResult>AssumedRoleUser"`
	PackedPolicySize *int            `xml:"AssumeRoleWithWebIdentityResult>PackedPolicySize,omitempty"`
	Provider         string          `xml:"AssumeRoleWithWebIdentityResult>Provider"`
	Audience         string          `xml:"AssumeRoleWithWebIdentityResult>Audience"`
	SourceIdentity   string          `xml:"AssumeRoleWithWebIdentityResult>SourceIdentity,omitempty"`
	RequestID        string          `xml:"ResponseMetadata>RequestId"`
}

// denied is AWS's answer to an AssumeRole that policy does not allow, or
// whose role does not exist: the two are not told apart.
func denied(callerARN, action, roleARN string) *sigv4.Error {
	if callerARN == "" {
		callerARN = "anonymous"
	}
	return &sigv4.Error{
		Code:       sigv4.CodeAccessDenied,
		Message:    fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s", callerARN, action, roleARN),
		HTTPStatus: http.StatusForbidden,
	}
}

// assumeRole issues a role session to an authenticated caller whom the
// role's trust policy (and, within the account, the caller's own
// policies, as AWS combines them) allow.
func (h *Handler) assumeRole(c *exchange) {
	rr, e := parseRoleRequest(c.params)
	if e != nil {
		h.fail(c, e)
		return
	}
	tags, transitive, e := sessionTags(c.params)
	if e != nil {
		h.fail(c, e)
		return
	}
	externalID := c.params.Get("ExternalId")
	if c.params.Has("ExternalId") {
		if e := length("externalId", externalID, 2, 1224); e != nil {
			h.fail(c, e)
			return
		}
		if e := pattern("externalId", externalID, externalIDRE, `[\w+=,.@:\/-]*`); e != nil {
			h.fail(c, e)
			return
		}
	}
	sourceIdentity := c.params.Get("SourceIdentity")
	if c.params.Has("SourceIdentity") {
		if e := length("sourceIdentity", sourceIdentity, 2, 64); e != nil {
			h.fail(c, e)
			return
		}
		if e := pattern("sourceIdentity", sourceIdentity, sourceIdentityRE, `[\w+=,.@-]*`); e != nil {
			h.fail(c, e)
			return
		}
		if strings.HasPrefix(strings.ToLower(sourceIdentity), "aws:") {
			h.fail(c, invalidParameter("SourceIdentity cannot start with the reserved prefix aws:."))
			return
		}
	}
	if c.params.Get("SerialNumber") != "" || c.params.Get("TokenCode") != "" {
		h.fail(c, errNoMFA)
		return
	}
	// What a calling role session carries on: its source identity and
	// transitive tags, which the new request can neither change nor
	// override.
	var prev *session.RoleSession
	if c.caller.Session != nil {
		prev = c.caller.Session.Role
	}
	chained := prev != nil
	if chained {
		if prev.SourceIdentity != "" {
			if sourceIdentity != "" && sourceIdentity != prev.SourceIdentity {
				h.fail(c, &sigv4.Error{Code: sigv4.CodeAccessDenied, Message: "The source identity of the calling session cannot be changed.", HTTPStatus: http.StatusForbidden})
				return
			}
			sourceIdentity = prev.SourceIdentity
		}
		for _, k := range prev.TransitiveTagKeys {
			for nk := range tags {
				if strings.EqualFold(nk, k) {
					h.fail(c, invalidParameter("One of the specified transitive tag keys can't be set because it conflicts with a transitive tag key from the calling session."))
					return
				}
			}
		}
		if rr.durationSet && rr.duration > ChainedMaxDuration {
			h.fail(c, validation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."))
			return
		}
	}
	if h.roles == nil || h.policies == nil || h.tokens == nil {
		h.log.Error("sts: AssumeRole without roles, policies or session tokens configured", "request_id", c.id)
		writeError(c.w, c.id, errInternal)
		return
	}
	ctx := c.r.Context()
	role, err := h.roles.RoleByARN(ctx, rr.roleARN)
	if err != nil && !errors.Is(err, iam.ErrNoSuchEntity) && !errors.Is(err, iam.ErrInvalidInput) {
		h.log.Error("sts: reading a role failed", "err", err, "request_id", c.id)
		writeError(c.w, c.id, errInternal)
		return
	}
	found := err == nil

	// The trust policy is the role's resource policy: the decision is made
	// as AWS makes it, with the request's STS keys in the context.
	kc := &c.caller.Context
	kc.SetString("sts:RoleSessionName", rr.sessionName)
	if externalID != "" {
		kc.SetString("sts:ExternalId", externalID)
	}
	if sourceIdentity != "" {
		kc.SetString("sts:SourceIdentity", sourceIdentity)
	}
	if len(tags) > 0 {
		keyList := make([]string, 0, len(tags))
		for k, v := range tags {
			kc.SetString("aws:RequestTag/"+k, v)
			keyList = append(keyList, k)
		}
		slices.Sort(keyList)
		kc.Set("aws:TagKeys", keys.List(keyList))
	}
	if len(transitive) > 0 {
		kc.Set("sts:TransitiveTagKeys", keys.List(transitive))
	}
	snap := h.policies.Snapshot()
	actions := []string{"sts:AssumeRole"}
	if len(tags) > 0 {
		actions = append(actions, "sts:TagSession")
	}
	if c.params.Has("SourceIdentity") {
		actions = append(actions, "sts:SetSourceIdentity")
	}
	var matched []audit.Statement
	for _, action := range actions {
		var d authz.Decision
		if found {
			d = c.caller.DecideTrust(snap, action, rr.roleARN, role.ARN())
		}
		if d.Effect != authz.Allowed {
			h.deny(c, action, rr.roleARN, d)
			return
		}
		matched = append(matched, statements(&d)...)
	}
	if rr.durationSet && rr.duration > role.MaxSession() {
		h.fail(c, validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."))
		return
	}
	if e := h.checkPolicyARNs(rr.policyARNs); e != nil {
		h.fail(c, e)
		return
	}
	// Principal tags: the role's, then those carried from the calling
	// session, then the request's, each overriding the one before.
	principalTags := map[string]string{}
	for _, t := range role.Tags {
		principalTags[t.Key] = t.Value
	}
	newTransitive := slices.Clone(transitive)
	if chained {
		for _, k := range prev.TransitiveTagKeys {
			setTag(principalTags, k, prev.Tags[k])
			newTransitive = append(newTransitive, k)
		}
	}
	for k, v := range tags {
		setTag(principalTags, k, v)
	}
	if len(principalTags) == 0 {
		principalTags = nil
	}
	rs := &session.RoleSession{
		RoleARN: role.ARN(), SessionName: rr.sessionName, SourceIdentity: sourceIdentity,
		Tags: principalTags, TransitiveTagKeys: newTransitive,
		Policy: rr.policy, PolicyARNs: rr.policyARNs, Chained: chained,
	}
	params := map[string]any{"roleArn": rr.roleARN, "roleSessionName": rr.sessionName, "durationSeconds": int64(rr.duration / time.Second)}
	if externalID != "" {
		params["externalId"] = externalID
	}
	if sourceIdentity != "" {
		params["sourceIdentity"] = sourceIdentity
	}
	if len(tags) > 0 {
		params["tags"] = tags
	}
	if rr.policy != "" {
		params["policy"] = rr.policy
	}
	if len(rr.policyARNs) > 0 {
		params["policyArns"] = rr.policyARNs
	}
	h.issueRole(c, "AssumeRole", role, rs, rr.duration, params, matched, nil)
}

// setTag sets k, replacing a key equal to it without case.
func setTag(m map[string]string, k, v string) {
	for old := range m {
		if strings.EqualFold(old, k) {
			delete(m, old)
		}
	}
	m[k] = v
}

// checkPolicyARNs accepts managed session policies that exist.
func (h *Handler) checkPolicyARNs(arns []string) *sigv4.Error {
	snap := h.policies.Snapshot()
	for _, a := range arns {
		if snap == nil || snap.Policy(a) == nil || !strings.Contains(a, ":policy/") {
			return invalidParameter(fmt.Sprintf("The policy %s does not exist or is not attachable.", clip(a)))
		}
	}
	return nil
}

func statements(d *authz.Decision) []audit.Statement {
	var out []audit.Statement
	for _, s := range d.Matched() {
		eff := "Deny"
		if s.Allow {
			eff = "Allow"
		}
		out = append(out, audit.Statement{Policy: s.Policy.Name, Sid: s.Sid, Index: s.Index, Effect: eff})
	}
	return out
}

// deny answers and records a refused assumption.
func (h *Handler) deny(c *exchange, action, roleARN string, d authz.Decision) {

	decision := audit.ImplicitDeny
	if d.Effect == authz.ExplicitDeny {
		decision = audit.ExplicitDeny
	}
	callerARN := ""
	if c.caller != nil {
		callerARN = c.caller.ARN
	}
	err := h.audit.Record(c.r.Context(), audit.DecisionEvent{
		Actor: c.actor, Source: audit.SourceSTS, Name: c.action, RequestID: c.id,
		Action: action, Decision: decision, BlockedBy: blockedBy(d),
		Matched:   statements(&d),
		Resources: []audit.Resource{{ARN: roleARN, Type: "AWS::IAM::Role"}},
	}.Record())
	if err != nil {
		h.log.Error("sts: auditing a denial failed", "err", err, "request_id", c.id)
	}
	if c.caller == nil {
		writeError(c.w, c.id, &sigv4.Error{Code: sigv4.CodeAccessDenied, Message: "Not authorized to perform " + action, HTTPStatus: http.StatusForbidden})
		return
	}
	writeError(c.w, c.id, denied(callerARN, action, roleARN))
}

func blockedBy(d authz.Decision) string {
	if d.Effect == authz.ExplicitDeny || d.BlockedBy == authz.NoLayer {
		return ""
	}
	return d.BlockedBy.String()
}

// issueRole issues the role session, records it and answers. web is set
// for AssumeRoleWithWebIdentity.
func (h *Handler) issueRole(c *exchange, name string, role iam.Role, rs *session.RoleSession, d time.Duration, params map[string]any, matched []audit.Statement, web *webidentity.Token) {
	sessionARN := "arn:" + iam.Partition + ":sts::" + role.Account + ":assumed-role/" + role.Name + "/" + rs.SessionName
	assumedID := role.ID + ":" + rs.SessionName
	g := session.Grant{
		Principal: sessionARN, PrincipalID: assumedID, Account: role.Account,
		Duration: d, Role: rs,
	}
	if c.caller != nil {
		g.SourceKeyID = c.caller.AccessKeyID
	}
	claims, token, err := h.tokens.Issue(g)
	if errors.Is(err, session.ErrPackedTooLarge) {
		h.fail(c, &sigv4.Error{Code: "PackedPolicyTooLarge", Message: "Packed policy consumes more than 100% of the allotted space.", HTTPStatus: http.StatusBadRequest})
		return
	}
	if err != nil {
		h.log.Error("sts: issuing a session token failed", "err", err, "request_id", c.id)
		writeError(c.w, c.id, errInternal)
		return
	}
	var packed *int
	if rs.Policy != "" || len(rs.PolicyARNs) > 0 || len(rs.Tags) > 0 {
		n := claims.Packed * 100 / session.MaxPacked
		packed = &n
	}
	expiration := claims.Expires.Format(time.RFC3339)
	resp := map[string]any{
		"credentials":     map[string]any{"accessKeyId": claims.AccessKeyID, "expiration": expiration},
		"assumedRoleUser": map[string]any{"assumedRoleId": assumedID, "arn": sessionARN},
	}
	if rs.SourceIdentity != "" {
		resp["sourceIdentity"] = rs.SourceIdentity
	}
	err = h.audit.Record(c.r.Context(), audit.IssuedEvent{
		Actor: c.actor, Source: audit.SourceSTS, Name: name, RequestID: c.id,
		Resources:  []audit.Resource{{ARN: role.ARN(), AccountID: role.Account, Type: "AWS::IAM::Role"}},
		Matched:    matched,
		Parameters: params,
		Response:   resp,
	}.Record())
	if err != nil {
		h.log.Error("sts: auditing an issue failed; refusing it", "err", err, "request_id", c.id)
		writeError(c.w, c.id, errInternal)
		return
	}
	cred := credentials{AccessKeyID: claims.AccessKeyID, SecretAccessKey: claims.Secret.Reveal(), SessionToken: token, Expiration: expiration}
	user := assumedRoleUser{AssumedRoleID: assumedID, Arn: sessionARN}
	if web != nil {
		writeXML(c.w, c.id, webIdentityResponse{
			Xmlns: xmlns, Credentials: cred, Subject: web.Subject, AssumedRoleUser: user,
			PackedPolicySize: packed, Provider: web.Provider, Audience: audience(web),
			SourceIdentity: rs.SourceIdentity, RequestID: c.id,
		})
		return
	}
	writeXML(c.w, c.id, assumeRoleResponse{
		Xmlns: xmlns, Credentials: cred, AssumedRoleUser: user, PackedPolicySize: packed,
		SourceIdentity: rs.SourceIdentity, RequestID: c.id,
	})
}

func audience(t *webidentity.Token) string {
	if t.AuthorizedParty != "" {
		return t.AuthorizedParty
	}
	if len(t.Audience) > 0 {
		return t.Audience[0]
	}
	return ""
}

// ProviderARN is the principal a web identity provider is named by in
// trust policies: arn:zt:iam::ACCOUNT:oidc-provider/HOST/PATH.
func ProviderARN(account, provider string) string {
	return "arn:" + iam.Partition + ":iam::" + account + ":oidc-provider/" + provider
}

// assumeRoleWithWebIdentity issues a role session to the bearer of an OIDC
// token from a trusted issuer, whom the role's trust policy allows as the
// federated principal ProviderARN, with the token's aud, sub and amr as
// the condition keys PROVIDER:aud, PROVIDER:sub and PROVIDER:amr.
func (h *Handler) assumeRoleWithWebIdentity(c *exchange) {
	rr, e := parseRoleRequest(c.params)
	if e != nil {
		h.fail(c, e)
		return
	}
	tokenText := c.params.Get("WebIdentityToken")
	if !c.params.Has("WebIdentityToken") {
		h.fail(c, null("webIdentityToken"))
		return
	}
	if len(tokenText) < 4 || len(tokenText) > 20000 {
		h.fail(c, validation("1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length between 4 and 20000"))
		return
	}
	if c.params.Has("ProviderId") {
		h.fail(c, invalidParameter("ProviderId is only for OAuth 2.0 access tokens, which are not accepted; present an OpenID Connect ID token."))
		return
	}
	if h.web == nil {
		h.fail(c, &sigv4.Error{Code: "InvalidIdentityToken", Message: "No OpenIDConnect provider is configured.", HTTPStatus: http.StatusBadRequest})
		return
	}
	ctx := c.r.Context()
	tok, err := h.web.Verify(ctx, tokenText)
	if err != nil {
		h.fail(c, webError(err))
		return
	}
	if h.roles == nil || h.policies == nil || h.tokens == nil {
		h.log.Error("sts: AssumeRoleWithWebIdentity without roles, policies or session tokens configured", "request_id", c.id)
		writeError(c.w, c.id, errInternal)
		return
	}
	provider := ProviderARN(h.account, tok.Provider)
	c.actor.Identity = audit.UserIdentity{Type: "WebIdentityUser", PrincipalID: tok.Provider + ":" + audience(tok) + ":" + tok.Subject, UserName: tok.Subject}
	role, err := h.roles.RoleByARN(ctx, rr.roleARN)
	if err != nil && !errors.Is(err, iam.ErrNoSuchEntity) && !errors.Is(err, iam.ErrInvalidInput) {
		h.log.Error("sts: reading a role failed", "err", err, "request_id", c.id)
		writeError(c.w, c.id, errInternal)
		return
	}
	var kc authz.Context
	client := peer.FromRequest(c.r)
	kc.SetString("aws:SourceIp", client.IP())
	kc.SetString("aws:SecureTransport", strconv.FormatBool(client.Secure))
	if ua := c.r.UserAgent(); ua != "" {
		kc.SetString("aws:UserAgent", ua)
	}
	kc.SetString("aws:FederatedProvider", provider)
	kc.SetString("sts:RoleSessionName", rr.sessionName)
	// aud is single-valued in AWS's context (the audience the token was
	// accepted for); amr is multi-valued.
	kc.SetString(tok.Provider+":aud", audience(tok))
	kc.SetString(tok.Provider+":sub", tok.Subject)
	if len(tok.AMR) > 0 {
		kc.Set(tok.Provider+":amr", keys.List(tok.AMR))
	}
	if tok.AuthorizedParty != "" {
		kc.SetString(tok.Provider+":azp", tok.AuthorizedParty)
	}
	p := authz.ParsePrincipal(provider)
	p.Kind = authz.FederatedUser
	kc.SetDefaults(p, h.clock())
	const action = "sts:AssumeRoleWithWebIdentity"
	var d authz.Decision
	if err == nil {
		if snap := h.policies.Snapshot(); snap != nil {
			req := &authz.Request{Principal: p, Action: action, Resource: rr.roleARN, Context: &kc}
			ps := snap.Policies(req, role.ARN(), nil)
			ps.ResourceRequired = true
			d = authz.Evaluate(req, &ps)
		}
	}
	if d.Effect != authz.Allowed {
		h.deny(c, action, rr.roleARN, d)
		return
	}
	if rr.durationSet && rr.duration > role.MaxSession() {
		h.fail(c, validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."))
		return
	}
	if e := h.checkPolicyARNs(rr.policyARNs); e != nil {
		h.fail(c, e)
		return
	}
	var principalTags map[string]string
	if len(role.Tags) > 0 {
		principalTags = map[string]string{}
		for _, t := range role.Tags {
			principalTags[t.Key] = t.Value
		}
	}
	rs := &session.RoleSession{
		RoleARN: role.ARN(), SessionName: rr.sessionName, Tags: principalTags,
		Policy: rr.policy, PolicyARNs: rr.policyARNs,
		Provider: tok.Provider, Subject: tok.Subject,
	}
	params := map[string]any{"roleArn": rr.roleARN, "roleSessionName": rr.sessionName, "durationSeconds": int64(rr.duration / time.Second)}
	if rr.policy != "" {
		params["policy"] = rr.policy
	}
	if len(rr.policyARNs) > 0 {
		params["policyArns"] = rr.policyARNs
	}
	h.issueRole(c, "AssumeRoleWithWebIdentity", role, rs, rr.duration, params, statements(&d), tok)
}

// webError maps a token verification failure to AWS's answer. The token
// itself never appears in it.
func webError(err error) *sigv4.Error {
	bad := func(msg string) *sigv4.Error {
		return &sigv4.Error{Code: "InvalidIdentityToken", Message: msg, HTTPStatus: http.StatusBadRequest}
	}
	switch {
	case errors.Is(err, webidentity.ErrExpired):
		return &sigv4.Error{Code: "ExpiredTokenException", Message: "Token expired or not yet valid.", HTTPStatus: http.StatusBadRequest}
	case errors.Is(err, webidentity.ErrUntrustedIssuer):
		return bad("No OpenIDConnect provider found for the token's issuer.")
	case errors.Is(err, webidentity.ErrAudience):
		return bad("Incorrect token audience.")
	case errors.Is(err, webidentity.ErrSignature):
		return bad("The token's signature could not be verified.")
	case errors.Is(err, webidentity.ErrProvider):
		return &sigv4.Error{Code: "IDPCommunicationError", Message: "The identity provider could not be reached to verify the token.", HTTPStatus: http.StatusBadRequest}
	}
	return bad("The web identity token is not a valid OpenID Connect ID token.")
}
