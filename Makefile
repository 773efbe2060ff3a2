# The two commands a new machine needs: `make run` and `make test` (Python 3.11+ and make).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test bench load lint typecheck security check clean-data

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

## make run: install, start PostgreSQL (embedded unless DATABASE_URL), migrate, seed, start worker, beat and web
run: $(STAMP)
	$(PY) -m hub.devstack run

## make test: the same set-up, then the whole suite (extra pytest arguments: make test ARGS="-k ledger")
test: $(STAMP)
	$(PY) -m hub.devstack test -- $(ARGS)

## make bench: the ledger against raw PostgreSQL and the eventsourcing library, then the consent gate
bench: $(STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) -m hub.devstack exec -- $(PY) bench/ledger_bench.py $(ARGS)
	$(PY) -m hub.devstack exec -- $(PY) bench/gate_bench.py $(if $(findstring --quick,$(ARGS)),--quick,)
	$(PY) -m hub.devstack exec -- $(PY) bench/ingest_bench.py $(if $(findstring --quick,$(ARGS)),--quick,)
	$(PY) -m hub.devstack exec -- $(PY) bench/request_bench.py $(if $(findstring --quick,$(ARGS)),--quick,)

## make load: load and soak of the real stack (gunicorn, Celery worker + beat, Redis): a ramp to the
## maximum, then a steady phase and a reconciliation (ARGS="--soak": 10 minutes at ~70 %; "--quick": ~1 min)
load: $(STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) -m hub.devstack exec -- $(PY) bench/load.py $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check hub audit consent profiles tasks tests

typecheck: $(STAMP)
	DATABASE_URL=$${DATABASE_URL:-postgres://unused@localhost/unused} $(VENV)/bin/mypy

## make security: bandit on the apps (no medium or high finding; each `# nosec` says why) and
## pip-audit on the pinned requirements (a known vulnerability fails; upgrade the pin; packages it
## could not look up are reported as not audited)
security: $(STAMP)
	$(VENV)/bin/bandit -r hub audit consent profiles tasks -ll -q
	.ci/pip-audit

check: lint typecheck test

## make clean-data: remove the embedded database and generated dev secrets (asks no questions)
clean-data:
	rm -rf .pgdata .run .env.local
