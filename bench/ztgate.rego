# ztgate's identity policies, the workload's, in Rego: IAM's evaluation
# for one principal's statements, with deny overriding allow.
#
# data.statements[user] lists the statements attached to the user, each
#   allow         true for Allow, false for Deny
#   actions       action patterns, lowercased (IAM matches them without case)
#   resources     ARN patterns
#   source_cidr   IpAddress aws:SourceIp           (absent: no condition)
#   not_after_ns  DateLessThan aws:CurrentTime, ns (absent: no condition)
#   team          StringEquals aws:PrincipalTag/team
#   env           StringEquals aws:ResourceTag/env
#
# input: principal, action, resource, source_ip, now_ns, principal_tags,
# resource_tags.
package ztgate

default allow := false

# Action and resource are matched inline rather than in a function of the
# statement, where most statements fail: it saves OPA about a quarter of
# its allocations per decision. glob.match has no delimiters (null), so *
# crosses ':' and '/' as IAM's does.
allow if {
	some s in data.statements[input.principal]
	s.allow
	some a in s.actions
	glob.match(a, null, action)
	some r in s.resources
	glob.match(r, null, input.resource)
	conditions_hold(s)
	not denied
}

denied if {
	some s in data.statements[input.principal]
	not s.allow
	some a in s.actions
	glob.match(a, null, action)
	some r in s.resources
	glob.match(r, null, input.resource)
	conditions_hold(s)
}

action := lower(input.action)

# Every condition a statement sets must hold; an absent one does not
# constrain. A tag missing from input fails its condition, as in IAM.
conditions_hold(s) if {
	ip_holds(s)
	time_holds(s)
	team_holds(s)
	env_holds(s)
}

ip_holds(s) if not s.source_cidr

ip_holds(s) if net.cidr_contains(s.source_cidr, input.source_ip)

time_holds(s) if not s.not_after_ns

time_holds(s) if input.now_ns < s.not_after_ns

team_holds(s) if not s.team

team_holds(s) if input.principal_tags.team == s.team

env_holds(s) if not s.env

env_holds(s) if input.resource_tags.env == s.env
