package keys

import (
	"slices"
	"strings"
)

// Type is the data type of a condition key. It decides which family of
// condition operators compares the key's values meaningfully; the Null
// operator and the ...IfExists forms apply to every type.
type Type string

// The types of condition keys, each with its operator family.
const (
	String    Type = "String"    // StringEquals, StringLike, ...
	Number    Type = "Number"    // NumericEquals, NumericLessThan, ...
	Date      Type = "Date"      // DateEquals, DateLessThan, ...
	Bool      Type = "Bool"      // Bool
	IPAddress Type = "IPAddress" // IpAddress, NotIpAddress
	ARN       Type = "ARN"       // ArnEquals, ArnLike, ...
	Binary    Type = "Binary"    // BinaryEquals
)

// Types returns every type, in the order the reference lists them.
func Types() []Type { return []Type{String, Number, Date, Bool, IPAddress, ARN, Binary} }

// Valid reports whether t is one of the types above.
func (t Type) Valid() bool { return slices.Contains(Types(), t) }

// Operators returns the condition operators of t's family, without the
// ...IfExists forms and the ForAllValues:/ForAnyValue: prefixes, which
// every operator but Null takes, and without Null itself.
func (t Type) Operators() []string {
	switch t {
	case String:
		return []string{"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike"}
	case Number:
		return []string{"NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals"}
	case Date:
		return []string{"DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals"}
	case Bool:
		return []string{"Bool"}
	case IPAddress:
		return []string{"IpAddress", "NotIpAddress"}
	case ARN:
		return []string{"ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"}
	case Binary:
		return []string{"BinaryEquals"}
	}
	return nil
}

// syntax says how a policy writes values of t; the reference prints it.
func (t Type) syntax() string {
	switch t {
	case String:
		return "text; `*` and `?` are wildcards in StringLike and StringNotLike only; compared case-sensitively except by the IgnoreCase operators"
	case Number:
		return "a decimal number: `5`, `-1`, `0.25`"
	case Date:
		return "an ISO 8601 date or time (`2026-03-01`, `2026-03-01T09:30:00Z`) or seconds since 1970-01-01 UTC (`1772357400`)"
	case Bool:
		return "`true` or `false`"
	case IPAddress:
		return "an IPv4 or IPv6 address or CIDR range: `203.0.113.0/24`, `2001:db8::/32`, `198.51.100.7`"
	case ARN:
		return "an ARN, matched part by part: each of its six colon-separated parts is compared on its own, with `*` and `?` (ArnEquals is the same as ArnLike)"
	case Binary:
		return "base64-encoded bytes"
	}
	return ""
}

// Key describes one condition key that ztgate can set in a request's
// context.
type Key struct {
	// Name is the key as policies write it ("aws:SourceIp"). For a prefix
	// key it ends in '/' and stands for every name that extends it.
	Name string
	Type Type
	// Multi marks a multivalued key, compared with ForAllValues: and
	// ForAnyValue:.
	Multi bool
	// Source says where ztgate gets the value and which enforcement points
	// set it, and when the key is absent.
	Source string
	// Doc says what the value means to a policy author.
	Doc string
	// Prefix marks a family of keys named by Name followed by a tag key
	// ("aws:PrincipalTag/" for aws:PrincipalTag/team).
	Prefix bool
}

// The AWS global condition keys ztgate sets.
const (
	SourceIP               = "aws:SourceIp"
	SecureTransport        = "aws:SecureTransport"
	CurrentTime            = "aws:CurrentTime"
	EpochTime              = "aws:EpochTime"
	MultiFactorAuthPresent = "aws:MultiFactorAuthPresent"
	MultiFactorAuthAge     = "aws:MultiFactorAuthAge"
	PrincipalARN           = "aws:PrincipalArn"
	PrincipalAccount       = "aws:PrincipalAccount"
	PrincipalTagPrefix     = "aws:PrincipalTag/"
	PrincipalType          = "aws:PrincipalType"
	UserID                 = "aws:userid"
	Username               = "aws:username"
	TokenIssueTime         = "aws:TokenIssueTime"
	RequestTagPrefix       = "aws:RequestTag/"
	ResourceTagPrefix      = "aws:ResourceTag/"
	TagKeys                = "aws:TagKeys"
	SourceIdentity         = "aws:SourceIdentity"
	UserAgent              = "aws:UserAgent"
	Referer                = "aws:Referer"
	ViaAWSService          = "aws:ViaAWSService"
	RequestedRegion        = "aws:RequestedRegion"
	FederatedProvider      = "aws:FederatedProvider"
	PrincipalIsAWSService  = "aws:PrincipalIsAWSService"
	ResourceAccount        = "aws:ResourceAccount"
)

// ztgate's own condition keys.
const (
	DeviceID              = "zt:DeviceId"
	DeviceManaged         = "zt:DeviceManaged"
	DeviceCompliant       = "zt:DeviceCompliant"
	DevicePlatform        = "zt:DevicePlatform"
	DeviceOSVersion       = "zt:DeviceOSVersion"
	DeviceDiskEncrypted   = "zt:DeviceDiskEncrypted"
	DeviceFirewallEnabled = "zt:DeviceFirewallEnabled"
	DeviceScreenLock      = "zt:DeviceScreenLock"
	DevicePostureAge      = "zt:DevicePostureAge"
	DeviceOwner           = "zt:DeviceOwner"
	DeviceGroups          = "zt:DeviceGroups"
	RiskScore             = "zt:RiskScore"
	RiskLevel             = "zt:RiskLevel"
	AuthMethod            = "zt:AuthMethod"
	AuthTime              = "zt:AuthTime"
	IdentityProvider      = "zt:IdentityProvider"
	NetworkSegment        = "zt:NetworkSegment"
	TLSVersion            = "zt:TLSVersion"
	TLSCipherSuite        = "zt:TLSCipherSuite"
	ClientCertSerial      = "zt:ClientCertSerial"
	ClientCertIssuer      = "zt:ClientCertIssuer"
	SpiffeID              = "zt:SpiffeId"
	Route                 = "zt:Route"
	HTTPMethod            = "zt:HTTPMethod"
	HTTPPath              = "zt:HTTPPath"
	Host                  = "zt:Host"
	SessionID             = "zt:SessionId"
)

// Sources shared by several keys.
const (
	srcCaller   = "Set at every enforcement point from the authenticated caller when the request context is built."
	srcDefaults = srcCaller + " `ztgate policy simulate` and `ztgate policy test` fill it from the request's principal " +
		"unless the request's context sets it."
	srcClock = "The enforcement point's clock when it builds the request context, just before the decision: " +
		"the policy engine never reads a clock itself. `ztgate policy simulate` and `ztgate policy test` use the time they run, " +
		"unless the request's context sets the key."
	srcPosture = "Set by the gateway, the ext_authz server and the MQTT broker from the device registry: " +
		"the device's last signed posture report. Absent when the request comes from no known device (see zt:DeviceId) " +
		"or the device has not reported yet."
	srcHTTP = " Absent on MQTT and host-agent decisions."
	srcTLS  = "Set by the gateway and the MQTT broker from their own TLS connection with the client, and by the ext_authz server " +
		"from the downstream TLS details Envoy reports. Absent when the connection is not TLS. Behind a trusted proxy that " +
		"terminates TLS it describes the proxy's connection, not the client's."
	srcCert = "Set only when the caller presented a client certificate that verified against a configured CA " +
		"(mutual TLS at the gateway or the MQTT broker, or as Envoy reports it to the ext_authz server)."
)

// catalogue lists every key ztgate knows. It is never modified; Catalogue
// hands out copies.
var catalogue = []Key{
	// AWS global keys.
	{Name: SourceIP, Type: IPAddress,
		Source: "Set by every enforcement point: the TCP peer address of the client connection, or the first untrusted " +
			"X-Forwarded-For hop when the peer is a configured trusted proxy (gateway); the downstream address Envoy reports " +
			"(ext_authz server); the TCP peer address (MQTT broker, host agent).",
		Doc: "The address the request came from, IPv4 or IPv6. Compare it with IpAddress and NotIpAddress and CIDR ranges."},
	{Name: SecureTransport, Type: Bool,
		Source: "Set by every enforcement point: `true` when the client's connection to it is TLS (for the ext_authz server, " +
			"when Envoy reports a TLS downstream connection), `false` otherwise.",
		Doc: "Whether the request arrived over TLS."},
	{Name: CurrentTime, Type: Date, Source: srcClock,
		Doc: "The time of the request, RFC 3339 in UTC (`2026-03-01T09:30:00Z`)."},
	{Name: EpochTime, Type: Date, Source: srcClock,
		Doc: "The time of the request in whole seconds since 1970-01-01 UTC. The Date operators accept epoch seconds, " +
			"and the Numeric operators compare it as a number."},
	{Name: MultiFactorAuthPresent, Type: Bool,
		Source: "Set by the gateway from the browser session, and by STS into the temporary credentials it issues: `true` when " +
			"the sign-in used a second factor (a passkey, a TOTP code, or an OIDC provider whose `amr` claim reports one), " +
			"`false` otherwise. Absent for requests signed with long-term access keys and for client certificates.",
		Doc: "Whether the caller signed in with more than one factor. Absent, not `false`, for long-term credentials: " +
			"`{\"BoolIfExists\": {\"aws:MultiFactorAuthPresent\": \"false\"}}` catches both."},
	{Name: MultiFactorAuthAge, Type: Number,
		Source: "Computed by the gateway and at SigV4 authentication from the time of the second factor recorded in the " +
			"browser session or the temporary credentials. Absent when no second factor was used.",
		Doc: "Seconds since the caller completed multi-factor authentication."},
	{Name: PrincipalARN, Type: ARN, Source: srcDefaults + " Absent for anonymous callers.",
		Doc: "Who is asking, as policies are attached: the user's ARN, the role's ARN for a role session " +
			"(`arn:zt:iam::111122223333:role/deployer`, not the session's ARN), the account's root ARN, " +
			"a service principal's name, or a workload's SPIFFE ID (which is not an ARN: match it with the String operators)."},
	{Name: PrincipalAccount, Type: String, Source: srcDefaults + " Absent for anonymous callers, service principals and workloads.",
		Doc: "The caller's 12-digit account ID."},
	{Name: PrincipalTagPrefix, Type: String, Prefix: true,
		Source: "Set by the gateway and STS from the principal store: the tags of the user, or for a role session the role's " +
			"tags overlaid with the session tags given when the session was created. One key per tag; absent for untagged callers.",
		Doc: "A tag of the caller: `aws:PrincipalTag/team` is the value of its tag `team`."},
	{Name: PrincipalType, Type: String, Source: srcDefaults + " Absent for anonymous callers.",
		Doc: "The kind of caller: `Account`, `User`, `AssumedRole` (a role session), `FederatedUser`, `Service`, " +
			"or `Workload` (a SPIFFE ID, ztgate's own value)."},
	{Name: UserID, Type: String,
		Source: "Set by the gateway and STS from the principal store: the user's unique ID; for a role session the role's " +
			"unique ID and the session name, joined by a colon (`ROLEID:ci-run-42`). Absent for anonymous callers.",
		Doc: "A stable identifier of the caller which, unlike a name, is not reused when a user is deleted and created again."},
	{Name: Username, Type: String, Source: srcDefaults + " Only users have it.",
		Doc: "The user's name (`alice`). `${aws:username}` gives each user their own resources."},
	{Name: TokenIssueTime, Type: Date,
		Source: "Set by STS into temporary credentials and by the gateway for browser sessions: when the credentials or the " +
			"session were issued. Absent for long-term access keys and client certificates.",
		Doc: "When the caller's temporary credentials or session were issued. `DateGreaterThan` a fixed time " +
			"refuses every credential issued before it."},
	{Name: RequestTagPrefix, Type: String, Prefix: true,
		Source: "Set by ztgate's administrative API for the requests that create or tag users, roles, routes and devices " +
			"(the tags in the request), and by STS for the session tags passed when a role session is created. " +
			"Never set on gateway, MQTT or host-agent requests.",
		Doc: "A tag the request asks to set: `aws:RequestTag/env` is the value given for the tag `env`."},
	{Name: ResourceTagPrefix, Type: String, Prefix: true,
		Source: "Set by the gateway from the tags of the matched route in the configuration, and by the administrative API " +
			"from the stored tags of the user, role or device acted upon. Absent for untagged resources.",
		Doc: "A tag of the resource the request acts on."},
	{Name: TagKeys, Type: String, Multi: true,
		Source: "Set with aws:RequestTag/<key> (administrative API, STS): the keys of the tags in the request.",
		Doc:    "The tag keys the request sets. ForAllValues limits them to a list; ForAnyValue requires one of a list."},
	{Name: SourceIdentity, Type: String,
		Source: "Set by STS: the source identity given when the first session of a chain of role sessions was created; " +
			"every session assumed from it carries it unchanged. Absent otherwise.",
		Doc: "Who is behind a role session: the person or workload that started the chain of role assumptions."},
	{Name: UserAgent, Type: String,
		Source: "The User-Agent header of the HTTP request (gateway, ext_authz server). Absent when the client sends none." + srcHTTP,
		Doc:    "The client's software. The client chooses this text: never base access on it."},
	{Name: Referer, Type: String,
		Source: "The Referer header of the HTTP request (gateway, ext_authz server). Absent when the client sends none." + srcHTTP,
		Doc:    "The page that linked to the request. The client chooses this text: never base access on it."},
	{Name: ViaAWSService, Type: Bool,
		Source: "Set to `false` by every enforcement point: no ztgate component makes requests with a caller's credentials on its behalf.",
		Doc:    "Whether a service made the request on the caller's behalf. Always `false` in ztgate."},
	{Name: RequestedRegion, Type: String,
		Source: "Set at SigV4 authentication (gateway, ext_authz server): the region in the signature's credential scope, " +
			"which is the region the client's SDK was configured with. Absent for requests not signed with SigV4.",
		Doc: "The region the client signed for. ztgate has no regions of its own; the key keeps policies that pin a region meaningful."},
	{Name: FederatedProvider, Type: String,
		Source: "Set by STS for sessions created with AssumeRoleWithWebIdentity, and by the gateway for browser sessions " +
			"signed in through OIDC: the ARN of the OIDC provider registered in ztgate " +
			"(`arn:zt:iam::111122223333:oidc-provider/login.example.com`). Absent for other callers.",
		Doc: "The identity provider the caller's session was federated from."},
	{Name: PrincipalIsAWSService, Type: Bool, Source: srcCaller,
		Doc: "`true` when the caller is a service principal (named by a service name rather than an ARN), " +
			"`false` for every other caller, anonymous ones included."},
	{Name: ResourceAccount, Type: String,
		Source: "Set by every enforcement point with the resource: the account that owns it (for a gateway route, " +
			"the account the route belongs to).",
		Doc: "The resource owner's 12-digit account ID; with aws:PrincipalAccount it keeps access inside one account."},

	// ztgate keys.
	{Name: DeviceID, Type: String,
		Source: "Set by the gateway, the ext_authz server and the MQTT broker when the client presented a device " +
			"certificate issued by ztgate's CA, or when the browser session was bound to an enrolled device at sign-in. " +
			"Absent otherwise, and then so are all the other device keys.",
		Doc: "The device's ID in ztgate's device registry."},
	{Name: DeviceManaged, Type: Bool,
		Source: "Set with zt:DeviceId from the device registry: chosen by an administrator when the device was enrolled.",
		Doc:    "`true` for a device the organisation manages, `false` for an enrolled personal device."},
	{Name: DeviceCompliant, Type: Bool,
		Source: "Set by the gateway, the ext_authz server and the MQTT broker from the device registry, which judges each signed " +
			"posture report against the posture requirements configured for the device's groups; `false` once the last " +
			"report is older than the configured maximum age. Absent when the request comes from no known device.",
		Doc: "Whether the device met its posture requirements at its last report."},
	{Name: DevicePlatform, Type: String, Source: srcPosture,
		Doc: "The operating system, lower case: `linux`, `macos`, `windows`, `ios`, `android`."},
	{Name: DeviceOSVersion, Type: String, Source: srcPosture,
		Doc: "The operating system's version as the device reports it (`14.4.1`). Versions are not numbers: " +
			"compare them with StringEquals or StringLike (`14.*`)."},
	{Name: DeviceDiskEncrypted, Type: Bool, Source: srcPosture,
		Doc: "Whether the device's system disk is encrypted."},
	{Name: DeviceFirewallEnabled, Type: Bool, Source: srcPosture,
		Doc: "Whether the device's host firewall is on."},
	{Name: DeviceScreenLock, Type: Bool, Source: srcPosture,
		Doc: "Whether the device locks its screen with a password, PIN or biometric."},
	{Name: DevicePostureAge, Type: Number,
		Source: "Computed by the enforcement point when it builds the request context: the seconds from the signing time " +
			"of the device's last posture report to the time of the request. Absent when there is no report.",
		Doc: "How old the device facts are: `{\"NumericLessThanEquals\": {\"zt:DevicePostureAge\": \"3600\"}}` " +
			"requires a report from the last hour."},
	{Name: DeviceOwner, Type: ARN,
		Source: "Set with zt:DeviceId from the device registry: the ARN of the user the device is enrolled to. " +
			"Absent for devices enrolled to no one (shared machines, IoT devices).",
		Doc: "Whose device it is: `{\"StringEquals\": {\"zt:DeviceOwner\": \"${aws:PrincipalArn}\"}}` " +
			"admits users only from their own devices."},
	{Name: DeviceGroups, Type: String, Multi: true,
		Source: "Set with zt:DeviceId from the device registry: the device's groups; an empty list for a device in no group.",
		Doc:    "The device's groups (`laptops`, `kiosks`, `ci-runners`), compared with ForAnyValue: or ForAllValues:."},
	{Name: RiskScore, Type: Number,
		Source: "Set by the gateway, the ext_authz server and the MQTT broker from the open findings of ztgate's detectors " +
			"about the caller, its session and its device: the highest score among them, `0` when there are none.",
		Doc: "How likely the request is to be hostile, from `0` to `100`."},
	{Name: RiskLevel, Type: String,
		Source: "Set with zt:RiskScore, from the same findings.",
		Doc:    "The risk as a word: `low`, `medium` or `high`."},
	{Name: AuthMethod, Type: String,
		Source: "Set by every enforcement point from how the request's credentials were established: for a browser session, " +
			"the factor that completed the sign-in; for other requests, how the request itself is authenticated.",
		Doc: "One of `password`, `passkey`, `totp` (a TOTP code after the password), `oidc` (a sign-in through an OIDC " +
			"provider), `sigv4` (access keys or STS credentials), `mtls` (a client certificate or X.509-SVID), " +
			"`jwt` (a bearer JWT or JWT-SVID)."},
	{Name: AuthTime, Type: Date,
		Source: "Set by the gateway for browser sessions (when the user signed in; for OIDC, the provider's `auth_time` " +
			"when it gives one) and by STS into temporary credentials (the sign-in time of the session they were issued " +
			"for, else their issue time). Absent for long-term access keys and client certificates.",
		Doc: "When the caller last proved who they are. `DateGreaterThan` a fixed time refuses sign-ins from " +
			"before it, for instance from before an incident."},
	{Name: IdentityProvider, Type: String,
		Source: "Set by the gateway for browser sessions and by STS into temporary credentials: the issuer URL of the OIDC " +
			"provider that authenticated the user, or `local` for ztgate's own users and their access keys. " +
			"Absent for workloads and devices.",
		Doc: "Which identity provider vouches for the caller."},
	{Name: NetworkSegment, Type: String,
		Source: "Set by every enforcement point: the name of the first network segment in the configuration whose " +
			"address ranges contain aws:SourceIp. Absent when none does.",
		Doc: "Where on the network the request came from, by name (`office`, `vpn`, `datacenter`). A fact, not a " +
			"grant of trust: combine it with identity and device conditions, never use it alone."},
	{Name: TLSVersion, Type: String, Source: srcTLS,
		Doc: "The TLS version of the client connection, as Go names it: `TLS 1.2`, `TLS 1.3`."},
	{Name: TLSCipherSuite, Type: String, Source: srcTLS,
		Doc: "The cipher suite of the client connection, by its IANA name (`TLS_AES_128_GCM_SHA256`)."},
	{Name: ClientCertSerial, Type: String, Source: srcCert,
		Doc: "The client certificate's serial number, in lower-case hexadecimal without separators."},
	{Name: ClientCertIssuer, Type: String, Source: srcCert,
		Doc: "The client certificate issuer's distinguished name, in RFC 4514 form (`CN=ztgate device CA,O=Example`)."},
	{Name: SpiffeID, Type: String,
		Source: "Set by every enforcement point when the caller authenticated as a workload: the SPIFFE ID in the URI SAN " +
			"of its X.509-SVID (mutual TLS) or the `sub` of its JWT-SVID. Absent otherwise.",
		Doc: "The workload's SPIFFE ID (`spiffe://example.org/ns/prod/sa/api`); `StringLike` with " +
			"`spiffe://example.org/ns/prod/*` admits a whole namespace."},
	{Name: Route, Type: String,
		Source: "Set by the gateway, and by the ext_authz server for routes ztgate knows: the name of the route that matched " +
			"the request." + srcHTTP,
		Doc: "The gateway route (`wiki`), the NAME in `arn:zt:gateway::<account>:route/NAME/path`."},
	{Name: HTTPMethod, Type: String,
		Source: "Set by the gateway and the ext_authz server: the request's method, upper case." + srcHTTP,
		Doc:    "The HTTP method (`GET`), the same as the action's name after `http:`."},
	{Name: HTTPPath, Type: String,
		Source: "Set by the gateway and the ext_authz server: the request path after ztgate's normalisation, byte for byte " +
			"the path the upstream receives, without the query string." + srcHTTP,
		Doc: "The HTTP path (`/pages/home`)."},
	{Name: Host, Type: String,
		Source: "Set by the gateway and the ext_authz server: the Host header (`:authority` in HTTP/2 and HTTP/3), " +
			"lower case, without the port." + srcHTTP,
		Doc: "The host name the client asked for (`wiki.example.com`)."},
	{Name: SessionID, Type: String,
		Source: "Set by the gateway for browser sessions, and at SigV4 authentication for STS temporary credentials: " +
			"the ID of the ztgate session. Absent for long-term access keys and client certificates.",
		Doc: "One session, to refuse it or single it out; automatic responses revoke sessions by this ID."},
}

// neverSet lists AWS global condition keys ztgate never sets, with why.
// The reference prints them so that authors know such conditions cannot
// match as written.
var neverSet = []struct {
	names []string
	why   string
}{
	{[]string{"aws:SourceVpc", "aws:SourceVpce", "aws:VpcSourceIp",
		"aws:Ec2InstanceSourceVpc", "aws:Ec2InstanceSourcePrivateIPv4",
		"aws:VpceAccount", "aws:VpceOrgID", "aws:VpceOrgPaths"},
		"ztgate has no VPCs or VPC endpoints; use aws:SourceIp and zt:NetworkSegment"},
	{[]string{"aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:ResourceOrgID", "aws:ResourceOrgPaths",
		"aws:SourceOrgID", "aws:SourceOrgPaths"},
		"ztgate has no organisations; guardrail levels are attached by account"},
	{[]string{"aws:SourceArn", "aws:SourceAccount", "aws:SourceOwner", "aws:CalledVia", "aws:CalledViaFirst",
		"aws:CalledViaLast", "aws:PrincipalServiceName", "aws:PrincipalServiceNamesList"},
		"no ztgate service calls another on a caller's behalf"},
}

// Catalogue returns every condition key ztgate knows: the AWS global keys
// it sets, then its own zt: keys. The slice is the caller's to keep.
func Catalogue() []Key { return slices.Clone(catalogue) }

// Lookup finds a key of the catalogue by name, case-insensitively, as
// policies name keys. A name that extends a prefix key with a non-empty
// tag key ("aws:PrincipalTag/team") finds the prefix key, whose Name ends
// in '/'.
func Lookup(name string) (Key, bool) {
	for i := range catalogue {
		k := &catalogue[i]
		if k.Prefix {
			if len(name) > len(k.Name) && strings.EqualFold(name[:len(k.Name)], k.Name) {
				return *k, true
			}
			continue
		}
		if strings.EqualFold(name, k.Name) {
			return *k, true
		}
	}
	return Key{}, false
}

// NeverSet returns the AWS global condition keys that ztgate never sets,
// so that a condition on one of them is true only where a missing key
// makes it true (…IfExists, Null, negated operators, ForAllValues:).
func NeverSet() []string {
	var out []string
	for _, g := range neverSet {
		out = append(out, g.names...)
	}
	return out
}
