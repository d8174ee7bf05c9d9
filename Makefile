# Thin wrappers; CMake presets do the work (see README.md).
.PHONY: run test build bench format check clean

run:
	scripts/run-dev

test:
	scripts/test

build:
	cmake --preset debug && cmake --build --preset debug

bench:
	bench/run

format:
	scripts/check-format --fix

check:
	scripts/check-format && scripts/check-banned

clean:
	rm -rf build build-debug build-asan build-release build-fuzz
