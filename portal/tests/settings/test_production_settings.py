"""With DEBUG=false (production) Canopy is HTTPS-only: Secure/HttpOnly cookies, HSTS, a redirect
to https that honours the proxy's X-Forwarded-Proto, and a Content-Security-Policy. The settings
are read in a fresh process from a production environment, as a deployment would."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from portal.tests.helpers import ROOT

PROBE = """
import json
import django
from django.conf import settings
from django.test import Client

django.setup()
client = Client(HTTP_HOST="canopy.example")
plain = client.get("/api/v1/projects/")
proxied = client.get("/api/v1/projects/", headers={"x-forwarded-proto": "https"})
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location")],
    "proxied": [proxied.status_code, dict(proxied.headers)],
    "cookies": {
        name: getattr(settings, name)
        for name in ["SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "CSRF_COOKIE_SECURE",
                     "CSRF_COOKIE_HTTPONLY"]
    },
}))
"""


def _production_env(tmp_path: Path, **extra: str) -> dict:
    keep = {"PATH", "HOME", "LANG"}
    return {
        **{name: value for name, value in os.environ.items() if name in keep},
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "canopy.example",
        "CANOPY_VAR_DIR": str(tmp_path),
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
        **extra,
    }


def _probe(tmp_path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=_production_env(tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_production_is_https_only_behind_a_proxy(tmp_path):
    probe = _probe(tmp_path)
    assert probe["plain"] == [301, "https://canopy.example/api/v1/projects/"]
    status, headers = probe["proxied"]
    assert status == 401  # served (over https, said the proxy), and not signed in
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert probe["cookies"] == dict.fromkeys(probe["cookies"], True)
