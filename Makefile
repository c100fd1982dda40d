# overdued — the commands a user and CI run. `make demo` and `make test` work on a fresh
# Debian 12 machine with the Swift toolchain: they install the system packages they need.
SWIFT      ?= swift
DEMO_DIR   ?= demo
DEMO_TICKETS ?= 2000
SINK       ?= 127.0.0.1:8787
APT_PACKAGES = libsqlite3-dev libsystemd-dev pkg-config sqlite3 python3 python3-pip curl

.PHONY: all deps build release test demo clean system-test

all: build

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

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# Creates a demo tickets database and config, starts the local sink, runs one scan and one
# tick with delivery, and shows what arrived.
demo: build
	@rm -rf $(DEMO_DIR)
	$(SWIFT) run overdued demo --dir $(DEMO_DIR) --tickets $(DEMO_TICKETS) --sink $(SINK)
	$(SWIFT) run overdued check-config --config $(DEMO_DIR)/config.json
	$(SWIFT) run overdued scan --config $(DEMO_DIR)/config.json --dry-run

clean:
	rm -rf .build $(DEMO_DIR)
