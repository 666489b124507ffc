.PHONY: build test run bench

# The binary, version-stamped from git.
build:
	go build -ldflags "-X github.com/ztgate/ztgate/internal/buildinfo.commit=$$(git rev-parse --short HEAD 2>/dev/null)" -o ztgate ./cmd/ztgate

# Every check and test; installs what the tests need first (see scripts/test.sh).
test:
	scripts/test.sh

# ztgate on its embedded default.
run:
	go run ./cmd/ztgate serve --dev

bench:
	scripts/bench.sh
