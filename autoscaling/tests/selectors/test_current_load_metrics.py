"""The load autoscaling's policies judge (`current_load`) is the group's series as charted: the
average of its servers' simulated metrics."""

from datetime import timedelta
from statistics import mean

import pytest

from autoscaling.selectors import current_load
from provisioning.tests.helpers import UNTIL, autoscaling_group, cpu, series

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(db):
    return autoscaling_group()


def test_group_series_and_current_load_share_the_average(group):
    servers = list(group.children.filter(state="active"))
    minute = timedelta(minutes=1)
    per_server = [series(server, hours=5 / 60, step=minute) for server in servers]
    assert [p.cpu_percent for p in series(group, hours=5 / 60, step=minute)] == [
        round(mean(values), 1) for values in zip(*map(cpu, per_server), strict=True)
    ]
    load = current_load(group=group, now=UNTIL)
    assert load["cpu"] == round(mean(cpu(series(group, hours=5 / 60, step=minute))), 1)
