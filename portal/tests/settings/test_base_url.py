"""The portal's base URL follows the port it runs on: `make` hands it to every process, and a
process given only PORT derives the same."""

import os
import subprocess
import sys

from portal.tests.helpers import ROOT


def test_base_url_follows_the_port():
    """`PORT=8765 make run`: every process (honcho gives the worker and beat ports of their
    own) gets the portal's address from make; a process given only PORT derives the same."""
    env = {k: v for k, v in os.environ.items() if k not in ("CANOPY_BASE_URL", "MAKEFLAGS")}
    printed = subprocess.run(
        ["make", "-s", "--no-print-directory", "-f", "Makefile", "-f", "-", "base-url"],
        input="base-url:\n\t@echo $$CANOPY_BASE_URL\n",
        env={**env, "PORT": "8765"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert printed.stdout.strip() == "http://127.0.0.1:8765"
    code = "from django.conf import settings; print(settings.CANOPY_BASE_URL)"
    derived = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**env, "PORT": "8765", "DJANGO_SETTINGS_MODULE": "portal.settings"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert derived.stdout.strip() == "http://127.0.0.1:8765"
