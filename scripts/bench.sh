#!/usr/bin/env bash
# Runs the benchmarks recorded in BENCHMARKS.md. PostgreSQL benchmarks use
# ZTGATE_TEST_POSTGRES_DSN when set, else a private throw-away cluster
# (the postgresql package must be installed: see scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== store: write and read latency, ztgate vs bare SQL on the same database"
go test -run '^$' -bench 'Put|Get' -benchtime 2s -count 3 ./internal/store/sqlstore/
echo "== change feed: latency between two nodes on PostgreSQL vs bare NOTIFY"
go test -run '^$' -bench 'Latency' -benchtime 2000x -count 3 ./internal/store/sqlstore/
echo "== policy decisions: ztgate vs OPA vs cedar-go (separate module)"
(cd bench && go test -run '^$' -bench . -benchtime 2s -count 3 -timeout 60m)
echo "== condition operators and patterns"
go test -run '^$' -bench . -count 3 ./internal/policy/wildcard/ ./internal/policy/condition/
echo "== secrets at rest"
go test -run '^$' -bench . -benchtime 2s ./internal/secret/
