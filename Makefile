# One entry point for a newcomer: `make demo` and `make test` create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv demo test lint bench clean

venv: $(STAMP)

# Twisted finds endpoint plugins (asgid's fd:) by scanning sys.path for twisted/plugins; an
# editable install does not put server/ on sys.path, so a .pth file does.

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,layers,demo,uvloop,reload,bench,metrics]'
	$(BIN)/python -c 'import sysconfig; open(sysconfig.get_path("purelib") + "/asgid-twisted-plugins.pth", "w").write("$(CURDIR)/server\n")'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python django_demo/manage.py migrate --noinput
	$(BIN)/python django_demo/serve.py

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check server channel_layers tests
	$(BIN)/mypy server/asgid channel_layers/asgid_layers

bench: $(STAMP)
	$(BIN)/python tests/benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info server/*.egg-info
