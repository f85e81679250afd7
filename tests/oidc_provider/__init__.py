"""A real OpenID Connect provider for the single sign-on tests: django-oauth-toolkit in OIDC
mode, run as its own Django process (`tests/oidc_provider/server.py`) with its own SQLite
database, users and groups (the groups claim)."""
