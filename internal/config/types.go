package config

import "time"

// Config is the whole of ztgate's YAML configuration. Every field carries a
// yaml tag (its key), a doc tag (its description in docs/config.md and in
// the example file) and, where it has one, a default tag holding the
// default in YAML syntax; secret:"true" keeps a value out of logs and error
// messages. Paths that are relative are resolved against the data
// directory.
type Config struct {
	Listen  string  `yaml:"listen" doc:"Address of the main HTTP listener, host:port. The serve flag --listen overrides it; port 0 picks a free port." default:"127.0.0.1:8080"`
	Node    Node    `yaml:"node" doc:"This node's identity within a cluster."`
	Log     Log     `yaml:"log" doc:"Logging."`
	Store   Store   `yaml:"store" doc:"Where ztgate keeps its state."`
	Keys    Keys    `yaml:"keys" doc:"Key material."`
	Audit   Audit   `yaml:"audit" doc:"The tamper-evident audit log, in the audit directory of the data directory."`
	Server  Server  `yaml:"server" doc:"HTTP server limits and timeouts."`
	IAM     IAM     `yaml:"iam" doc:"IAM users, groups, roles and customer-managed policies declared in this file, so that they are reviewed and versioned with it. Each list is empty by default. Names are unique within their list, compared without case as AWS compares them."`
	Gateway Gateway `yaml:"gateway" doc:"The identity-aware gateway on the main listener: requests whose host and path match a route are authenticated, decided by policy on every request and forwarded to the route's upstreams."`
	STS     STS     `yaml:"sts" doc:"The Security Token Service, which issues temporary credentials."`
	CA      CA      `yaml:"ca" doc:"ztgate's certificate authority: workload identities (SPIFFE X.509-SVIDs and JWT-SVIDs), device certificates and the gateway's TLS certificate."`
	Devices Devices `yaml:"devices" doc:"The device registry: enrollment of devices (certificates from ztgate's CA) and their signed posture reports, which become the zt:Device* condition keys."`
}

// Devices configures the device registry.
type Devices struct {
	CertTTL       Duration `yaml:"cert_ttl" default:"720h" doc:"Lifetime of device certificates, at most ca.max_ttl: left out, the smaller of 720h and ca.max_ttl. From 1h to 8760h."`
	TokenTTL      Duration `yaml:"token_ttl" default:"24h" doc:"Lifetime of an enrollment token when its creation names none. From 1m to 720h."`
	MaxPostureAge Duration `yaml:"max_posture_age" default:"1h" doc:"A device whose last signed posture report is older than this is not compliant (zt:DeviceCompliant false). From 1m to 720h."`
}

// CA configures the certificate authority.
type CA struct {
	TrustDomain string   `yaml:"trust_domain" default:"ztgate.local" doc:"The SPIFFE trust domain: workloads are spiffe://TRUST_DOMAIN/PATH. Lowercase letters, digits, dots, hyphens and underscores. Fixed once the CA exists: changing it later is refused at start."`
	SVIDTTL     Duration `yaml:"svid_ttl" default:"1h" doc:"Default lifetime of X.509-SVIDs; agents renew them at half-life. (A JWT-SVID lives 5 minutes unless its request names a lifetime, at most 1h.) From 1m to max_ttl."`
	MaxTTL      Duration `yaml:"max_ttl" default:"720h" doc:"Longest lifetime the CA gives any leaf certificate, whatever is asked (workloads get svid_ttl unless they ask for more). From 1m to 8760h."`
	ImportCert  string   `yaml:"import_cert_file" doc:"PEM certificate (and chain) of an existing CA to sign with, instead of generating a root at first start (with import_key_file). Read at first start only."`
	ImportKey   string   `yaml:"import_key_file" doc:"PEM private key of import_cert_file."`
}

// Node names this process among the nodes that share a store.
type Node struct {
	Name string `yaml:"name" doc:"Name of this node, recorded with every change it writes: up to 63 letters, digits, dots, underscores and hyphens. Empty means the host name."`
}

// Log selects the level and format of ztgate's own log.
type Log struct {
	Level  string `yaml:"level" doc:"Least severe level logged: debug, info, warn or error." default:"info"`
	Format string `yaml:"format" doc:"auto (text on a terminal, JSON otherwise), text or json." default:"auto"`
}

// Store selects and configures the state backend.
type Store struct {
	Driver   string   `yaml:"driver" doc:"sqlite (embedded, one node) or postgres (any number of nodes)." default:"sqlite"`
	SQLite   SQLite   `yaml:"sqlite" doc:"Embedded SQLite backend."`
	Postgres Postgres `yaml:"postgres" doc:"PostgreSQL backend."`
}

// SQLite configures the embedded backend.
type SQLite struct {
	Path        string   `yaml:"path" doc:"Database file; relative paths are inside the data directory." default:"ztgate.db"`
	BusyTimeout Duration `yaml:"busy_timeout" doc:"How long a writer waits for the database lock before failing." default:"5s"`
}

// Postgres configures the PostgreSQL backend.
type Postgres struct {
	DSN            string   `yaml:"dsn" doc:"Connection string, URL (postgres://user@host:5432/db?sslmode=verify-full) or key=value form. Required when driver is postgres. A password here is never logged." secret:"true"`
	MaxConns       int      `yaml:"max_conns" doc:"Most connections held open in the pool, besides the one that listens for changes; from 1 to 1000." default:"10"`
	ConnectTimeout Duration `yaml:"connect_timeout" doc:"Limit on establishing one connection." default:"5s"`
}

// Keys locates the key-encryption key.
type Keys struct {
	KEKFile string `yaml:"kek_file" doc:"File holding the key-encryption key (base64, mode 0600); relative paths are inside the data directory. The environment variable ZTGATE_KEK, when set, takes precedence." default:"kek.key"`
}

// Audit configures the audit log.
type Audit struct {
	Mode           string         `yaml:"mode" doc:"sync: a record is on disk before the request it records is answered (many records share one fsync); async: records are written in the background, and those of the last moments before a crash can be lost." default:"sync"`
	SegmentSizeMiB int            `yaml:"segment_size_mib" doc:"A segment is closed, and its digest signed, when it reaches this size in MiB (1 to 4096)." default:"64"`
	SegmentAge     Duration       `yaml:"segment_age" doc:"A segment is closed, and its digest signed, when it is this old." default:"15m"`
	Region         string         `yaml:"region" doc:"The awsRegion written in records that have no region of their own." default:"zt-local"`
	Retention      AuditRetention `yaml:"retention" doc:"How long closed segments are kept. The oldest are removed, and a signed retention marker written first so that verification still holds; the newest closed segment is always kept."`
}

// AuditRetention bounds the audit log by age and size.
type AuditRetention struct {
	MaxAge     Duration `yaml:"max_age" doc:"Remove closed segments whose newest record is older than this. 0 keeps them forever." default:"0s"`
	MaxSizeMiB int      `yaml:"max_size_mib" doc:"Remove the oldest closed segments while the node's closed segments take more than this many MiB. 0 means no limit." default:"0"`
}

// Server holds HTTP server limits.
type Server struct {
	ReadHeaderTimeout Duration `yaml:"read_header_timeout" doc:"Limit on reading a request's headers." default:"10s"`
	IdleTimeout       Duration `yaml:"idle_timeout" doc:"How long an idle keep-alive connection stays open." default:"120s"`
	ShutdownTimeout   Duration `yaml:"shutdown_timeout" doc:"On SIGINT or SIGTERM, how long in-flight requests may take before connections are closed." default:"15s"`
}

// IAM declares the identities and policies of the deployment's one
// account. The lists hold what the file says; turning them into IAM
// entities, and checking policy documents in full, is the wiring's work.
type IAM struct {
	Account  string      `yaml:"account" doc:"The account ID of this deployment, exactly 12 digits. It appears in every ARN (arn:zt:iam::ACCOUNT:user/NAME); quote it, so that other YAML tools keep it a string." default:"\"000000000000\""`
	Policies []IAMPolicy `yaml:"policies" doc:"Customer-managed policies: named policy documents that groups, users and roles attach by name in managed_policies or permissions_boundary."`
	Groups   []IAMGroup  `yaml:"groups" doc:"Groups: their policies apply to every user in them."`
	Users    []IAMUser   `yaml:"users" doc:"Users: people and programs that sign requests with access keys of their own. Access keys are not part of the configuration."`
	Roles    []IAMRole   `yaml:"roles" doc:"Roles: identities without keys of their own, which the principals named by their trust policy assume for temporary credentials."`
}

// IAMPolicy is a customer-managed policy.
type IAMPolicy struct {
	Name        string `yaml:"name" required:"true" example:"ReadOnly" doc:"The policy's name: 1 to 128 letters, digits and +=,.@_-."`
	Path        string `yaml:"path" default:"/" doc:"Path of the policy, which its ARN includes: the path /ops/ gives arn:zt:iam::ACCOUNT:policy/ops/NAME. Begins and ends with /, at most 512 printable ASCII characters."`
	Description string `yaml:"description" example:"Read any object in S3" doc:"What the policy is for, up to 1000 characters."`
	Document    string `yaml:"document" required:"true" example:"'{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": [\"s3:GetObject\", \"s3:ListBucket\"], \"Resource\": \"*\"}]}'" doc:"The policy document: IAM policy JSON, as a string (a block scalar, document: |, keeps it readable). config validate checks it as ztgate will apply it."`
}

// InlinePolicy is a policy embedded in one group, user or role.
type InlinePolicy struct {
	Name     string `yaml:"name" required:"true" example:"write-logs" doc:"The policy's name, unique among the inline policies of its group, user or role: 1 to 128 letters, digits and +=,.@_-."`
	Document string `yaml:"document" required:"true" example:"'{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:PutObject\", \"Resource\": \"arn:aws:s3:::logs/*\"}]}'" doc:"The policy document: IAM policy JSON, as a string."`
}

// IAMGroup is a group of users.
type IAMGroup struct {
	Name            string         `yaml:"name" required:"true" example:"developers" doc:"The group's name: 1 to 128 letters, digits and +=,.@_-."`
	Path            string         `yaml:"path" default:"/" doc:"Path of the group, part of its ARN as for a policy: begins and ends with /, at most 512 printable ASCII characters."`
	Policies        []InlinePolicy `yaml:"policies" doc:"Inline policies, which belong to this group alone."`
	ManagedPolicies []string       `yaml:"managed_policies" example:"[ReadOnly]" doc:"Managed policies attached to the group, each the name of a policy in iam.policies or a policy's ARN (arn:...)."`
}

// IAMUser is a user.
type IAMUser struct {
	Name                string         `yaml:"name" required:"true" example:"alice" doc:"The user's name: 1 to 64 letters, digits and +=,.@_-."`
	Path                string         `yaml:"path" default:"/" doc:"Path of the user, part of its ARN as for a policy: begins and ends with /, at most 512 printable ASCII characters."`
	Groups              []string       `yaml:"groups" example:"[developers]" doc:"Names of the groups in iam.groups that the user belongs to."`
	Tags                []Tag          `yaml:"tags" doc:"Tags, at most 50, which policies test as aws:PrincipalTag/KEY."`
	Policies            []InlinePolicy `yaml:"policies" doc:"Inline policies, which belong to this user alone."`
	ManagedPolicies     []string       `yaml:"managed_policies" doc:"Managed policies attached to the user, each the name of a policy in iam.policies or a policy's ARN (arn:...)."`
	PermissionsBoundary string         `yaml:"permissions_boundary" doc:"A managed policy that bounds what the user may do, whatever its other policies allow: the name of a policy in iam.policies or a policy's ARN. Empty for none."`
}

// IAMRole is a role.
type IAMRole struct {
	Name                string         `yaml:"name" required:"true" example:"deployer" doc:"The role's name: 1 to 64 letters, digits and +=,.@_-."`
	Path                string         `yaml:"path" default:"/" doc:"Path of the role, part of its ARN as for a policy: begins and ends with /, at most 512 printable ASCII characters."`
	Description         string         `yaml:"description" example:"Deploys the site from CI" doc:"What the role is for, up to 1000 characters."`
	TrustPolicy         string         `yaml:"trust_policy" required:"true" example:"'{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"arn:zt:iam::000000000000:user/alice\"}, \"Action\": \"sts:AssumeRole\"}]}'" doc:"The trust policy: IAM policy JSON, as a string, saying who may assume the role."`
	MaxSessionDuration  Duration       `yaml:"max_session_duration" default:"1h" doc:"Longest session that assuming the role may ask for, from 1h to 12h."`
	Tags                []Tag          `yaml:"tags" doc:"Tags, at most 50. The role's sessions carry them as aws:PrincipalTag/KEY."`
	Policies            []InlinePolicy `yaml:"policies" doc:"Inline policies, which belong to this role alone."`
	ManagedPolicies     []string       `yaml:"managed_policies" example:"[ReadOnly]" doc:"Managed policies attached to the role, each the name of a policy in iam.policies or a policy's ARN (arn:...)."`
	PermissionsBoundary string         `yaml:"permissions_boundary" doc:"A managed policy that bounds what the role's sessions may do, whatever its other policies allow: the name of a policy in iam.policies or a policy's ARN. Empty for none."`
}

// Tag is a key and value attached to a user or role.
type Tag struct {
	Key   string `yaml:"key" required:"true" example:"team" doc:"1 to 128 letters, digits, spaces and _.:/=+-@, not beginning with aws:, unique among the tags compared without case."`
	Value string `yaml:"value" example:"blue" doc:"Up to 256 letters, digits, spaces and _.:/=+-@."`
}

// STS configures the Security Token Service.
type STS struct {
	MaxClockSkew Duration    `yaml:"max_clock_skew" default:"5m" doc:"How far the time at which a request was signed may be from this node's clock, from 1s to 1h."`
	WebIdentity  WebIdentity `yaml:"web_identity" doc:"AssumeRoleWithWebIdentity, which trades an OpenID Connect token for a role's temporary credentials."`
}

// WebIdentity lists the OpenID Connect issuers that are trusted.
type WebIdentity struct {
	Issuers []OIDCIssuer `yaml:"issuers" doc:"The OpenID Connect issuers whose tokens AssumeRoleWithWebIdentity accepts; a token from any other issuer is refused. None by default."`
}

// OIDCIssuer is one trusted OpenID Connect issuer.
type OIDCIssuer struct {
	URL       string   `yaml:"url" required:"true" example:"https://token.actions.githubusercontent.com" doc:"The issuer, exactly as the iss claim of its tokens: an https URL, or http for a loopback host (localhost, 127.0.0.1, ::1), with no query or fragment. Unique in the list."`
	JWKSURL   string   `yaml:"jwks_url" doc:"Where the issuer publishes its signing keys, by the same rules as url. Empty: found through the issuer's discovery document, URL/.well-known/openid-configuration."`
	Audiences []string `yaml:"audiences" required:"true" example:"[sts.amazonaws.com]" doc:"The aud claims accepted: a token must name at least one of them."`
}

// Duration is a time.Duration written in Go's syntax ("5s", "1m30s").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Gateway configures the identity-aware reverse proxy.
type Gateway struct {
	Routes         []Route            `yaml:"routes" doc:"The routes, matched by host and the longest path prefix. A request that matches none is not the gateway's (the AWS query APIs keep POST / of other hosts)."`
	TrustedProxies string             `yaml:"trusted_proxies" doc:"Addresses or CIDR prefixes, separated by commas, of proxies in front of ztgate whose X-Forwarded-For, -Proto and -Host are believed (10.0.0.0/8, 192.0.2.7), by the gateway and by every other endpoint of the node (STS and IAM: aws:SourceIp, aws:SecureTransport; sign-in, device and agent APIs: audit records, rate limits). List the proxies' own addresses: a client inside a trusted prefix can name any address. Empty: none; the peer is the client."`
	Sessions       Sessions           `yaml:"sessions" doc:"People's sign-in sessions: server-side records behind the __Host-ztgate cookie, revocable at once on every node."`
	Providers      []IdentityProvider `yaml:"identity_providers" doc:"OpenID Connect providers people sign in with (authorization code with PKCE), besides local users. Register https://HOST/.ztgate/oidc/callback/NAME as a redirect URI for each gateway host, and https://HOST/.ztgate/oidc/backchannel/NAME for back-channel logout."`
	AssertionTTL   Duration           `yaml:"assertion_ttl" default:"5m" doc:"Lifetime of the signed identity assertion (ES256 JWT in X-Ztgate-Assertion) given to upstreams, from 30s to 1h; the keys are served at /.well-known/ztgate/jwks.json."`
	TLS            GatewayTLS         `yaml:"tls" doc:"A TLS listener for the gateway (HTTPS), where workloads and devices authenticate with client certificates from ztgate's CA (mutual TLS, route auth mtls)."`
}

// GatewayTLS configures the gateway's TLS listener.
type GatewayTLS struct {
	Listen   string `yaml:"listen" doc:"Address of the TLS listener, host:port (127.0.0.1:8443); empty: no TLS listener."`
	Names    string `yaml:"names" default:"localhost, 127.0.0.1" doc:"DNS names and IP addresses, separated by commas, of the listener's certificate, issued by ztgate's CA and renewed before it expires (unless cert_file is set)."`
	CertFile string `yaml:"cert_file" doc:"PEM certificate chain to serve instead of one from ztgate's CA (with key_file)."`
	KeyFile  string `yaml:"key_file" doc:"PEM private key of cert_file."`
}

// Route is one gateway route.
type Route struct {
	Name          string   `yaml:"name" required:"true" example:"app" doc:"The route's name, part of its resource ARN (arn:zt:gateway::ACCOUNT:route/NAME/PATH): 1 to 64 letters, digits and _.-."`
	Host          string   `yaml:"host" example:"app.localhost" doc:"Host the route answers for, without port; *.example.com matches any one label. Empty: any host."`
	PathPrefix    string   `yaml:"path_prefix" default:"/" doc:"Path prefix the route answers for, matched at segment boundaries."`
	Upstreams     []string `yaml:"upstreams" required:"true" example:"[http://127.0.0.1:3000]" doc:"Upstream URLs (http or https); requests are spread over them."`
	Public        bool     `yaml:"public" doc:"No authentication: requests are still decided by policy, as the anonymous principal, and audited."`
	Auth          []string `yaml:"auth" example:"[session, sigv4, jwt]" doc:"Authentication methods the route accepts, tried in order: session (people: the login cookie), sigv4 (AWS-signed requests), jwt (bearer tokens from the sts.web_identity issuers), mtls (client certificates from ztgate's CA on the TLS listener: workloads by SPIFFE ID, devices). Empty: all but mtls, which a route must name."`
	ReportOnly    bool     `yaml:"report_only" doc:"Log and audit what would be denied, and forward it anyway: for rolling out new policies safely."`
	StripPrefix   bool     `yaml:"strip_prefix" doc:"Remove path_prefix from the path forwarded upstream."`
	H2C           bool     `yaml:"h2c" doc:"Speak HTTP/2 without TLS to http upstreams, as gRPC servers expect; WebSocket upgrades still use HTTP/1.1."`
	MaxSessionAge Duration `yaml:"max_session_age" default:"0s" doc:"Require people to have authenticated within this long for this route (re-authentication); 0 for no limit."`
	Policy        string   `yaml:"policy" doc:"A resource policy for the route (IAM policy JSON with Principal), decided with the callers' identity policies as AWS decides resource policies. Empty: identity policies alone decide."`
	UpstreamCA    string   `yaml:"upstream_ca_file" doc:"PEM file of the CA certificates that verify an https upstream; empty: the system's roots."`
	UpstreamCert  string   `yaml:"upstream_cert_file" doc:"PEM client certificate presented to an https upstream (with upstream_key_file)."`
	UpstreamKey   string   `yaml:"upstream_key_file" doc:"PEM private key of upstream_cert_file."`
}

// Sessions bounds people's sessions.
type Sessions struct {
	IdleTimeout Duration `yaml:"idle_timeout" default:"12h" doc:"A session unused this long ends."`
	MaxLifetime Duration `yaml:"max_lifetime" default:"168h" doc:"A session ends this long after sign-in, used or not."`
}

// IdentityProvider is an OpenID Connect provider people sign in with.
type IdentityProvider struct {
	Name         string   `yaml:"name" required:"true" example:"corp" doc:"The provider's name, in URLs and audit records: 1 to 64 letters, digits and _.-."`
	DisplayName  string   `yaml:"display_name" example:"Corporate SSO" doc:"What the sign-in page's button says."`
	Issuer       string   `yaml:"issuer" required:"true" example:"https://sso.example.com" doc:"The issuer URL; its discovery document is read at start."`
	ClientID     string   `yaml:"client_id" required:"true" example:"ztgate" doc:"The client id registered at the provider."`
	ClientSecret string   `yaml:"client_secret" secret:"true" doc:"The client secret, if the provider issued one."`
	Scopes       []string `yaml:"scopes" example:"[openid, email, profile]" doc:"Scopes asked for; openid is always included."`
	Role         string   `yaml:"role" required:"true" example:"engineers" doc:"The role whose sessions this provider's people become: arn:zt:sts::ACCOUNT:assumed-role/ROLE/EMAIL. Their policies are the role's."`
	GroupsClaim  string   `yaml:"groups_claim" example:"groups" doc:"The claim holding the person's groups, passed to upstreams in the identity assertion. Empty: groups."`
}
