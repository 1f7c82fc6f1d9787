# Cloudstor. `make run` starts the product on the local provider; `make test` runs
# every test. Both install what they need first.
SWIFT ?= swift
DEBUG_BIN := .build/debug
RELEASE_BIN := .build/release
PYTEST ?= python3 -m pytest

.PHONY: all deps build release test unit-test e2e-test run bench generate clean libcloudstor install

LIBCLOUDSTOR := $(MAKE) -C libcloudstor --no-print-directory

all: build libcloudstor

deps:
	@scripts/install-deps.sh

build:
	$(SWIFT) build --build-tests

release:
	$(SWIFT) build -c release

test: deps build libcloudstor
	$(SWIFT) test --skip-build
	CLOUDSTOR_BIN=$(abspath $(DEBUG_BIN)) $(PYTEST) -v tests

run: deps release
	CLOUDSTOR_BIN=$(abspath $(RELEASE_BIN)) scripts/run.sh

bench: deps release
	$(SWIFT) build -c release --product cloudstor-bench
	$(RELEASE_BIN)/cloudstor-bench --bin $(abspath $(RELEASE_BIN))
	$(LIBCLOUDSTOR) bench BIN=$(abspath $(RELEASE_BIN))
	python3 tools/bench/aws_bench.py --bin $(abspath $(RELEASE_BIN))

# The C client library (libcloudstor/): libcloudstor.so, libcloudstor.a, cloudstor.pc.
libcloudstor:
	$(LIBCLOUDSTOR)

# Installs libcloudstor's header, libraries and cloudstor.pc under PREFIX (/usr/local).
install:
	$(LIBCLOUDSTOR) install

# Regenerates Sources/Proto from proto/ (the output is committed).
generate:
	scripts/generate.sh

clean:
	rm -rf .build .build-codegen
