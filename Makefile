# Cloudstor. `make run` starts the product on the local provider; `make test` runs
# every test. Both install what they need first.
SWIFT ?= swift
DEBUG_BIN := .build/debug
RELEASE_BIN := .build/release
PYTEST ?= python3 -m pytest

.PHONY: all deps build release test test-swarm soak fuzz run bench generate clean libcloudstor install plugin plugin-push registry-given

LIBCLOUDSTOR := $(MAKE) -C libcloudstor --no-print-directory

all: build libcloudstor

deps:
	@scripts/install-deps.sh

# cloudstord and cloudstor-shim are one executable, `cloudstor`, run by the name
# of its link.
COMMANDS := cloudstord cloudstor-shim

build:
	$(SWIFT) build --build-tests
	for name in $(COMMANDS); do ln -sfn cloudstor $(DEBUG_BIN)/$$name; done

# The Swift runtime linked in: the binaries run on a host (or in the plugin) without it.
# Our executables only, one product at a time (a plain build would also
# link the bench, which needs no static runtime).
release:
	for product in cloudstor cloudstorctl; do \
	  $(SWIFT) build -c release --static-swift-stdlib --product $$product || exit 1; done
	for name in $(COMMANDS); do ln -sfn cloudstor $(RELEASE_BIN)/$$name; done

test: deps build libcloudstor
	$(SWIFT) test --skip-build
	FUZZ_JOBS=2 Fuzz/run.sh --runs 5000
	CLOUDSTOR_BIN=$(abspath $(DEBUG_BIN)) $(PYTEST) -v tests

# Only the three-node Swarm tests (also part of `make test`).
test-swarm: deps build
	CLOUDSTOR_BIN=$(abspath $(DEBUG_BIN)) $(PYTEST) -v tests/test_swarm.py tests/test_swarm_local.py

# The race property test (tests/test_races.py) at length, with new seeds each run:
# about 11 minutes; it prints steps, nodes, names and violations (0).
soak: deps build
	CLOUDSTOR_BIN=$(abspath $(DEBUG_BIN)) CLOUDSTOR_RACE_SEED=random CLOUDSTOR_RACE_EXAMPLES=40 \
	  CLOUDSTOR_RACE_STEPS=60 CLOUDSTOR_RACE_NAMES=3 $(PYTEST) -v -s tests/test_races.py

# Each fuzz target (Fuzz/: libFuzzer + AddressSanitizer) for FUZZ_SECONDS: its
# executions, executions per second and crashes; fails on a crash, hang or OOM,
# leaving the input in .build-fuzz/findings. `make test` runs 5,000 inputs of each
# from a fixed seed (the same every run), after the kept regressions.
FUZZ_SECONDS ?= 300
fuzz: deps
	FUZZ_JOBS=2 Fuzz/run.sh $(FUZZ_SECONDS)

# The managed plugin's directory, for `docker plugin create cloudstor:aws .build/plugin`.
plugin: deps release
	@scripts/install-deps.sh --plugin
	scripts/build-plugin.sh $(abspath $(RELEASE_BIN)) $(abspath .build/plugin)

# Pushes the plugin to a registry for `docker plugin install` on every node:
# make plugin-push REGISTRY=HOST:PORT [TAG=...] (TAG: this commit's short id).
TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo latest)
plugin-push: registry-given plugin
	scripts/push-plugin.sh .build/plugin $(REGISTRY)/cloudstor:$(TAG)

# Before minutes of building, not after.
registry-given:
	@[ -n "$(REGISTRY)" ] || { echo "usage: make plugin-push REGISTRY=HOST:PORT [TAG=...]"; exit 64; }

run: deps release
	CLOUDSTOR_BIN=$(abspath $(RELEASE_BIN)) scripts/run.sh

bench: deps release
	$(SWIFT) build -c release --static-swift-stdlib --product cloudstor-bench
	$(RELEASE_BIN)/cloudstor-bench --bin $(abspath $(RELEASE_BIN))
	$(LIBCLOUDSTOR) bench BIN=$(abspath $(RELEASE_BIN))
	python3 tools/bench/rpc_bench.py --bin $(abspath $(RELEASE_BIN))
	python3 tools/bench/scale_bench.py --bin $(abspath $(RELEASE_BIN))
	python3 tools/bench/aws_bench.py --bin $(abspath $(RELEASE_BIN))
	python3 tools/bench/aws_load_bench.py --bin $(abspath $(RELEASE_BIN))
	python3 tools/bench/plugin_bench.py --bin $(abspath $(RELEASE_BIN))
	python3 tools/bench/cluster_bench.py --bin $(abspath $(RELEASE_BIN))
	CLOUDSTOR_BIN=$(abspath $(RELEASE_BIN)) $(PYTEST) -q -s tests/test_swarm.py -k "drains or dies or longer or restarts"

# The C client library (libcloudstor/): libcloudstor.so, libcloudstor.a, cloudstor.pc.
libcloudstor:
	$(LIBCLOUDSTOR)

# Installs under PREFIX (/usr/local): cloudstord, cloudstor-shim, cloudstorctl,
# their systemd units and SYSCONFDIR/cloudstor/cloudstor.env (/etc), and
# libcloudstor's header, libraries and cloudstor.pc. DESTDIR is honoured.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
install: release
	scripts/install.sh $(RELEASE_BIN) $(PREFIX) $(SYSCONFDIR)
	$(LIBCLOUDSTOR) install PREFIX=$(PREFIX)

# Regenerates Sources/Proto from proto/ (the output is committed).
generate:
	scripts/generate.sh

clean:
	rm -rf .build .build-codegen
