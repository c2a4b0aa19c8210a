# A newcomer runs `make run` or `make test` on a fresh machine; both install first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= config/inbox.yaml

.PHONY: install install-test run test quick bench clean

# The service alone: what `make run` needs, and nothing a test needs.
$(BIN)/inbox: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(BIN)/inbox

# The test extras (pytest, the tools and clients the suite runs) on top, for test, quick and bench.
$(VENV)/.test-extras: $(BIN)/inbox
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(VENV)/.test-extras

install: $(BIN)/inbox

install-test: $(VENV)/.test-extras

# Migrate, load the sample mails, then serve on loopback: SMTP on 127.0.0.1:2525, /healthz and
# /metrics on 127.0.0.1:8025, outgoing mail written under var/sent. Ctrl-C stops it cleanly.
run: install
	mkdir -p var
	$(BIN)/inbox --config $(CONFIG) db upgrade
	$(BIN)/inbox --config $(CONFIG) ingest config/samples/
	$(BIN)/inbox --config $(CONFIG) tickets list
	$(BIN)/inbox --config $(CONFIG) serve

test: install-test
	$(BIN)/pytest -q

# The inner loop (aim: under 2 minutes; two pytest-xdist workers): the unit tests and the integration tests on SQLite, at one of
# the fixed instants, without the two that run `inbox serve` as a process nor those that start a real
# Dovecot, Chromium, OAuth relay or Postfix's tools (marked `servers`). make test runs everything.
quick: install-test
	$(BIN)/pytest -q -n 2 tests/unit tests/integration -k "not postgresql and not test_serve_" -m "not servers" --clock-at sunday-23utc

bench: install-test
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/scheduler.py
	$(BIN)/python bench/storm.py --duration 60 --rates 20,100 --db sqlite

clean:
	rm -rf $(VENV) var .pytest_cache
