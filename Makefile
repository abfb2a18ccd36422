# herd: `make test` and `make demo` work from a fresh clone; both create .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.herd-installed

.PHONY: test demo install clean

install: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# An editable install in "compat" mode: twistd's plugin scan does not see the import hook
# of the default editable mode, so `twistd orchestrator` would be an unknown command.
$(INSTALLED): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check \
		--config-settings editable_mode=compat -e '.[test]'
	$(BIN)/python -c "from twisted.plugin import getPlugins; from twisted.application.service import IServiceMaker; names = {p.tapname for p in getPlugins(IServiceMaker)}; assert {'orchestrator', 'worker'} <= names, names"
	touch $@

test: $(INSTALLED)
	$(BIN)/python -m pytest

demo: $(INSTALLED)
	$(BIN)/python demo/run-demo

clean:
	rm -rf $(VENV) build *.egg-info logs twisted/plugins/dropin.cache
