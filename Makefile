# overdued — the commands a user and CI run. `make demo` and `make test` work on a fresh
# Debian 12 machine with the Swift toolchain: they install the system packages they need.
SWIFT      ?= swift
DEMO_DIR   ?= demo
DEMO_TICKETS ?= 2000
SINK       ?= 127.0.0.1:8787
BIN        = .build/debug/overdued
APT_PACKAGES = libsqlite3-dev libsystemd-dev pkg-config sqlite3 python3 python3-pip curl openssl tzdata faketime strace

.PHONY: all apt-packages deps build release link-order test demo clean system-test system-test-debug faults bench

all: build

# The list on one line, for .ci/run (which installs it with retries).
apt-packages:
	@echo $(APT_PACKAGES)

# Installs the system packages only when one is missing (needs root, as on CI).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --static-swift-stdlib

# Records again which functions the daemon runs, into link/overdued.order (valgrind); release
# builds place them together (see Package.swift).
link-order: release
	@command -v valgrind >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null; }
	link/profile.sh .build/release/overdued
	@# the file is not an input SwiftPM tracks: link again so the binary follows it
	rm -f .build/release/overdued
	$(SWIFT) build -c release --static-swift-stdlib

# One test at a time: many tests drive real processes and wait for them on a thread of Swift's
# cooperative pool (one per core). Run side by side on a 2-core machine, two such tests held the
# whole pool for half a minute and starved the async tests of their timers (CI: a rate-limiter
# test waited 32 s for a 100 ms interval). Serially: ~3 min instead of ~1.5.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

# Creates a demo tickets database and config, starts the local sink, validates the config,
# runs one tick with delivery (`overdued once`), and shows what arrived and the history.
demo: build
	@rm -rf $(DEMO_DIR)
	$(BIN) demo --dir $(DEMO_DIR) --tickets $(DEMO_TICKETS) --sink $(SINK)
	$(BIN) check-config --config $(DEMO_DIR)/config.json
	@$(BIN) sink --listen $(SINK) --signing-secret-file $(DEMO_DIR)/signing-secret --compact > $(DEMO_DIR)/sink.log 2>&1 & \
	  sink=$$!; trap 'kill $$sink 2>/dev/null' EXIT; sleep 1; \
	  kill -0 $$sink 2>/dev/null || { cat $(DEMO_DIR)/sink.log; echo "the sink could not start (set SINK=127.0.0.1:PORT)"; exit 1; }; \
	  $(BIN) once --config $(DEMO_DIR)/config.json --max-wait 120s && \
	  echo "--- the sink received ($(DEMO_DIR)/sink.log):" && grep -c 'signature valid' $(DEMO_DIR)/sink.log && head -n 4 $(DEMO_DIR)/sink.log && \
	  echo "--- overdued history (newest first):" && $(BIN) history --config $(DEMO_DIR)/config.json --limit 5
	@echo "run the daemon on it: $(BIN) run --config $(DEMO_DIR)/config.json (with '$(BIN) sink --listen $(SINK)' in another terminal)"

# Boots Debian 12 with a real systemd (systemd-nspawn) and checks the unit end to end with the
# release binary: start, STATUS, journal fields, delivery, reload, refused reload, watchdog
# restart, stop. Needs root.
system-test: release
	OVERDUED_BIN=.build/release/overdued tests/system/run.sh

# The same system test with the debug binary that `make test` built, the toolchain's runtime
# bind-mounted read-only into the container: CI runs this one, so that it does not pay for a
# second, release build of every dependency.
SWIFT_RUNTIME = $(shell dirname "$$(readlink -f "$$(command -v $(SWIFT))")")/../lib/swift/linux
system-test-debug: build
	OVERDUED_BIN=$(CURDIR)/.build/debug/overdued \
	OVERDUED_TEST_NSPAWN_ARGS=--bind-ro=$$(readlink -f $(SWIFT_RUNTIME)) tests/system/run.sh

# The fault suite: crash loop, receiver faults, database contention, bad input, read-only
# promise, secrets. Its last line is "N passed, N failed". FAULTS_SCALE=full for the long run.
FAULTS_SCALE ?= ci
faults: build
	OVERDUED_BIN=$(CURDIR)/.build/debug/overdued FAULTS_SCALE=$(FAULTS_SCALE) tests/faults/run.sh

# Benchmarks against the baselines (sqlite3, a sqlite3+curl loop, wrk, prometheus-alertmanager);
# prints the table and writes BENCHMARKS.md. Installs hyperfine, wrk, alertmanager when missing.
bench: release
	OVERDUED_BIN=$(CURDIR)/.build/release/overdued bench/run.sh

clean:
	rm -rf .build $(DEMO_DIR)
