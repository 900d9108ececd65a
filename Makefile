# pinpoint-sync: everything a user or CI needs, from a fresh clone.
#   make run    the demo on the embedded default (local Kafka, simulator, worker, sample traffic)
#   make test   the whole suite against a real Kafka broker (creates .venv, fetches Kafka's jars)
#   make lint   ruff and mypy (strict) on worker/
#   make bench  the benchmarks, printing ratios measured side by side

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JARS   := .cache/kafka-libs/.complete
ASYNCAPI_CHECK := tools/asyncapi-check/node_modules/.package-lock.json
PYTEST_ARGS ?=

.PHONY: run test lint bench install jars node-tools clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(JARS): deploy/kafka/pom.xml
	mvn -q -B -f deploy/kafka/pom.xml dependency:copy-dependencies
	touch $(JARS)

jars: $(JARS)

# The official AsyncAPI parser (Node.js), which a contract test runs on schemas/asyncapi.json.
$(ASYNCAPI_CHECK): tools/asyncapi-check/package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --prefix tools/asyncapi-check

node-tools: $(ASYNCAPI_CHECK)

run: $(STAMP) $(JARS)
	$(PY) -m worker dev $(ARGS)

test: $(STAMP) $(JARS) $(ASYNCAPI_CHECK)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check worker tests bench
	$(VENV)/bin/mypy

bench: $(STAMP) $(JARS)
	$(PY) bench/run_all.py $(ARGS)

clean:
	rm -rf $(VENV) .cache var .pytest_cache .mypy_cache .ruff_cache tools/asyncapi-check/node_modules
