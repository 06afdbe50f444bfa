# pixelmill: `make run` to serve on 127.0.0.1:8080, `make test` for the suite.
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
# Extra flags for `make run`, e.g. make run ARGS="--workers 4"
ARGS       ?=

# Seconds each fuzz harness runs for `make fuzz`.
FUZZ_SECONDS ?= 60

.PHONY: all deps deps-test deps-bench deps-package configure build run test test-unit test-integration test-package test-sanitize fuzz bench clean

all: build

deps:
	@scripts/install-deps.sh

deps-test:
	@scripts/install-deps.sh --test

deps-bench:
	@scripts/install-deps.sh --bench

deps-package:
	@scripts/install-deps.sh --package

# A build from scratch compiles each target's sources in batches (a unity
# build: 476 s instead of about 620 s on two cores); pass UNITY=OFF when
# editing and rebuilding one file at a time.
UNITY ?= ON

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_UNITY_BUILD=$(UNITY)

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/bin/pixelmill serve --listen 127.0.0.1:8080 --data-dir ./data $(ARGS)

# Everything but the package tests (label package: minutes to make a Debian root).
test: deps-test configure
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE package

test-unit: deps-test configure
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

test-integration: deps-test configure
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L integration

# The image (Dockerfile's runtime stage) and the Debian package, run in a
# Debian 12 root made by mmdebstrap (as root); the compose file, validated.
test-package: deps-test deps-package configure
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -L package

# The unit and integration suites under AddressSanitizer + UBSan, then the
# unit tests of the threaded modules (scheduler, stores, blob commits,
# notifier, plugin host, workers) under ThreadSanitizer; each in its own build
# folder. The TSan tree builds neither the HTTP layer nor the daemon binary.
# ASan reserves terabytes of address space, so worker processes run without
# RLIMIT_AS here and the memory-limit tests (isolation) are left to the normal
# suite; the timing-bound and tool-only tests (slow clients, disk full, kill -9
# rounds, packaging, monitoring) add nothing under a sanitizer; the
# multi-daemon PostgreSQL runs (cluster_test) take minutes instrumented and
# run in the normal suite. They are not even built there, nor the benchmarks.
ASAN_SKIPPED = isolation_test;intake_isolation_test;slow_clients_test;disk_full_test;crash_recovery_test;cluster_test;packaging_test;monitoring_test

test-sanitize: deps-test
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPIXELMILL_SANITIZE=address -DCMAKE_UNITY_BUILD=$(UNITY) \
	  -DPIXELMILL_BUILD_BENCH=OFF '-DPIXELMILL_SKIP_TESTS=$(ASAN_SKIPPED)'
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && PIXELMILL_WORKER_MEMORY_LIMIT=0 ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) -L 'unit|integration|plugins'
	cmake -S . -B $(BUILD)-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPIXELMILL_SANITIZE=thread -DCMAKE_UNITY_BUILD=$(UNITY)
	cmake --build $(BUILD)-tsan -j $(JOBS) --target unit_tests
	cd $(BUILD)-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --output-on-failure -j $(JOBS) -L unit

# libFuzzer harnesses (tests/fuzz), built with clang, FUZZ_SECONDS each.
fuzz: deps-test
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

# Side by side with vipsthumbnail, FastAPI + Pillow, pdftoppm and jp2a; run on a quiet machine.
bench: build deps-bench
	BUILD_DIR=$(abspath $(BUILD)) bench/run_all.sh

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan build-fuzz
