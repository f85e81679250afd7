"""The query-count baselines (tests/querycounts.py): above fails with the queries listed, below
passes and is reported, a missing baseline fails, and updating writes the apps' files."""

import json

import pytest
from django.contrib.auth.models import User

from tests import querycounts

pytestmark = pytest.mark.django_db


@pytest.fixture
def baselines(tmp_path, monkeypatch):
    """Baselines in a file of the test's own, whatever mode the run is in."""
    path = tmp_path / "query_counts.json"
    path.write_text(json.dumps({"two_reads": 2}))
    monkeypatch.setattr(querycounts, "baseline_file", lambda name: path)
    monkeypatch.setattr(querycounts, "_updating", lambda config: False)
    monkeypatch.setattr(querycounts, "_measured", {})
    monkeypatch.setattr(querycounts, "_below", {})
    return path


def reads(count: int) -> None:
    for _ in range(count):
        User.objects.filter(username="nobody").exists()


def test_more_queries_than_the_baseline_fail_with_the_queries_listed(baselines, query_baseline):
    with pytest.raises(pytest.fail.Exception) as failed, query_baseline("portal.two_reads"):
        reads(3)
    assert "portal.two_reads: 3 queries, baseline 2" in str(failed.value)
    assert str(failed.value).count('FROM "auth_user"') == 3


def test_as_many_pass_and_fewer_pass_and_are_reported(baselines, query_baseline):
    with query_baseline("portal.two_reads"):
        reads(2)
    assert querycounts._below == {}
    with query_baseline("portal.two_reads"):
        reads(1)
    assert querycounts._below == {"portal.two_reads": [1, 2]}


def test_ignored_queries_are_not_counted(baselines, query_baseline):
    with query_baseline("portal.two_reads", ignore="auth_user") as captured:
        reads(5)
    assert len(captured) == 5


def test_a_name_without_a_baseline_fails(baselines, query_baseline):
    with (
        pytest.raises(pytest.fail.Exception, match=r"no query baseline 'portal\.unknown'"),
        query_baseline("portal.unknown"),
    ):
        reads(1)


def test_updating_records_the_highest_count_and_merges_it_into_the_file(
    baselines, query_baseline, monkeypatch
):
    monkeypatch.setattr(querycounts, "_updating", lambda config: True)
    for count in (4, 6, 5):
        with query_baseline("portal.new_read"):
            reads(count)
    assert querycounts._measured == {"portal.new_read": 6}
    querycounts.write_baselines(querycounts._measured)
    assert json.loads(baselines.read_text()) == {"new_read": 6, "two_reads": 2}


def test_a_baseline_lives_in_its_apps_tests_folder():
    path = querycounts.baseline_file("approvals.approve")
    assert path.parts[-3:] == ("approvals", "tests", "query_counts.json")
