# herd: `make test` and `make demo` work from a fresh clone; both create .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.herd-installed

.PHONY: test demo install clean browser netcat lsof

install: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# An editable install in "compat" mode: twistd's plugin scan does not see the import hook
# of the default editable mode, so `twistd orchestrator` would be an unknown command.
$(INSTALLED): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check \
		--config-settings editable_mode=compat -e '.[test]'
	$(BIN)/python -c "from twisted.plugin import getPlugins; from twisted.application.service import IServiceMaker; names = {p.tapname for p in getPlugins(IServiceMaker)}; assert {'orchestrator', 'worker', 'places'} <= names, names"
	touch $@

# Debian's chromium and chromedriver for the dashboard's browser test. Never fails the run:
# without apt (or root), it warns and that test skips.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium and chromium-driver for the browser test"; \
		export DEBIAN_FRONTEND=noninteractive; \
		out=$$( { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
			chromium chromium-driver; } 2>&1 ) \
		|| { printf '%s\n' "$$out" | tail -n 5 >&2; \
			echo "warning: could not install chromium; the browser test will be skipped" >&2; }; \
	else echo "warning: no chromium and no apt-get as root; the browser test will be skipped" >&2; fi

# Debian's netcat-openbsd for the lottery's bin/validar-echo-server.sh (Part 1). Never fails
# the run: without apt (or root), it warns and that test skips.
netcat:
	@if command -v nc >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's netcat-openbsd for the echo server check"; \
		export DEBIAN_FRONTEND=noninteractive; \
		out=$$( { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
			netcat-openbsd; } 2>&1 ) \
		|| { printf '%s\n' "$$out" | tail -n 5 >&2; \
			echo "warning: could not install netcat-openbsd; the echo check test will be skipped" >&2; }; \
	else echo "warning: no nc and no apt-get as root; the echo check test will be skipped" >&2; fi

# Debian's lsof for the places graders' test (they stop a server with `lsof -ti:PORT | xargs
# kill`). Never fails the run: without apt (or root), it warns and that test skips.
lsof:
	@if command -v lsof >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's lsof for the places graders' test"; \
		export DEBIAN_FRONTEND=noninteractive; \
		out=$$( { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
			lsof; } 2>&1 ) \
		|| { printf '%s\n' "$$out" | tail -n 5 >&2; \
			echo "warning: could not install lsof; the places graders' test will be skipped" >&2; }; \
	else echo "warning: no lsof and no apt-get as root; the places graders' test will be skipped" >&2; fi

test: $(INSTALLED) browser netcat lsof
	$(BIN)/python -m pytest

demo: $(INSTALLED)
	$(BIN)/python demo/run-demo
	$(BIN)/python -m herd.lottery.cli.up 5 --workdir logs/lottery

clean:
	rm -rf $(VENV) build *.egg-info logs twisted/plugins/dropin.cache
