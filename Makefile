# AptLab: `make demo` runs the main job, `make test` runs the tests. Both install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := build

CONFIG      ?= Release
BUILD_DIR   ?= build/native
NPROC       := $(shell nproc)
# Point the native build at another libtorch (e.g. a CUDA build on a GPU host):
#   make native Torch_DIR=/opt/libtorch/share/cmake/Torch
Torch_DIR   ?=

# fonts-dejavu-core: the font of ScottPlot's figures; python3-nbconvert .. python3-ipykernel: Jupyter, which executes
# the notebooks in the .NET Interactive kernel (the Microsoft.dotnet-interactive local tool, .config/dotnet-tools.json).
APT_PACKAGES := libtorch-dev libopenblas0-pthread libsentencepiece-dev libgloo-dev ffmpeg cmake g++ fonts-dejavu-core \
                python3-nbconvert python3-nbclient jupyter-client python3-ipykernel
DOTNET := DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 dotnet

.PHONY: deps packages kernel native build test demo bench mutate clean

# Installs the Debian packages that are missing (needs root; otherwise says what to run), then the notebook kernel.
deps: packages kernel

packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "error: missing Debian packages:$$missing"; \
	    echo "       install them as root: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The .NET Interactive kernel: the pinned local tool, registered with Jupyter as .net-csharp (its HTTP side-channel
# bound to loopback only). Idempotent; the notebook tests and `aptlab notebook run` need it.
kernel: packages
	@$(DOTNET) tool restore >/dev/null
	@$(DOTNET) interactive jupyter install >/dev/null
	@/usr/bin/python3 -c 'import json, jupyter_client.kernelspec as k; \
	  p = k.KernelSpecManager().get_kernel_spec(".net-csharp").resource_dir + "/kernel.json"; s = json.load(open(p)); a = s["argv"]; \
	  "--http-local-only" in a or a.insert(a.index("{connection_file}") + 1, "--http-local-only"); json.dump(s, open(p, "w"), indent=2)'

# The C++ shim (CMake, out of tree, incremental).
native: deps
	@if [ ! -f $(BUILD_DIR)/CMakeCache.txt ]; then \
	  cmake -S src/AptLab.Torch/native -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $(if $(Torch_DIR),-DTorch_DIR=$(Torch_DIR)) >/dev/null; \
	fi
	@cmake --build $(BUILD_DIR) -j $(NPROC) | grep -v "^\[" || true
	@test -f $(BUILD_DIR)/libaptlab_native.so

build: native
	$(DOTNET) build AptLab.sln -c $(CONFIG) -v quiet -nologo -clp:NoSummary

test: build
	$(DOTNET) test tests/AptLab.Tests -c $(CONFIG) --no-build -nologo -v quiet --logger "console;verbosity=minimal"

# Mutation testing (Stryker.NET, pinned in .config/dotnet-tools.json; not part of `make test`; docs/testing.md):
# MUTATE=apt (src/AptLab/Apt with the Apt tests), diffusion or training; reports under results/mutation/<MUTATE>. Its project
# analysis gives up when `dotnet --info` is slow (a loaded machine), hence the longer wait.
MUTATE ?= apt
mutate: build
	$(DOTNET) tool restore >/dev/null
	cd tests/AptLab.Tests && DOTNET_INFO_WAIT_TIME=120000 $(DOTNET) tool run dotnet-stryker --config-file mutation/$(MUTATE).json \
	  --output $(CURDIR)/results/mutation/$(MUTATE)

# The APT study on the built-in data (configs/demo.yaml); prints where its results are.
demo: build
	$(DOTNET) run --project src/AptLab.Cli -c $(CONFIG) --no-build -- run configs/demo.yaml

# Benchmarks print JSON; python3-torch (optional) adds the same measurements through PyTorch for comparison.
bench: build
	@dpkg-query -W -f='$${Status}' python3-torch 2>/dev/null | grep -q "ok installed" || \
	  { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch >/dev/null || true; }
	$(DOTNET) run --project bench/AptLab.Bench -c $(CONFIG) --no-build -- $(BENCH_ARGS)

clean:
	rm -rf build
	$(DOTNET) clean AptLab.sln -v quiet -nologo
