# Battery passport platform. `make run` and `make test` do all the set-up on a fresh machine (idempotent).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
STACK := bash deploy/local/stack.sh
WITH_ENV := eval "$$($(STACK) env)" &&
SERVICES := bash deploy/local/services.sh
PYTEST_ARGS ?=
MUTATION_TARGETS ?= scripts/mutation_targets.toml
MUTATION_ARGS ?=
BENCH_ARGS ?=

.PHONY: help install node browser stack run demo test check unit integration e2e cluster stop status asyncapi release-contracts schemas clean-data mutation bench-epcis

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: .venv/.installed node ## install the Python environment (uv, locked) and the npm packages (locked)

node: ## Node.js and package-lock.json's packages in ./node_modules (AsyncAPI parser, event docs renderer)
	@bash deploy/local/node.sh

.venv/.installed: pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || { echo "==> installing uv"; python3 -m pip install --quiet --disable-pip-version-check uv; }
	@echo "==> python environment: uv sync (locked)"
	@python3 -m uv sync --frozen --quiet
	@touch $@

browser: ## headless Chromium for the dashboard's browser tests (Debian packages)
	@bash deploy/local/browser.sh

.PHONY: promtool compose-env
install: promtool

promtool: ## promtool (Debian's prometheus package) for the alert-rule tests
	@bash deploy/prometheus/promtool.sh

.PHONY: helm compose-cli

helm: ## Helm (from its Go module) and the operators' CRDs, for the chart's tests (deploy/local/helm.sh)
	@bash deploy/local/helm.sh

compose-cli: ## Docker Compose's CLI (from its Go module), for `docker compose config` in the tests
	@bash deploy/local/compose_cli.sh

compose-env: ## write .env for docker compose: versions (deploy/versions.env), a generated Grafana admin password
	@bash deploy/compose/env.sh

stack: install ## start Kafka, PostgreSQL, Redis and the HTTP gateway (installs them when missing)
	@$(STACK) up

run: stack ## start everything, run the demo, print where to look
	@$(STACK) observability up
	@$(WITH_ENV) $(PY) -m bpass.cli keys demo --quiet
	@$(WITH_ENV) $(SERVICES) up
	@$(WITH_ENV) $(PY) -m bpass.cli demo
	@$(WITH_ENV) $(PY) -m bpass.cli simulate --batteries 3000 --run demo
	@echo "==> docs:    http://127.0.0.1:$${BPASS_HTTP_PORT:-8080}/identity/docs (also /custody/docs, /recovery/docs, /reporting/docs)"
	@$(STACK) observability urls

demo: ## run the demo again against the running platform
	@$(WITH_ENV) $(PY) -m bpass.cli demo

check: install ## lint, format check, types, service independence, committed schemas up to date
	@echo "==> ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
	@echo "==> mypy --strict"; .venv/bin/mypy contracts services
	@echo "==> import-linter"; .venv/bin/lint-imports --no-cache

test: stack check browser helm compose-cli ## install, start the stack, run every test (unit, integration, e2e, cluster)
	@$(WITH_ENV) $(PY) -m pytest $(PYTEST_ARGS)

unit: install helm compose-cli ## unit tests only (no I/O)
	@$(PY) -m pytest -m unit $(PYTEST_ARGS)

integration: stack helm
	@$(WITH_ENV) $(PY) -m pytest -m integration $(PYTEST_ARGS)

e2e: stack
	@$(WITH_ENV) $(PY) -m pytest -m e2e $(PYTEST_ARGS)

cluster: stack ## failure tests on a three-broker Kafka cluster the tests start and wipe (part of make test)
	@$(WITH_ENV) $(PY) -m pytest -m cluster $(PYTEST_ARGS)

bench-epcis: stack ## EPCIS query benchmark (1,000,000 events kept in bpass_bench_epcis; not part of `make test`)
	@$(WITH_ENV) $(PY) bench/epcis_query.py $(BENCH_ARGS)

mutation: stack ## mutation testing of the modules that carry guarantees (slow, not part of `make test`)
	@$(WITH_ENV) nice -n 10 $(PY) scripts/mutation.py --targets $(MUTATION_TARGETS) $(MUTATION_ARGS)

asyncapi: install ## regenerate the committed AsyncAPI documents and JSON Schemas (refuses breaking changes)
	@$(PY) -m bpass.cli contracts write

release-contracts: install ## record the current payload schemas as released (contracts/released/)
	@$(PY) -m bpass.cli contracts release

stop: ## stop the services and the stack (data is kept)
	@$(SERVICES) down
	@$(STACK) down

status: ## what runs where
	@$(STACK) status
	@$(SERVICES) status

clean-data: stop ## stop everything and delete local data
	@$(STACK) wipe
