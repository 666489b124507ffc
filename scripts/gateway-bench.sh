#!/usr/bin/env bash
# Measures the gateway against its floor and a peer, in one run on this
# machine, over loopback, and prints the results as Markdown for
# BENCHMARKS.md:
#
#   (a) the upstream alone: a Go server answering every GET with 1 KiB
#   (b) a bare httputil.ReverseProxy in front of it (the floor)
#   (c) ztgate, a local user's session cookie (authentication, a policy
#       decision, the upstream's signed assertion and a sync audit record
#       on every request)
#   (d) ztgate, SigV4-signed requests (pre-signed by the AWS SDK and
#       replayed: wrk cannot sign; the client's signing cost is left out)
#   (e) oauth2-proxy with a cookie session (htpasswd user, logging off)
#
# Each one's peak is found closed loop (wrk, CONNS connections), in ROUNDS
# rounds of (a) to (e) in turn, so that a burst of other work on the
# machine disturbs one round of each rather than all of one target. (b) and
# (c) are then measured open loop at half of (b)'s peak, where latency
# rather than throughput is the question, and at half of (c)'s peak.
# Everything shares the machine's cores, the load generators too: compare
# ratios within one run.
#
#   scripts/gateway-bench.sh > result.md      (progress goes to stderr)
#
# Environment (seconds):
#   ROUNDS=3 PEAK_SECONDS=5 WARMUP=1 CONNS=32      the closed-loop peaks
#   OPEN_SECONDS=10 OPEN_WARMUP=2 OPEN_CONNS=64    the open-loop latencies
#   OAUTH2_PROXY=path   an oauth2-proxy binary to use instead of building
#                       v7.15.6 (about 30 s cached, a minute or two cold)
#
# Needs go, curl and wrk (installed from Debian when missing). Builds
# ztgate from this tree and bench/gateway (a module of its own) into a
# temporary directory, starts every server on 127.0.0.1 and stops them all
# on exit. About three minutes with the Go build cache warm.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
PEAK_SECONDS=${PEAK_SECONDS:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-32}
OPEN_SECONDS=${OPEN_SECONDS:-10}
OPEN_WARMUP=${OPEN_WARMUP:-2}
OPEN_CONNS=${OPEN_CONNS:-64}
OAUTH2_PROXY_VERSION=v7.15.6
ACCOUNT=000000000000

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'gateway-bench: %s\n' "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
		die "need root to run: $*"
	fi
}

command -v go >/dev/null || die "go is not installed"
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# --- processes: every one started is stopped on exit ---------------------------
WORK=$(mktemp -d /tmp/ztgate-gateway-bench.XXXXXX)
PIDS=()
stop() { # stop PID: TERM, then KILL if it lingers
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
forget() { # forget PID: a stopped process's id may be reused
	local p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do stop "$pid"; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_file() { # wait_file FILE PID WHAT: until FILE is non-empty, while PID lives
	local i
	for i in $(seq 300); do
		[ -s "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || die "$3 exited; its log: $(tail -5 "$WORK/$3.log" 2>/dev/null)"
		sleep 0.1
	done
	die "$3 did not start within 30 s"
}

# --- build ---------------------------------------------------------------------
BIN=$WORK/bin
mkdir -p "$BIN"
log "building ztgate and bench/gateway"
go build -o "$BIN/ztgate" ./cmd/ztgate
(cd bench/gateway && go build -o "$BIN/gatewaybench" .)
GB=$BIN/gatewaybench
if [ -n "${OAUTH2_PROXY:-}" ]; then
	O2P=$OAUTH2_PROXY
else
	log "building oauth2-proxy $OAUTH2_PROXY_VERSION"
	(cd "$WORK" && GOBIN=$BIN GOFLAGS=-buildvcs=false go install "github.com/oauth2-proxy/oauth2-proxy/v7@$OAUTH2_PROXY_VERSION")
	O2P=$BIN/oauth2-proxy
fi

# --- (a) the upstream, (b) the bare proxy ------------------------------------------
"$GB" upstream -addr-file "$WORK/upstream.addr" >"$WORK/upstream.log" 2>&1 &
UP_PID=$!
PIDS+=("$UP_PID")
wait_file "$WORK/upstream.addr" "$UP_PID" upstream
UP=$(cat "$WORK/upstream.addr")

"$GB" proxy -upstream "http://$UP" -addr-file "$WORK/proxy.addr" >"$WORK/proxy.log" 2>&1 &
PX_PID=$!
PIDS+=("$PX_PID")
wait_file "$WORK/proxy.addr" "$PX_PID" proxy
PX=$(cat "$WORK/proxy.addr")

# --- (c), (d) ztgate -------------------------------------------------------------
# A first start with --dev and no route creates the administrator (an
# access key with Allow * on *) and the local user "demo" (password and
# TOTP secret in demo.credentials). The node is then restarted with the
# measured configuration: a session route and a SigV4 route to the same
# upstream, the session route's resource policy allowing demo.
ZD=$WORK/ztgate
mkdir -p "$ZD"
common="listen: 127.0.0.1:0
store: {driver: sqlite}
audit: {mode: sync}
iam: {account: \"$ACCOUNT\"}"
printf '%s\n' "$common" >"$WORK/bootstrap.yaml"
cat >"$WORK/ztgate.yaml" <<EOF
$common
gateway:
  routes:
    - name: app
      host: app.localhost
      upstreams: [http://$UP]
      auth: [session]
      policy: '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:zt:iam::$ACCOUNT:user/demo"}, "Action": "http:*", "Resource": "arn:zt:gateway::$ACCOUNT:route/app/*"}]}'
    - name: api
      host: api.localhost
      upstreams: [http://$UP]
      auth: [sigv4]
EOF
log "starting ztgate"
"$BIN/ztgate" serve --dev --config "$WORK/bootstrap.yaml" --data-dir "$ZD" >"$WORK/ztgate-bootstrap.log" 2>&1 &
ZT_PID=$!
PIDS+=("$ZT_PID")
wait_file "$ZD/listen.addr" "$ZT_PID" ztgate-bootstrap
if [ ! -s "$ZD/demo.credentials" ] || [ ! -s "$ZD/admin.credentials" ]; then
	die "ztgate --dev made no demo user or administrator"
fi
stop "$ZT_PID"
forget "$ZT_PID"
rm -f "$ZD/listen.addr" # gone already, unless the node had to be killed
"$BIN/ztgate" serve --config "$WORK/ztgate.yaml" --data-dir "$ZD" >"$WORK/ztgate.log" 2>&1 &
ZT_PID=$!
PIDS+=("$ZT_PID")
wait_file "$ZD/listen.addr" "$ZT_PID" ztgate
ZT=$(cat "$ZD/listen.addr")
ZT_COOKIE=$("$GB" ztgate-login -url "http://$ZT" -host app.localhost -credentials "$ZD/demo.credentials")

# --- (e) oauth2-proxy ------------------------------------------------------------
O2P_PASSWORD=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
"$GB" htpasswd -user bench -password "$O2P_PASSWORD" >"$WORK/htpasswd"
O2P_PORT=$("$GB" freeport)
O2=127.0.0.1:$O2P_PORT
log "starting oauth2-proxy"
# The OIDC provider is never contacted (htpasswd sign-in, discovery
# skipped): its URLs point at a closed loopback port.
"$O2P" --http-address="$O2" --upstream="http://$UP/" \
	--provider=oidc --client-id=bench --client-secret=bench --skip-oidc-discovery \
	--oidc-issuer-url=http://127.0.0.1:9/ --login-url=http://127.0.0.1:9/authorize \
	--redeem-url=http://127.0.0.1:9/token --oidc-jwks-url=http://127.0.0.1:9/jwks \
	--htpasswd-file="$WORK/htpasswd" --email-domain='*' \
	--cookie-secret="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" --cookie-secure=false \
	--request-logging=false --auth-logging=false >"$WORK/oauth2-proxy.log" 2>&1 &
O2_PID=$!
PIDS+=("$O2_PID")
for i in $(seq 300); do
	curl -fs -o /dev/null "http://$O2/ping" && break
	kill -0 "$O2_PID" 2>/dev/null || die "oauth2-proxy exited: $(tail -5 "$WORK/oauth2-proxy.log")"
	[ "$i" -lt 300 ] || die "oauth2-proxy did not start within 30 s"
	sleep 0.1
done
O2_COOKIE=$("$GB" oauth2proxy-login -url "http://$O2" -user bench -password "$O2P_PASSWORD")

# --- every target serves the upstream's answer, and only with credentials ----------
expect() { # expect WHAT STATUS SIZE curl-args...: one request's status and size
	local what=$1 status=$2 size=$3 got want
	shift 3
	got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$@")
	if [ "$size" = any ]; then got=${got%% *}; want=$status; else want="$status $size"; fi
	[ "$got" = "$want" ] || die "$what: got $got, want $want"
}
expect "(a) upstream" 200 1024 "http://$UP/"
expect "(b) proxy" 200 1024 "http://$PX/"
expect "(c) ztgate with the session" 200 1024 -H "Host: app.localhost" -H "Cookie: $ZT_COOKIE" "http://$ZT/"
expect "(c) ztgate without a session" 401 any -H "Host: app.localhost" "http://$ZT/"
expect "(d) ztgate without a signature" 401 any -H "Host: api.localhost" "http://$ZT/"
expect "(e) oauth2-proxy with the session" 200 1024 -H "Cookie: $O2_COOKIE" "http://$O2/"
expect "(e) oauth2-proxy without a session" 403 any "http://$O2/"

# --- measuring ---------------------------------------------------------------------
TCK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; } # utime + stime
# CPU seconds of this shell's finished children, wrk among them. times must
# run in this shell (a subshell's children are not ours): call it directly.
child_cpu() { awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] }; printf "%.3f", s }' "$1"; }
load1() { cut -d' ' -f1 /proc/loadavg; }
wrk_ms() { # wrk's "456.78us" / "1.23ms" / "1.02s" / "1.10m" in ms
	awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}

# Per target: one value per round (RPS, P50, P99, LOAD: lists) and sums
# over the rounds (errors, requests, CPU).
declare -A RPS P50 P99 LOAD ERR REQS STK UTK CSEC
for k in a b c d e; do
	RPS[$k]="" P50[$k]="" P99[$k]="" LOAD[$k]="" ERR[$k]=0 REQS[$k]=0 STK[$k]=0 UTK[$k]=0 CSEC[$k]=0
done
# closed KEY SERVER_PID wrk-args...: a warm-up, then one measured run
closed() {
	local key=$1 spid=$2 out s0 s1 u0 u1 c0 c1 reqs errs rps p50 p99
	shift 2
	wrk -t2 -c"$CONNS" -d"${WARMUP}s" "$@" >/dev/null
	LOAD[$key]+=" $(load1)"
	s0=$(cpu_ticks "$spid")
	u0=$(cpu_ticks "$UP_PID")
	times >"$WORK/times"
	c0=$(child_cpu "$WORK/times")
	out=$(wrk -t2 -c"$CONNS" -d"${PEAK_SECONDS}s" --timeout 10s --latency "$@")
	times >"$WORK/times"
	c1=$(child_cpu "$WORK/times")
	s1=$(cpu_ticks "$spid")
	u1=$(cpu_ticks "$UP_PID")
	reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
	rps=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' <<<"$out")
	p50=$(wrk_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
	p99=$(wrk_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
	errs=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' <<<"$out")
	RPS[$key]+=" $rps" P50[$key]+=" $p50" P99[$key]+=" $p99"
	ERR[$key]=$((ERR[$key] + errs)) REQS[$key]=$((REQS[$key] + reqs))
	STK[$key]=$((STK[$key] + s1 - s0)) UTK[$key]=$((UTK[$key] + u1 - u0))
	CSEC[$key]=$(awk -v s="${CSEC[$key]}" -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", s + b - a }')
	log "  ($key) $rps req/s, p50 $p50 ms, p99 $p99 ms, errors $errs"
}

LOAD_START=$(cat /proc/loadavg)
for round in $(seq "$ROUNDS"); do
	log "peaks, round $round of $ROUNDS: wrk -t2 -c$CONNS -d${PEAK_SECONDS}s after ${WARMUP} s"
	closed a "$UP_PID" "http://$UP/"
	closed b "$PX_PID" "http://$PX/"
	closed c "$ZT_PID" -H "Host: app.localhost" -H "Cookie: $ZT_COOKIE" "http://$ZT/"
	# Signed now, one second apart: the oldest is two minutes old, well
	# inside the 5-minute clock-skew window, when the run ends.
	"$GB" presign -url "http://$ZT" -host api.localhost -credentials "$ZD/admin.credentials" -n 120 -lua "$WORK/sigv4.lua"
	closed d "$ZT_PID" -s "$WORK/sigv4.lua" "http://$ZT/"
	closed e "$O2_PID" -H "Cookie: $O2_COOKIE" "http://$O2/"
done

median() { # median LIST [FORMAT]: the median of the numbers in LIST
	tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk -v f="${2:-%.2f}" '{ v[NR] = $1 } END {
		if (NR == 0) print "-"; else printf f "\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
span() { tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "–" hi }'; }
ratios() { # ratios "A1 A2 …" "B1 B2 …": A_i / B_i, round by round
	awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " "); for (i = 1; i <= n; i++) printf "%.3f ", (y[i] > 0 ? x[i] / y[i] : 0) }'
}
us_per() { awk -v t="$1" -v n="$2" -v hz="$3" 'BEGIN { if (n > 0) printf "%.0f", t / hz * 1e6 / n; else print "-" }'; }

# Half of (b)'s peak is the target's rate. When ztgate cannot sustain it
# on this machine, half of ztgate's own peak shows the latency it adds
# when it is not overloaded.
declare -A OL OLOAD
RATE_B=$(awk -v r="$(median "${RPS[b]}")" 'BEGIN { printf "%.0f", r / 2 }')
RATE_C=$(awk -v r="$(median "${RPS[c]}")" 'BEGIN { printf "%.0f", r / 2 }')
# open_loop KEY RATE load-args...
open_loop() {
	local key=$1 rate=$2
	shift 2
	log "open loop ($key) at $rate req/s for ${OPEN_SECONDS}s after ${OPEN_WARMUP} s"
	OLOAD[$key]=$(load1)
	OL[$key]=$("$GB" load -rate "$rate" -duration "${OPEN_SECONDS}s" -warmup "${OPEN_WARMUP}s" -conns "$OPEN_CONNS" "$@" 2>"$WORK/load-$key.err" || true)
	[ -n "${OL[$key]}" ] || die "open loop ($key): $(cat "$WORK/load-$key.err")"
	log "  ${OL[$key]}"
}
field() { tr ' ' '\n' <<<"${OL[$1]}" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
for r in B C; do
	rate=RATE_$r
	open_loop "b$r" "${!rate}" -url "http://$PX/"
	open_loop "c$r" "${!rate}" -url "http://$ZT/" -host app.localhost -header "Cookie: $ZT_COOKIE"
done
LOAD_END=$(cat /proc/loadavg)

# --- report --------------------------------------------------------------------------
verdict() { awk -v ok="$1" 'BEGIN { print (ok ? "met" : "**not met**") }'; }
pcts() { awk -v l="$1" 'BEGIN { n = split(l, x, " "); for (i = 1; i <= n; i++) printf "%s%.0f%%", (i > 1 ? ", " : ""), x[i] * 100 }'; }
times_x() { awk -v l="$1" 'BEGIN { n = split(l, x, " "); for (i = 1; i <= n; i++) printf "%s%.2f×", (i > 1 ? ", " : ""), x[i] }'; }
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
os=$(uname -s)
# shellcheck source=/dev/null
[ -r /etc/os-release ] && os=$(. /etc/os-release && echo "$PRETTY_NAME")
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | wc -l)
[ "$dirty" -gt 0 ] && rev="$rev + $dirty uncommitted paths"

declare -A CPU
for k in a b c d e; do CPU[$k]=$(us_per "${STK[$k]}" "${REQS[$k]}" "$TCK"); done
row() { # row KEY LABEL
	local k=$1 e=${ERR[$1]} up
	[ "$e" = 0 ] || e="**$e**"
	up="$(us_per "${UTK[$k]}" "${REQS[$k]}" "$TCK") µs"
	[ "$k" = a ] && up="(it is the measured)"
	printf '| (%s) %s | %s (%s) | %s ms | %s ms | %s µs | %s | %s µs | %s | %s |\n' "$k" "$2" \
		"$(median "${RPS[$k]}" %.0f)" "$(span "${RPS[$k]}")" "$(median "${P50[$k]}")" "$(median "${P99[$k]}")" \
		"${CPU[$k]}" "$up" "$(awk -v s="${CSEC[$k]}" -v n="${REQS[$k]}" 'BEGIN { printf "%.0f", s * 1e6 / n }')" \
		"$e" "$(median "${LOAD[$k]}")"
}
orow() { # orow KEY LABEL
	local k=$1 e
	e=$(field "$k" errors)
	[ "$e" = 0 ] || e="**$e**"
	printf '| (%s) %s | %s | %s | %s ms | %s ms | %s ms | %s ms | %s ms | %s ms | %s | %s |\n' "${k:0:1}" "$2" \
		"$(field "$k" rate)" "$(field "$k" rps)" "$(field "$k" p50_ms)" "$(field "$k" p90_ms)" "$(field "$k" p99_ms)" \
		"$(field "$k" p999_ms)" "$(field "$k" max_ms)" "$(field "$k" lag_p99_ms)" "$e" "${OLOAD[$k]}"
}
added() { awk -v c="$(field "c$1" "$2")" -v b="$(field "b$1" "$2")" 'BEGIN { printf "%+.2f", c - b }'; }
cpu_ratio() { awk -v a="${CPU[$1]}" -v b="${CPU[$2]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

cb=$(ratios "${RPS[c]}" "${RPS[b]}")
ce=$(ratios "${RPS[c]}" "${RPS[e]}")
cb_med=$(median "$cb" %.3f)
ce_med=$(median "$ce" %.3f)
p99_added=$(added B p99_ms)
cat <<EOF
### Gateway: throughput and latency ($(date -u +%Y-%m-%d))

\`\`\`
scripts/gateway-bench.sh
\`\`\`

Machine: $cpu_model, \`nproc\` $(nproc), $mem, $os, $(go env GOVERSION). ztgate $rev;
wrk $(wrk --version 2>&1 | awk 'NR == 1 { print $2 }'); oauth2-proxy $OAUTH2_PROXY_VERSION.
Load average (1, 5, 15 min) at the start $(cut -d' ' -f1-3 <<<"$LOAD_START"), at the end $(cut -d' ' -f1-3 <<<"$LOAD_END").

Everything runs on these cores at once: the upstream, the proxy measured,
the load generator and whatever else the machine runs (the load1 column).
Compare ratios within one run, not absolute numbers across runs.

**Peak**: closed loop, \`wrk -t2 -c$CONNS -d${PEAK_SECONDS}s --latency\` after ${WARMUP} s of
warm-up, $ROUNDS rounds of (a) to (e) in turn; medians, with the range of
req/s. Every proxy is in front of the same upstream (1 KiB body). CPU/req
is a process's user + system time divided by the requests served, over
all rounds (10 ms clock ticks). ztgate: SQLite store, \`audit.mode: sync\`,
one route per method (\`auth: [session]\` with a resource policy naming the
user; \`auth: [sigv4]\`, the administrator's key).

| target | req/s | p50 | p99 | CPU/req | upstream CPU/req | wrk CPU/req | errors | load1 |
|---|---|---|---|---|---|---|---|---|
$(row a "upstream alone")
$(row b "httputil.ReverseProxy")
$(row c "ztgate, session cookie")
$(row d "ztgate, SigV4 (pre-signed)")
$(row e "oauth2-proxy $OAUTH2_PROXY_VERSION, cookie")

**Latency at a fixed rate**: open loop (\`gatewaybench load\`, $OPEN_CONNS connections,
${OPEN_SECONDS} s after ${OPEN_WARMUP} s of warm-up) at half of (b)'s peak, the target's rate,
and at half of (c)'s own peak. Latency runs from each request's intended
start, so a stall counts against every request it delays (no coordinated
omission); lag is the generator's own delay in dispatching; req/s counts
answers within the measured time.

| target | rate | req/s | p50 | p90 | p99 | p99.9 | max | lag p99 | errors | load1 |
|---|---|---|---|---|---|---|---|---|---|---|
$(orow bB "httputil.ReverseProxy")
$(orow cB "ztgate, session cookie")
$(orow bC "httputil.ReverseProxy")
$(orow cC "ztgate, session cookie")

| target | this run | |
|---|---|---|
| (c) ≥ 85% of (b)'s throughput | $(pcts "$cb_med") (rounds: $(pcts "$cb")) | $(verdict "$(awk -v r="$cb_med" 'BEGIN { print (r >= 0.85) }')") |
| (c) ≥ 1.5× (e)'s throughput | $(times_x "$ce_med") (rounds: $(times_x "$ce")) | $(verdict "$(awk -v r="$ce_med" 'BEGIN { print (r >= 1.5) }')") |
| p99 added over (b) ≤ 1 ms at half of (b)'s peak ($RATE_B req/s) | $p99_added ms (p50 $(added B p50_ms) ms) | $(verdict "$(awk -v d="$p99_added" 'BEGIN { print (d <= 1) }')") |
| for reference: added at half of (c)'s peak ($RATE_C req/s) | p99 $(added C p99_ms) ms, p50 $(added C p50_ms) ms | |

CPU per request, which other work on the cores disturbs less than
throughput: (c)/(b) $(cpu_ratio c b)×, (d)/(b) $(cpu_ratio d b)×, (e)/(b) $(cpu_ratio e b)×, (c)/(e) $(cpu_ratio c e)×.
EOF
