# The README's two commands are `make demo` (or `make run`) and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: setup build run demo test test-unit bench format clean

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

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 900 $(CTEST_ARGS)

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

bench: build
	bash bench/run_all.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h' '*.cpp' | grep -v vmlinux.h)

clean:
	rm -rf $(BUILD)
