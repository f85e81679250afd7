# The few verbs people need. Every target installs what it needs into .venv first.
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT

.PHONY: run test lint bench demo venv browser directory ldap-headers fault-services

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
run: venv
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

## test: every test; uses PostgreSQL and Redis on 127.0.0.1 when they answer
test: venv browser directory fault-services
	$(VENV)/bin/pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	@# Production's settings (DEBUG off, a real key) pass Django's deployment checklist.
	DEBUG=false ALLOWED_HOSTS=canopy.example SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
		$(PY) manage.py check --deploy --fail-level WARNING

bench: venv
	$(PY) bench/run.py
	$(PY) bench/billing.py
	$(PY) bench/provisioning.py
