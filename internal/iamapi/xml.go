package iamapi

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/iam"
)

// The response shapes of AWS's IAM API reference. Each type is written as
// XML by the handler and read back by the CLI, which prints it as JSON
// under the same element names, as the AWS CLI does; so the JSON tags
// repeat the XML names, and lists the AWS CLI always prints are never
// omitted.

// document is a policy document. On the wire it is percent-encoded, as
// AWS returns documents (clients decode them); as JSON it is the document
// itself, as the AWS CLI prints it.
type document string

// MarshalText percent-encodes everything but RFC 3986's unreserved
// characters, as AWS does: a '+' or a space never reaches a client that
// would read it back as the other.
func (d document) MarshalText() ([]byte, error) {
	const hex = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(d); i++ {
		c := d[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b = append(b, c)
		default:
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return b, nil
}

// UnmarshalText decodes what MarshalText wrote.
func (d *document) UnmarshalText(b []byte) error {
	s, err := url.PathUnescape(string(b))
	if err != nil {
		return err
	}
	*d = document(s)
	return nil
}

// MarshalJSON prints a document that is JSON as JSON, and anything else
// as a string.
func (d document) MarshalJSON() ([]byte, error) {
	if json.Valid([]byte(d)) {
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(d)); err == nil {
			return b.Bytes(), nil
		}
	}
	return json.Marshal(string(d))
}

// timestamp formats a time as AWS's IAM API does.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func pathOf(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

type tagXML struct {
	Key   string `xml:"Key" json:"Key"`
	Value string `xml:"Value" json:"Value"`
}

// tagList is a list of tags that is left out of a response when empty,
// as AWS leaves it out for an entity without tags.
type tagList []tagXML

// MarshalXML writes the tags as members; the field's omitempty keeps an
// empty list out.
func (l tagList) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return e.EncodeElement(struct {
		Members []tagXML `xml:"member"`
	}{l}, start)
}

// UnmarshalXML reads the members.
func (l *tagList) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var v struct {
		Members []tagXML `xml:"member"`
	}
	if err := d.DecodeElement(&v, &start); err != nil {
		return err
	}
	*l = v.Members
	return nil
}

func tagsXML(ts []iam.Tag) tagList {
	if len(ts) == 0 {
		return nil
	}
	out := make(tagList, len(ts))
	for i, t := range ts {
		out[i] = tagXML{Key: t.Key, Value: t.Value}
	}
	return out
}

type boundaryXML struct {
	PermissionsBoundaryType string `xml:"PermissionsBoundaryType" json:"PermissionsBoundaryType"`
	PermissionsBoundaryArn  string `xml:"PermissionsBoundaryArn" json:"PermissionsBoundaryArn"`
}

func boundary(arn string) *boundaryXML {
	if arn == "" {
		return nil
	}
	return &boundaryXML{PermissionsBoundaryType: "PermissionsBoundaryPolicy", PermissionsBoundaryArn: arn}
}

type userXML struct {
	Path                string       `xml:"Path" json:"Path"`
	UserName            string       `xml:"UserName" json:"UserName"`
	UserID              string       `xml:"UserId" json:"UserId"`
	Arn                 string       `xml:"Arn" json:"Arn"`
	CreateDate          string       `xml:"CreateDate" json:"CreateDate"`
	PermissionsBoundary *boundaryXML `xml:"PermissionsBoundary,omitempty" json:"PermissionsBoundary,omitempty"`
	Tags                tagList      `xml:"Tags,omitempty" json:"Tags,omitempty"`
}

// newUserXML describes a user; full adds what AWS returns only for one
// user (GetUser, CreateUser), not in lists.
func newUserXML(u iam.User, full bool) userXML {
	x := userXML{Path: pathOf(u.Path), UserName: u.Name, UserID: u.ID, Arn: u.ARN(), CreateDate: timestamp(u.Created)}
	if full {
		x.PermissionsBoundary = boundary(u.Boundary)
		x.Tags = tagsXML(u.Tags)
	}
	return x
}

type userResult struct {
	User userXML `xml:"User" json:"User"`
}

type usersResult struct {
	Users       []userXML `xml:"Users>member" json:"Users"`
	IsTruncated bool      `xml:"IsTruncated" json:"IsTruncated,omitempty"`
	Marker      string    `xml:"Marker,omitempty" json:"Marker,omitempty"`
}

type accessKeyXML struct {
	UserName        string `xml:"UserName" json:"UserName"`
	AccessKeyID     string `xml:"AccessKeyId" json:"AccessKeyId"`
	Status          string `xml:"Status" json:"Status"`
	SecretAccessKey string `xml:"SecretAccessKey" json:"SecretAccessKey"`
	CreateDate      string `xml:"CreateDate" json:"CreateDate"`
}

type accessKeyResult struct {
	AccessKey accessKeyXML `xml:"AccessKey" json:"AccessKey"`
}

type accessKeyMetadataXML struct {
	UserName    string `xml:"UserName" json:"UserName"`
	AccessKeyID string `xml:"AccessKeyId" json:"AccessKeyId"`
	Status      string `xml:"Status" json:"Status"`
	CreateDate  string `xml:"CreateDate" json:"CreateDate"`
}

type accessKeysResult struct {
	AccessKeyMetadata []accessKeyMetadataXML `xml:"AccessKeyMetadata>member" json:"AccessKeyMetadata"`
	IsTruncated       bool                   `xml:"IsTruncated" json:"IsTruncated,omitempty"`
	Marker            string                 `xml:"Marker,omitempty" json:"Marker,omitempty"`
}

// accessKeyLastUsedXML is a key's last use; AWS answers N/A for the
// service and region of a key never used, and no date.
type accessKeyLastUsedXML struct {
	LastUsedDate string `xml:"LastUsedDate,omitempty" json:"LastUsedDate,omitempty"`
	ServiceName  string `xml:"ServiceName" json:"ServiceName"`
	Region       string `xml:"Region" json:"Region"`
}

type accessKeyLastUsedResult struct {
	UserName          string               `xml:"UserName" json:"UserName"`
	AccessKeyLastUsed accessKeyLastUsedXML `xml:"AccessKeyLastUsed" json:"AccessKeyLastUsed"`
}

// roleLastUsedXML is empty: ztgate does not track when a role was last
// used, and AWS returns the element empty for a role never used.
type roleLastUsedXML struct{}

type roleXML struct {
	Path                     string           `xml:"Path" json:"Path"`
	RoleName                 string           `xml:"RoleName" json:"RoleName"`
	RoleID                   string           `xml:"RoleId" json:"RoleId"`
	Arn                      string           `xml:"Arn" json:"Arn"`
	CreateDate               string           `xml:"CreateDate" json:"CreateDate"`
	AssumeRolePolicyDocument document         `xml:"AssumeRolePolicyDocument,omitempty" json:"AssumeRolePolicyDocument,omitempty"`
	Description              string           `xml:"Description,omitempty" json:"Description,omitempty"`
	MaxSessionDuration       int64            `xml:"MaxSessionDuration" json:"MaxSessionDuration"`
	PermissionsBoundary      *boundaryXML     `xml:"PermissionsBoundary,omitempty" json:"PermissionsBoundary,omitempty"`
	Tags                     tagList          `xml:"Tags,omitempty" json:"Tags,omitempty"`
	RoleLastUsed             *roleLastUsedXML `xml:"RoleLastUsed,omitempty" json:"RoleLastUsed,omitempty"`
}

// newRoleXML describes a role; full adds what AWS returns only for one
// role (GetRole), not in lists.
func newRoleXML(r iam.Role, full bool) roleXML {
	x := roleXML{
		Path: pathOf(r.Path), RoleName: r.Name, RoleID: r.ID, Arn: r.ARN(), CreateDate: timestamp(r.Created),
		AssumeRolePolicyDocument: document(r.TrustPolicy), Description: r.Description,
		MaxSessionDuration: int64(r.MaxSession() / time.Second),
	}
	if full {
		x.PermissionsBoundary = boundary(r.Boundary)
		x.Tags = tagsXML(r.Tags)
		x.RoleLastUsed = &roleLastUsedXML{}
	}
	return x
}

type roleResult struct {
	Role roleXML `xml:"Role" json:"Role"`
}

type rolesResult struct {
	Roles       []roleXML `xml:"Roles>member" json:"Roles"`
	IsTruncated bool      `xml:"IsTruncated" json:"IsTruncated,omitempty"`
	Marker      string    `xml:"Marker,omitempty" json:"Marker,omitempty"`
}

type tagsResult struct {
	Tags        []tagXML `xml:"Tags>member" json:"Tags"`
	IsTruncated bool     `xml:"IsTruncated" json:"IsTruncated,omitempty"`
	Marker      string   `xml:"Marker,omitempty" json:"Marker,omitempty"`
}

type userPolicyResult struct {
	UserName       string   `xml:"UserName" json:"UserName"`
	PolicyName     string   `xml:"PolicyName" json:"PolicyName"`
	PolicyDocument document `xml:"PolicyDocument" json:"PolicyDocument"`
}

type rolePolicyResult struct {
	RoleName       string   `xml:"RoleName" json:"RoleName"`
	PolicyName     string   `xml:"PolicyName" json:"PolicyName"`
	PolicyDocument document `xml:"PolicyDocument" json:"PolicyDocument"`
}

type groupPolicyResult struct {
	GroupName      string   `xml:"GroupName" json:"GroupName"`
	PolicyName     string   `xml:"PolicyName" json:"PolicyName"`
	PolicyDocument document `xml:"PolicyDocument" json:"PolicyDocument"`
}

type policyNamesResult struct {
	PolicyNames []string `xml:"PolicyNames>member" json:"PolicyNames"`
	IsTruncated bool     `xml:"IsTruncated" json:"IsTruncated,omitempty"`
	Marker      string   `xml:"Marker,omitempty" json:"Marker,omitempty"`
}

type attachedPolicyXML struct {
	PolicyName string `xml:"PolicyName" json:"PolicyName"`
	PolicyArn  string `xml:"PolicyArn" json:"PolicyArn"`
}

type attachedPoliciesResult struct {
	AttachedPolicies []attachedPolicyXML `xml:"AttachedPolicies>member" json:"AttachedPolicies"`
	IsTruncated      bool                `xml:"IsTruncated" json:"IsTruncated,omitempty"`
	Marker           string              `xml:"Marker,omitempty" json:"Marker,omitempty"`
}

type groupXML struct {
	Path       string `xml:"Path" json:"Path"`
	GroupName  string `xml:"GroupName" json:"GroupName"`
	GroupID    string `xml:"GroupId" json:"GroupId"`
	Arn        string `xml:"Arn" json:"Arn"`
	CreateDate string `xml:"CreateDate" json:"CreateDate"`
}

func newGroupXML(g iam.Group) groupXML {
	return groupXML{Path: pathOf(g.Path), GroupName: g.Name, GroupID: g.ID, Arn: g.ARN(), CreateDate: timestamp(g.Created)}
}

type groupResult struct {
	Group groupXML `xml:"Group" json:"Group"`
}

type getGroupResult struct {
	Group       groupXML  `xml:"Group" json:"Group"`
	Users       []userXML `xml:"Users>member" json:"Users"`
	IsTruncated bool      `xml:"IsTruncated" json:"IsTruncated,omitempty"`
	Marker      string    `xml:"Marker,omitempty" json:"Marker,omitempty"`
}

type groupsResult struct {
	Groups      []groupXML `xml:"Groups>member" json:"Groups"`
	IsTruncated bool       `xml:"IsTruncated" json:"IsTruncated,omitempty"`
	Marker      string     `xml:"Marker,omitempty" json:"Marker,omitempty"`
}

type policyXML struct {
	PolicyName                    string `xml:"PolicyName" json:"PolicyName"`
	PolicyID                      string `xml:"PolicyId" json:"PolicyId"`
	Arn                           string `xml:"Arn" json:"Arn"`
	Path                          string `xml:"Path" json:"Path"`
	DefaultVersionID              string `xml:"DefaultVersionId" json:"DefaultVersionId"`
	AttachmentCount               int    `xml:"AttachmentCount" json:"AttachmentCount"`
	PermissionsBoundaryUsageCount int    `xml:"PermissionsBoundaryUsageCount" json:"PermissionsBoundaryUsageCount"`
	IsAttachable                  bool   `xml:"IsAttachable" json:"IsAttachable"`
	Description                   string `xml:"Description,omitempty" json:"Description,omitempty"`
	CreateDate                    string `xml:"CreateDate" json:"CreateDate"`
	UpdateDate                    string `xml:"UpdateDate" json:"UpdateDate"`
}

// version is the one version of every managed policy: ztgate keeps no
// history of a policy's document.
const version = "v1"

func newPolicyXML(p iam.ManagedPolicy, u usage, full bool) policyXML {
	x := policyXML{
		PolicyName: p.Name, PolicyID: p.ID, Arn: p.ARN(), Path: pathOf(p.Path), DefaultVersionID: version,
		AttachmentCount: u.attached[p.ARN()], PermissionsBoundaryUsageCount: u.boundary[p.ARN()],
		IsAttachable: true, CreateDate: timestamp(p.Created), UpdateDate: timestamp(p.Updated),
	}
	if full {
		x.Description = p.Description
	}
	return x
}

type policyResult struct {
	Policy policyXML `xml:"Policy" json:"Policy"`
}

type policiesResult struct {
	Policies    []policyXML `xml:"Policies>member" json:"Policies"`
	IsTruncated bool        `xml:"IsTruncated" json:"IsTruncated,omitempty"`
	Marker      string      `xml:"Marker,omitempty" json:"Marker,omitempty"`
}

type policyVersionXML struct {
	Document         document `xml:"Document,omitempty" json:"Document,omitempty"`
	VersionID        string   `xml:"VersionId" json:"VersionId"`
	IsDefaultVersion bool     `xml:"IsDefaultVersion" json:"IsDefaultVersion"`
	CreateDate       string   `xml:"CreateDate" json:"CreateDate"`
}

type policyVersionResult struct {
	PolicyVersion policyVersionXML `xml:"PolicyVersion" json:"PolicyVersion"`
}

type policyVersionsResult struct {
	Versions    []policyVersionXML `xml:"Versions>member" json:"Versions"`
	IsTruncated bool               `xml:"IsTruncated" json:"IsTruncated,omitempty"`
	Marker      string             `xml:"Marker,omitempty" json:"Marker,omitempty"`
}

type positionXML struct {
	Line   int `xml:"Line" json:"Line"`
	Column int `xml:"Column" json:"Column"`
}

type statementXML struct {
	SourcePolicyID   string       `xml:"SourcePolicyId" json:"SourcePolicyId"`
	SourcePolicyType string       `xml:"SourcePolicyType" json:"SourcePolicyType"`
	StartPosition    *positionXML `xml:"StartPosition,omitempty" json:"StartPosition,omitempty"`
}

type boundaryDetailXML struct {
	AllowedByPermissionsBoundary bool `xml:"AllowedByPermissionsBoundary" json:"AllowedByPermissionsBoundary"`
}

type evaluationXML struct {
	EvalActionName                    string             `xml:"EvalActionName" json:"EvalActionName"`
	EvalResourceName                  string             `xml:"EvalResourceName" json:"EvalResourceName"`
	EvalDecision                      string             `xml:"EvalDecision" json:"EvalDecision"`
	MatchedStatements                 []statementXML     `xml:"MatchedStatements>member" json:"MatchedStatements"`
	MissingContextValues              []string           `xml:"MissingContextValues>member" json:"MissingContextValues"`
	PermissionsBoundaryDecisionDetail *boundaryDetailXML `xml:"PermissionsBoundaryDecisionDetail,omitempty" json:"PermissionsBoundaryDecisionDetail,omitempty"`
}

type simulationResult struct {
	EvaluationResults []evaluationXML `xml:"EvaluationResults>member" json:"EvaluationResults"`
	IsTruncated       bool            `xml:"IsTruncated" json:"IsTruncated,omitempty"`
	Marker            string          `xml:"Marker,omitempty" json:"Marker,omitempty"`
}

// Namespace is the XML namespace of IAM's responses.
const Namespace = "https://iam.amazonaws.com/doc/2010-05-08/"

// writeResult writes <ActionResponse><ActionResult>result</ActionResult>
// <ResponseMetadata>…: the result element is left out when result is nil,
// as AWS does for actions that return nothing.
func writeResult(w http.ResponseWriter, id, action string, result any) error {
	var b bytes.Buffer
	b.WriteString("<" + action + `Response xmlns="` + Namespace + `">`)
	if result != nil {
		enc := xml.NewEncoder(&b)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			return err
		}
		if err := enc.Flush(); err != nil {
			return err
		}
	}
	b.WriteString("<ResponseMetadata><RequestId>")
	xml.EscapeText(&b, []byte(id))
	b.WriteString("</RequestId></ResponseMetadata></" + action + "Response>")
	w.Header().Set("Content-Type", "text/xml")
	_, err := w.Write(b.Bytes())
	return err
}

type errorXML struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

// writeError writes AWS's query-protocol ErrorResponse.
func writeError(w http.ResponseWriter, id string, e *Error) {
	typ := "Sender"
	if e.StatusCode >= 500 {
		typ = "Receiver"
	}
	b, err := xml.Marshal(errorXML{Xmlns: Namespace, Type: typ, Code: e.Code, Message: e.Message, RequestID: id})
	if err != nil { // only strings: cannot happen
		b = nil
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.StatusCode)
	w.Write(b)
}

// camel is a parameter's name as AWS's validation messages and CloudTrail
// spell it: "RoleName" is "roleName".
func camel(name string) string {
	if name == "" {
		return name
	}
	return strings.ToLower(name[:1]) + name[1:]
}
