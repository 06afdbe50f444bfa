# pixelmill: `make run` to serve on 127.0.0.1:8080, `make test` for the suite.
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
# Extra flags for `make run`, e.g. make run ARGS="--workers 4"
ARGS       ?=

.PHONY: all deps deps-test deps-bench configure build run test test-unit test-integration bench clean

all: build

deps:
	@scripts/install-deps.sh

deps-test:
	@scripts/install-deps.sh --test

deps-bench:
	@scripts/install-deps.sh --bench

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/bin/pixelmill serve --listen 127.0.0.1:8080 --data-dir ./data $(ARGS)

test: deps-test configure
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-unit: deps-test configure
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

test-integration: deps-test configure
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L integration

# Side by side with vipsthumbnail, FastAPI + Pillow, pdftoppm and jp2a; run on a quiet machine.
bench: build deps-bench
	BUILD_DIR=$(abspath $(BUILD)) bench/run_all.sh

clean:
	rm -rf $(BUILD)
