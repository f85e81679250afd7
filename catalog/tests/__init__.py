"""Catalog's tests: templates, the catalog as YAML, ordering, admission, deploying, changes."""
