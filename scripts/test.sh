#!/usr/bin/env bash
# Runs every check and test of ztgate, installing what the tests need when
# it is missing and starting the servers they use. This is what CI runs.
#
#   make test            (or: scripts/test.sh)
#
# Environment:
#   ZTGATE_TEST_POSTGRES_DSN  use this PostgreSQL server instead of starting one
#   GOTESTFLAGS               extra flags for go test (e.g. "-run Store -v")
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2

step() { printf '\n==> %s\n' "$*"; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
		echo "need root to run: $*" >&2
		return 1
	fi
}

# --- what the tests need -----------------------------------------------------
pg_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
		[ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
	done
	return 1
}

missing=()
pg_bindir >/dev/null || missing+=(postgresql)
command -v gcc >/dev/null || missing+=(gcc) # the race detector needs cgo
command -v aws >/dev/null || missing+=(awscli) # real-client tests
command -v curl >/dev/null || missing+=(curl)  # curl --aws-sigv4, curl --cert
command -v openssl >/dev/null || missing+=(openssl) # openssl s_client through the TLS listener
# boto3 from Debian, for the Python SDK tests: the tests run /usr/bin/python3.
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import boto3' 2>/dev/null || missing+=(python3-boto3)
command -v chromium >/dev/null || missing+=(chromium) # headless browser tests (sign-in, passkeys)
if [ ${#missing[@]} -gt 0 ]; then
	step "installing ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v go >/dev/null || { echo "go is not installed (https://go.dev/doc/install)" >&2; exit 1; }

# --- a throw-away PostgreSQL cluster for this run ----------------------------
PGDIR=""
cleanup() {
	if [ -n "$PGDIR" ]; then
		pg_run "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1 || true
		rm -rf "$PGDIR"
	fi
}
trap cleanup EXIT

pg_run() { # PostgreSQL refuses to run as root: use its own OS user.
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ -z "${ZTGATE_TEST_POSTGRES_DSN:-}" ]; then
	step "starting a throw-away PostgreSQL cluster"
	PGBIN=$(pg_bindir)
	PGDIR=$(mktemp -d /tmp/ztgate-test-pg.XXXXXX)
	[ "$(id -u)" = 0 ] && chown postgres: "$PGDIR"
	pg_run "$PGBIN/initdb" -D "$PGDIR/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$PGDIR/initdb.log"
	# A port that looks free can be taken before the server binds it (other
	# test runs share the machine): try a few, and show the server's log
	# when none works.
	started=""
	for attempt in 1 2 3; do
		port=""
		for p in $(shuf -i 55432-56431 -n 50); do
			if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
		done
		[ -n "$port" ] || continue
		if pg_run "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 start \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $PGDIR -c fsync=off -c max_connections=300" >/dev/null; then
			started=1
			break
		fi
	done
	if [ -z "$started" ]; then
		echo "PostgreSQL did not start; its log:" >&2
		cat "$PGDIR/server.log" >&2 || true
		exit 1
	fi
	export ZTGATE_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
fi
# Tests that need PostgreSQL, the AWS CLI, boto3 or Chromium fail, rather than skip,
# when it is missing.
export ZTGATE_REQUIRE_POSTGRES=1 ZTGATE_REQUIRE_AWSCLI=1 ZTGATE_REQUIRE_BOTO3=1 ZTGATE_REQUIRE_CHROMIUM=1 ZTGATE_REQUIRE_TLS_TOOLS=1
export ZTGATE_CONFORMANCE_DIR="${ZTGATE_CONFORMANCE_DIR:-$(cd .. && pwd)/shared/conformance}"

# --- static checks -------------------------------------------------------------
step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "not gofmt-formatted:"; echo "$unformatted"; exit 1; fi

step "go mod tidy"
go mod tidy -diff

step "go vet"
go vet ./...

step "staticcheck"
go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...

step "build without cgo"
CGO_ENABLED=0 go build -o /dev/null ./cmd/ztgate

# --- tests -------------------------------------------------------------------
step "go test -race"
# shellcheck disable=SC2086
go test -race -count=1 -timeout 20m ${GOTESTFLAGS:-} ./...

# Allocation budgets: the race detector allocates, so they are checked in
# a plain run.
step "allocation budgets"
go test -count=1 -run 'Alloc' ./...

# The benchmark module (peers: OPA, cedar-go) is a module of its own; its
# tests check that every engine decides the workload alike.
step "bench module: vet, tidy, engines agree"
(cd bench && go mod tidy -diff && go vet ./... && go test -count=1 -run Test ./...)

# The gateway load tool (scripts/gateway-bench.sh) is a module of its own too.
step "gateway load tool: vet, tidy"
(cd bench/gateway && go mod tidy -diff && go vet ./...)
