# The two commands a new machine needs: `make run` and `make test` (Python 3.11+ and make).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.lock | cksum | cut -d' ' -f1)

.PHONY: run test bench load lint lint-imports typecheck security bandit audit-deps lock check clean-data messages

# Installs exactly the lock file: every transitive dependency pinned with its hashes (pip refuses
# anything else). requirements.txt / requirements-dev.txt are the direct pins; `make lock` derives
# the lock files from them.
$(STAMP): requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	@rm -f $(VENV)/.installed-*
	@touch $@

## make run: install, start PostgreSQL (embedded unless DATABASE_URL), migrate, seed, start and supervise
## worker, beat and web (ARGS=-v: the full log on the console; it is always in .run/logs/)
run: $(STAMP)
	$(PY) -m hub.devstack run $(ARGS)

## make test: the same set-up, then the whole suite (extra pytest arguments: make test ARGS="-k ledger")
test: $(STAMP)
	$(PY) -m hub.devstack test -- $(ARGS)

## make bench: issue 17's table in one run: the ledger against raw PostgreSQL and the eventsourcing
## library, the consent gate, ingest through the real stack (with the consumers alone), privacy
## requests, cluster models (training and labelling time and peak memory at 10k and 100k profiles,
## against scikit-learn with everything in memory; not in the table), `make load` (a ramp, a
## 2-minute steady phase, the reconciliation; Redis: LOAD_REDIS_URL, default db 8), then `bench.summary`: every row of the issue's table with the same run's baselines,
## PASS / MISS, and bench/results/summary-*.md. Each result carries the run's id (BENCH_RUN); the
## summary refuses any other run's. A failed gate, ingest or load step does not stop the summary,
## which then says what is missing and fails. About 17 minutes on 2 cores (ARGS=--quick: about 5).
## BENCH_DB_PREFIX=hub_bench2: the benchmarks' databases become hub_bench2, hub_bench2_ingest, ...
## (two people benchmarking on one server).
bench: export BENCH_RUN := $(shell date +%s)
bench: QUICK = $(if $(findstring --quick,$(ARGS)),--quick,)
bench: $(STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) -m hub.devstack exec -- $(PY) -m bench.ledger_bench $(ARGS)
	-$(PY) -m hub.devstack exec -- $(PY) -m bench.gate_bench $(QUICK)
	-$(PY) -m hub.devstack exec -- $(PY) -m bench.ingest_bench $(QUICK)
	$(PY) -m hub.devstack exec -- $(PY) -m bench.request_bench $(QUICK)
	-$(PY) -m hub.devstack exec -- $(PY) -m bench.cluster_bench $(QUICK)
	-$(PY) -m hub.devstack exec -- $(PY) -m bench.load $(QUICK)
	$(PY) -m bench.summary

## make load: load and soak of the real stack (gunicorn, Celery worker + beat, Redis): a ramp to the
## maximum, then a steady phase and a reconciliation (ARGS="--soak": 10 minutes at ~70 %; "--quick": ~1 min)
load: $(STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) -m hub.devstack exec -- $(PY) -m bench.load $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check hub audit consent profiles tasks tests bench

typecheck: $(STAMP)
	DATABASE_URL=$${DATABASE_URL:-postgres://unused@localhost/unused} $(VENV)/bin/mypy

## make lint-imports: the layers contract (.importlinter) and no import cycle between files
lint-imports: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	$(PY) .ci/import_cycles.py

## make security: bandit on the apps at every severity (each `# nosec` names its test and says why),
## then pip-audit in strict mode on the hashed lock file: a known vulnerability fails, and so does a
## package it could not look up (no vulnerability data reachable is a failure, never a pass)
security: bandit audit-deps

bandit: $(STAMP)
	$(VENV)/bin/bandit -r hub audit consent profiles tasks -l -q

audit-deps: $(STAMP)
	.ci/pip-audit

## make lock: re-derive the hashed lock files from requirements.txt and requirements-dev.txt (uv)
lock: $(STAMP)
	$(VENV)/bin/uv pip compile --quiet --universal --generate-hashes --python-version 3.11 \
	  --no-header --output-file requirements.lock requirements.txt
	$(VENV)/bin/uv pip compile --quiet --universal --generate-hashes --python-version 3.11 \
	  --no-header --output-file requirements-dev.lock requirements-dev.txt

check: lint lint-imports typecheck test

## make messages: collect every translatable string into locale/de and locale/fr (django.po; new ones
## arrive untranslated, changed ones fuzzy: translate them), then compile the .mo files the hub reads.
## Both are checked in; tests/hub/test_translations.py fails while either is stale or incomplete.
MESSAGES_IGNORE := --ignore=.venv/* --ignore=bench/* --ignore=tests/* --ignore=.run/* --ignore=.pgdata/* \
	--ignore=.ci/* --ignore=docs/*
messages: $(STAMP)
	$(PY) -m hub.devstack exec -- $(PY) manage.py makemessages -l de -l fr --no-obsolete --no-location \
	  $(MESSAGES_IGNORE)
	$(PY) -m hub.devstack exec -- $(PY) manage.py compilemessages -l de -l fr --ignore=.venv --ignore=.run \
	  --ignore=.pgdata

## make clean-data: remove the embedded database and generated dev secrets (asks no questions)
clean-data:
	rm -rf .pgdata .run .env.local
