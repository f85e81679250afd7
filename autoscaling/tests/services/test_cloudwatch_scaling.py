"""An EC2 autoscaling group scales out and in on CloudWatch's CPU, at moto: its instances and
its load balancer's members follow. `now` moves ahead of the clock where the test put
CloudWatch datapoints for those instants."""

from datetime import timedelta

import pytest
from django.utils import timezone

from autoscaling.selectors import group_size
from autoscaling.services import evaluate, policy_save
from core.tests.factories import OrganizationFactory, ProjectFactory, UserFactory
from provisioning.tests.helpers import (
    CLOUDWATCH,
    deployed,
    ec2_account,
    instance_state,
    planned_order,
    put_load,
)
from provisioning.tests.plans import EC2_SERVER, autoscaling_web_tier_plan
from provisioning.tests.saga import run_queued
from tests.moto_server import boto

pytestmark = pytest.mark.django_db
MINUTE = timedelta(minutes=1)


def test_an_ec2_group_scales_out_and_in_on_cloudwatch_cpu(moto):
    boto(moto, "route53").create_hosted_zone(Name="shop.test", CallerReference="scaling")
    ec2 = ec2_account(OrganizationFactory(), moto, **CLOUDWATCH)
    bob = UserFactory()
    plan = autoscaling_web_tier_plan(
        "shop", instances=1, max_instances=3, zone="shop.test", **EC2_SERVER
    )
    order = deployed(
        planned_order(
            plan,
            project=ProjectFactory(organization=ec2.organization, managers=[bob]),
            cloud_account=ec2,
        )
    )
    group = order.resources.get(kind="autoscaling_group")
    policy_save(
        user=bob,
        policy=None,
        data={
            "group": group,
            "metric": "cpu",
            "scale_out_threshold": 70,
            "scale_out_window": 3,
            "scale_in_threshold": 30,
            "scale_in_window": 3,
            "step": 1,
            "cooldown": 5,
        },
    )
    now = timezone.now() + 60 * MINUTE

    def running() -> list[str]:
        return list(group.children.filter(state="active").values_list("external_id", flat=True))

    def tick(cpu: float) -> int:
        # The policies' window (3 minutes) and a minute more: no datapoint of an earlier tick
        # (5 minutes before) is averaged in.
        put_load(moto, running(), cpu=cpu, kbps=500, since=now - 4 * MINUTE, until=now)
        acted = evaluate(now=now)
        run_queued()
        evaluate(now=now)  # closes a finished activity
        return acted

    sizes = [group_size(group=group)]
    while sizes[-1] < 3:
        assert tick(cpu=90) == 1
        sizes.append(group_size(group=group))
        now += 5 * MINUTE
    assert tick(cpu=90) == 0  # at the maximum
    now += 5 * MINUTE
    while sizes[-1] > 1:
        assert tick(cpu=10) == 1
        sizes.append(group_size(group=group))
        now += 5 * MINUTE
    assert sizes == [1, 2, 3, 2, 1]
    at_moto = [instance_state(moto, instance) for instance in running()]
    assert at_moto == ["running"]
    balancer = order.resources.get(kind="load_balancer")
    [described] = boto(moto, "elb").describe_load_balancers(
        LoadBalancerNames=[balancer.canopy_tag]
    )["LoadBalancerDescriptions"]
    assert [m["InstanceId"] for m in described["Instances"]] == running()
