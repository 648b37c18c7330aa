# Makefile — thin wrapper so a fresh clone needs only `make run` / `make check`.
# Everything real lives in CMakeLists.txt; scripts/deps.sh installs what is missing.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps configure build check run nightly clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

# Unit tests, CLI tests and the mutation score on the cpu backend (and cuda with a GPU).
check: build
	cd $(BUILD) && ctest -L unit --output-on-failure -j $(JOBS)

# The main job: every operator's default sweep, cuda when a GPU is present, else cpu.
run: build
	scripts/run-default.sh $(BUILD)

# The nightly GPU run (docs/nightly.md): builds its own tree for the device, no registry needed
# when .bundle/debs is there (scripts/bundle-deps.sh); knobs are NIGHTLY_* environment variables.
NIGHTLY_OUT ?= out/nightly
nightly:
	scripts/gpu-nightly.sh $(NIGHTLY_OUT)

clean:
	rm -rf $(BUILD)
