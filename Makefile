# Spate build and check targets. `make test` is what CI runs (through .ci/run).

GO ?= go
GOFMT ?= $(shell $(GO) env GOROOT)/bin/gofmt
STATICCHECK_VERSION ?= v0.8.2

# Go files to format-check: tracked and untracked (not ignored) files; falls back to
# find(1) outside a git work tree. Files deleted from the work tree are skipped.
GO_FILES_CMD = { git ls-files --cached --others --exclude-standard -- '*.go' 2>/dev/null || \
	find . -name '*.go' -type f -not -path './.git/*'; } | \
	while IFS= read -r f; do if [ -f "$$f" ]; then printf '%s\n' "$$f"; fi; done

# The targets below run one after another, in the order given, even under make -j.
.NOTPARALLEL:

.PHONY: test fmt vet staticcheck race benchonce demo bench deps

# GOTESTSUM runs the tests and ends with one summary line (DONE n tests, n failures).
GOTESTSUM_VERSION ?= v1.13.0
GOTESTSUM ?= $(GO) run gotest.tools/gotestsum@$(GOTESTSUM_VERSION)

# test: every check CI runs, stopping at the first failure. The tests run last: their
# summary line (gotestsum's "DONE n tests ... in ...") closes the output.
test: fmt vet staticcheck benchonce race

# fmt: fails (and lists the files) when any Go file is not gofmt-formatted.
fmt:
	@out=$$($(GO_FILES_CMD) | xargs -r -d '\n' $(GOFMT) -l) || { echo 'gofmt failed' >&2; exit 1; }; \
	if [ -n "$$out" ]; then \
		echo 'These files are not gofmt-formatted (run gofmt -w on them):' >&2; \
		echo "$$out" >&2; \
		exit 1; \
	fi

vet:
	$(GO) vet ./...

# staticcheck is pinned and run through go run, so nothing needs to be installed first.
staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# race: go test -race over every package, through gotestsum: a line per package, the
# output of failed tests, and a closing summary line.
race:
	$(GOTESTSUM) --format pkgname-and-test-fails --format-hide-empty-pkg -- -race -count=1 ./...

# benchonce: compiles and runs every benchmark once (and the benchmark program on small
# data, when it exists), so benchmarks cannot rot.
benchonce:
	@echo 'benchonce: every Go benchmark once, as a smoke check (not measurements)'
	@log=$$(mktemp); \
	if $(GO) test -run '^$$' -bench . -benchtime=1x ./... > $$log 2>&1; then \
		grep -E '^ok' $$log; rm -f $$log; \
	else \
		cat $$log; rm -f $$log; exit 1; \
	fi
ifneq ($(wildcard bench/main.go),)
	$(GO) run ./bench -quick
endif

# deps installs the Debian packages the tests use besides Go (what .ci/run installs):
# gcc for the race detector, kcat for the Kafka interoperability test, chromium for
# dstream/ui's browser test.
deps:
	@missing=""; \
	command -v gcc >/dev/null 2>&1 || missing="$$missing gcc libc6-dev"; \
	command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"; \
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		command -v google-chrome >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		$$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y --no-install-recommends $$missing; \
	fi

# demo: the main job, on the embedded default: a direct Kafka word count over an
# in-process broker that it fills with generated sentences, for DEMO_DURATION (0: until
# interrupted). It prints the URL of its live page as it starts (ui: http://127.0.0.1:4040/).
DEMO_DURATION ?= 60s
demo:
	$(GO) run ./examples/directkafkawordcount -duration $(DEMO_DURATION)

bench:
	$(GO) run ./bench
	$(GO) test -run '^$$' -bench . -benchmem ./...
