"""Query-count baselines, one file per app (a plugin of the root conftest.py).

A test pins what a request or a job costs in SQL by name:

    def test_approving_costs_a_fixed_number_of_queries(query_baseline, …):
        with query_baseline("approvals.approve"):
            client.post(…)

The name's first part is an app label: the count is compared with that app's
`<app>/tests/query_counts.json`. More queries than the baseline fail the test with the queries
listed; fewer pass, and the run's summary names them so the baseline can be lowered. A name
with no baseline fails. `pytest --update-query-counts` (`make query-counts`) runs only the tests
that use a baseline and writes what they measured into the files (under xdist too: the workers
hand their counts to the controller, which writes).
"""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

FILE_NAME = "query_counts.json"
FIXTURE = "query_baseline"
# The session's findings: counts measured ({name: highest count}) and counts that came in
# below their baseline ({name: [count, baseline]}). Under xdist each worker sends its own to
# the controller, which merges them here.
_measured: dict[str, int] = {}
_below: dict[str, list[int]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-query-counts",
        action="store_true",
        help=f"run only the tests using {FIXTURE}; write their counts to <app>/tests/{FILE_NAME}",
    )


def _updating(config: pytest.Config) -> bool:
    return bool(config.getoption("--update-query-counts"))


def baseline_file(name: str) -> Path:
    """`<app>/tests/query_counts.json` for a name `<app label>.<what>`."""
    from django.apps import apps

    label, _, what = name.partition(".")
    if not what:
        raise ValueError(f"query baseline {name!r}: expected '<app label>.<what>'")
    return Path(apps.get_app_config(label).path) / "tests" / FILE_NAME


def _load(path: Path) -> dict[str, int]:
    return json.loads(path.read_text()) if path.exists() else {}


def _listing(queries: list[str]) -> str:
    return "\n".join(f"{n:3}. {sql[:1500]}" for n, sql in enumerate(queries, 1))


@pytest.fixture
def query_baseline(request: pytest.FixtureRequest) -> Callable:
    """`with query_baseline("<app>.<what>"):` counts the block's SQL against the app's baseline.

    `ignore`: queries whose SQL contains it are not counted (e.g. a provider's own calls, which
    grow with the work by design). The context yields Django's CaptureQueriesContext."""

    @contextmanager
    def measure(name: str, *, ignore: str = "") -> Iterator[CaptureQueriesContext]:
        path = baseline_file(name)
        with CaptureQueriesContext(connection) as captured:
            yield captured
        queries = [
            q["sql"] for q in captured.captured_queries if not (ignore and ignore in q["sql"])
        ]
        count = len(queries)
        _measured[name] = max(count, _measured.get(name, 0))
        if _updating(request.config):
            return
        baseline = _load(path).get(name.partition(".")[2])
        if baseline is None:
            pytest.fail(
                f"no query baseline {name!r} in {path} ({count} queries): "
                "run `make query-counts` and commit the file"
            )
        if count > baseline:
            pytest.fail(
                f"{name}: {count} queries, baseline {baseline} ({path}):\n{_listing(queries)}"
            )
        if count < baseline:
            _below[name] = [count, baseline]

    return measure


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --update-query-counts, only the tests that measure a baseline run."""
    if not _updating(config):
        return
    kept = [item for item in items if FIXTURE in getattr(item, "fixturenames", ())]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """xdist's controller: a worker finished; merge what it measured."""
    found = getattr(node, "workeroutput", {}).get("query_counts")
    if found:
        for name, count in found["measured"].items():
            _measured[name] = max(count, _measured.get(name, 0))
        _below.update(found["below"])


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):  # an xdist worker: the controller writes
        config.workeroutput["query_counts"] = {"measured": _measured, "below": _below}
        return
    if _updating(config) and _measured:
        write_baselines(_measured)


def write_baselines(measured: dict[str, int]) -> None:
    """Merge the counts into their apps' files (other names in a file are kept)."""
    by_file: dict[Path, dict[str, int]] = {}
    for name, count in measured.items():
        by_file.setdefault(baseline_file(name), {})[name.partition(".")[2]] = count
    for path, counts in by_file.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        merged = {**_load(path), **counts}
        path.write_text(json.dumps(dict(sorted(merged.items())), indent=2) + "\n")


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    if _updating(config) and _measured:
        terminalreporter.write_sep("-", "query baselines written")
        for name, count in sorted(_measured.items()):
            terminalreporter.write_line(f"{name}: {count}  ({baseline_file(name)})")
    elif _below:
        terminalreporter.write_sep("-", "fewer queries than the baseline (make query-counts)")
        for name, (count, baseline) in sorted(_below.items()):
            terminalreporter.write_line(f"{name}: {count} < {baseline}")
