# The few verbs people need. Every target installs what it needs into .venv first.
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT
# Where the links in emails and notifications point. Set here, not left to each process: honcho
# gives the worker PORT+100 and beat PORT+200, so only the web process sees the portal's port.
CANOPY_BASE_URL ?= http://127.0.0.1:$(PORT)
export CANOPY_BASE_URL
# `make run` is a demo anybody may open: friendly error pages, not Django's debug pages. A
# developer turns them back on with `DEBUG=true make run`.
DEBUG ?= false

.PHONY: bench-scale run test query-counts lint bench demo venv browser directory ldap-headers fault-services prometheus

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(MAKE) --no-print-directory ldap-headers
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

## run: the portal at http://127.0.0.1:$(PORT) with a Celery worker and beat (Ctrl-C stops all)
# Plain http on this machine: no https redirect, HSTS or Secure-only cookies, even with DEBUG off.
run: export HTTPS_ONLY ?= false
# Every process gets PORT, so the links in emails and notifications (CANOPY_BASE_URL, derived
# from it unless set) point at this portal; the local key only serves this local demo.
run: export DEBUG := $(DEBUG)
run: export SECRET_KEY ?= canopy-insecure-development-key
run: venv
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo
	@echo "Canopy is starting at http://127.0.0.1:$(PORT)/  (API docs: /api/docs/, admin: /admin/)"
	@echo
	$(VENV)/bin/honcho --procfile Procfile.dev start

demo: venv
	$(PY) manage.py seed_demo

# Headless Chromium for the browser tests, from Debian's packages.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# python-ldap (django-auth-ldap) compiles against libldap and libsasl when no wheel fits.
ldap-headers:
	@test -f /usr/include/ldap.h -a -f /usr/include/sasl/sasl.h || (apt-get update -qq && apt-get install -y -qq libldap2-dev libsasl2-dev >/dev/null)

# A real OpenLDAP server (slapd, ldapadd) for the directory sign-in tests, from Debian's packages.
directory:
	@command -v slapd >/dev/null && command -v ldapadd >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slapd ldap-utils >/dev/null)

# PostgreSQL and Redis server binaries for the fault tests' private servers (tests/fault_stack.py).
fault-services:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null)
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server >/dev/null)

# A real Prometheus server for the metrics-source tests (the suite starts its own), from Debian's
# packages.
prometheus:
	@command -v prometheus >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null)

## test: every test, spread over the machine's cores (pytest-xdist, one test database, queue
## prefix and var dir per xdist worker); uses PostgreSQL and Redis on 127.0.0.1 when they answer
# TEST_WORKERS=0 runs the suite in one process; loadgroup keeps the tests sharing a module-scoped
# server (the fault tests' private stack, Prometheus) on one worker. One xdist worker more than
# the cores: many tests wait on real servers (a step lease running out, Prometheus scraping, a
# browser), and the third worker's tests use the CPU meanwhile (2 cores: 3 min 52 s, not 4:48).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test: venv browser directory fault-services prometheus
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup

## query-counts: rewrite every app's tests/query_counts.json from what the tests measure now
query-counts: venv
	$(VENV)/bin/pytest --update-query-counts -n $(TEST_WORKERS) --dist loadgroup

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	@# Production's settings (DEBUG off, a real key) pass Django's deployment checklist.
	DEBUG=false ALLOWED_HOSTS=canopy.example SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
		$(PY) manage.py check --deploy --fail-level WARNING
	$(VENV)/bin/lint-imports

bench: venv
	$(PY) bench/run.py
	$(PY) bench/billing.py
	$(PY) bench/provisioning.py
	$(PY) bench/approve.py


# The estate-wide pages and jobs at 100,000 resources and 10 M usage rows (takes a while).
bench-scale: venv
	$(PY) bench/scale.py