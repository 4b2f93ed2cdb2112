# One entry point for a newcomer: `make demo` and `make test` create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv bytecode demo test lint bench attacks soak clean

venv: bytecode

# Twisted finds endpoint plugins (asgid's fd:) by scanning sys.path for twisted/plugins; an
# editable install does not put server/ on sys.path, so a .pth file does.

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,layers,demo,uvloop,reload,bench,metrics]'
	$(BIN)/python -c 'import sysconfig; open(sysconfig.get_path("purelib") + "/asgid-twisted-plugins.pth", "w").write("$(CURDIR)/server\n")'
	touch $(STAMP)

# An editable install leaves asgid's own modules without bytecode, and with
# PYTHONDONTWRITEBYTECODE=1 Python never writes it: every asgid process would compile its
# ~60 modules from source again (about a fifth of its start-up). compileall writes what is
# missing or older than its source; the targets that start asgid run it first.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q server channel_layers

demo: bytecode
	$(BIN)/python django_demo/manage.py migrate --noinput
	$(BIN)/python django_demo/serve.py

test: bytecode
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check server channel_layers tests
	$(BIN)/mypy server/asgid channel_layers/asgid_layers

bench: bytecode
	$(BIN)/python tests/benchmarks/run_all.py

# Each attack against one asgid while a legitimate HTTP/2 client measures req/s (loopback,
# ATTACK_S seconds per attack); prints the table docs/security.md quotes.
ATTACK_S ?= 10
attacks: bytecode
	$(BIN)/python tests/attacks/run.py --seconds $(ATTACK_S)

# Mixed load against one process for SOAK_S seconds; RSS and open fds every 30 s into
# tests/benchmarks/results/soak.csv and soak.png.
SOAK_S ?= 600
soak: bytecode
	$(BIN)/python tests/benchmarks/soak.py --seconds $(SOAK_S)

clean:
	rm -rf $(VENV) build *.egg-info server/*.egg-info
