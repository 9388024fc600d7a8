# The README's two commands are `make demo` (or `make run`) and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

# Sanitizer and fuzz builds live in their own directories (see tests/sanitizers/README.md).
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
SAN_CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCARETTA_AGENT_ONLY=ON
# Seconds per fuzz target: FUZZ_CI_SECONDS in `make test`, FUZZ_SECONDS in `make fuzz`.
FUZZ_CI_SECONDS ?= 20
FUZZ_SECONDS ?= 600

.PHONY: setup build run demo test test-fast test-unit test-asan test-tsan test-fuzz fuzz \
	build-asan build-tsan build-fuzz bench format clean

setup:
	@bash scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The agent on this host (host view when no cluster is configured).
run: build
	./$(BUILD)/caretta $(ARGS)

# A simulated cluster in network namespaces, mapped live (see docs/demo.md).
demo: build
	@bash scripts/demo.sh $(ARGS)

# The whole suite (what CI runs): every tier in $(BUILD), then the unit, k8s, bpf and
# agent tests again under AddressSanitizer + UBSan, then each fuzz target briefly.
test: test-fast test-asan test-fuzz

# The plain build's tests only (no sanitizer or fuzz builds).
test-fast: build
	@bash scripts/run_ctest.sh $(BUILD) --timeout 900 $(CTEST_ARGS)

build-asan: setup
	@cmake -S . -B $(ASAN_BUILD) $(SAN_CMAKE_FLAGS) -DCARETTA_SANITIZE=address,undefined >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

test-asan: build-asan
	@bash scripts/run_ctest.sh $(ASAN_BUILD) --sanitizer asan --timeout 900 $(CTEST_ARGS)

build-tsan: setup
	@cmake -S . -B $(TSAN_BUILD) $(SAN_CMAKE_FLAGS) -DCARETTA_SANITIZE=thread >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS)

test-tsan: build-tsan
	@bash scripts/run_ctest.sh $(TSAN_BUILD) --sanitizer tsan --timeout 900 $(CTEST_ARGS)

# libFuzzer needs clang (GCC builds everything else).
build-fuzz: setup
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCARETTA_FUZZ=ON -DCARETTA_FUZZ_SECONDS=$(FUZZ_CI_SECONDS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers

# Each fuzz target for FUZZ_CI_SECONDS on its corpus, as ctest tests (label fuzz).
test-fuzz: build-fuzz
	@bash scripts/run_ctest.sh $(FUZZ_BUILD) -L fuzz -j $(JOBS)

# Each fuzz target for FUZZ_SECONDS; writes bench/results/fuzz.md.
fuzz: build-fuzz
	@bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

test-unit: build
	@bash scripts/run_ctest.sh $(BUILD) -L unit

bench: build
	bash bench/run_all.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h' '*.cpp' | grep -v vmlinux.h)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
