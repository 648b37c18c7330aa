# Makefile — thin wrapper so a fresh clone needs only `make run` / `make check`.
# Everything real lives in CMakeLists.txt; scripts/deps.sh installs what is missing.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps configure build check check-nocuda check-sanitize ci fuzz run nightly clean

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

# The two other configurations CI tests (.ci/run): a machine without the CUDA toolkit, and
# AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer (gcc's, or CC=clang). Each
# builds its own tree and runs the same unit tests.
NOCUDA_BUILD ?= build-nocuda
SANITIZE_BUILD ?= build-sanitize
check-nocuda: deps
	cmake -S . -B $(NOCUDA_BUILD) -DUD_CUDA=OFF $(CMAKE_FLAGS)
	cmake --build $(NOCUDA_BUILD) -j $(JOBS)
	cd $(NOCUDA_BUILD) && ctest -L unit --output-on-failure -j $(JOBS)

check-sanitize: deps
	cmake -S . -B $(SANITIZE_BUILD) -DUD_CUDA=OFF -DUD_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)
	cmake --build $(SANITIZE_BUILD) -j $(JOBS)
	cd $(SANITIZE_BUILD) && ctest -L unit --output-on-failure -j $(JOBS)

# What CI runs: the README's `make check`, then the two other configurations.
ci: check check-nocuda check-sanitize

# Fuzzing (docs/fuzzing.md): the parsers a user feeds, under libFuzzer with ASan and UBSan,
# FUZZ_SECONDS per target (clang and its runtime come from scripts/deps.sh). New inputs go to
# $(FUZZ_BUILD)/corpus/<target>; fuzz/corpus/<target> is the committed seed corpus.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz:
	ULPDIFF_DEPS_EXTRA="clang libclang-rt-14-dev $(ULPDIFF_DEPS_EXTRA)" scripts/deps.sh
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DUD_CUDA=OFF -DUD_SANITIZE=ON -DUD_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target ud_fuzz_targets
	scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The main job: every operator's default sweep, cuda when a GPU is present, else cpu.
run: build
	scripts/run-default.sh $(BUILD)

# The nightly GPU run (docs/nightly.md): builds its own tree for the device, no registry needed
# when .bundle/debs is there (scripts/bundle-deps.sh); knobs are NIGHTLY_* environment variables.
NIGHTLY_OUT ?= out/nightly
nightly:
	scripts/gpu-nightly.sh $(NIGHTLY_OUT)

clean:
	rm -rf $(BUILD) $(NOCUDA_BUILD) $(SANITIZE_BUILD) $(FUZZ_BUILD)
