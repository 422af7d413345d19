GO      ?= go
BIN     ?= bin/regnotify
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME ?= 30s
IMAGE   ?= regnotify:$(VERSION)

.PHONY: build test dev bench fuzz lint vet image docs

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/regnotify

vet:
	$(GO) vet ./...
	cd deploy && $(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)

# The whole suite, with the race detector; then the deployment checks
# (nested module deploy/, kept apart for its heavy dependencies).
test: vet
	$(GO) test -race -count=1 -timeout 20m ./...
	cd deploy && $(GO) test -count=1 -timeout 10m ./...

dev:
	$(GO) run ./cmd/regnotify dev --demo 200

# Go benchmarks of the hot paths, then the end-to-end bench (the compiled
# worker against the in-process broker and simulator); the table comes last.
# BENCH_JSON=FILE also writes the results as JSON.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./gigya/... ./events/... ./worker/...
	$(GO) run ./cmd/regnotify-bench $(if $(BENCH_JSON),-json $(BENCH_JSON))

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./events
	$(GO) test -run '^$$' -fuzz '^FuzzParseResponse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./gigya
	$(GO) test -run '^$$' -fuzz '^FuzzJSON$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./events/formats
	$(GO) test -run '^$$' -fuzz '^FuzzCloudEvents$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./events/formats
	$(GO) test -run '^$$' -fuzz '^FuzzAvro$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./events/formats
	$(GO) test -run '^$$' -fuzz '^FuzzJSONSchema$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./events/formats
	$(GO) test -run '^$$' -fuzz '^FuzzWalkMatchesEncodingJSON$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./events/formats
	$(GO) test -run '^$$' -fuzz '^FuzzCloudEventsMatchesReference$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./events/formats
	$(GO) test -run '^$$' -fuzz '^FuzzAvroPlanMatchesGeneric$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./events/formats
	$(GO) test -run '^$$' -fuzz '^FuzzTreeMatchesEncodingJSON$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./events/formats
	$(GO) test -run '^$$' -fuzz '^FuzzQuickSchema$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./events/formats
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./cmd/internal/config
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecordSet$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./worker/kafkaread
	$(GO) test -run '^$$' -fuzz '^FuzzReadTokens$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./worker/admin
	$(GO) test -run '^$$' -fuzz '^FuzzCursor$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./worker/admin

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Container image (needs Docker with BuildKit).
image:
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

# Regenerate the configuration reference from the flag definitions.
docs:
	$(GO) run ./cmd/regnotify docs > deploy/CONFIGURATION.md
