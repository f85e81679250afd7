"""Settings for the benchmark: production settings plus the bare baseline endpoint's URLs."""

from portal.settings import *  # star import on purpose: F403/F405 ignored in pyproject.toml

ROOT_URLCONF = "bench.urls"
