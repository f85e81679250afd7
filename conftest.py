"""The suite's shared fixtures, for every app's tests/ and the end-to-end tests in tests/."""

pytest_plugins = ["tests.fixtures", "tests.querycounts"]
