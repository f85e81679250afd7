"""The provisioning saga played in the test process, for the tests that drive it from an order:
approved orders of catalog items with their plan pinned, the workers' deploy and step tasks run
round after round, a provider call that fails once. (Provisioning's own tests build their rows
with `provisioning/tests/factories.py` instead: an app's tests import no app above it.)"""

import contextlib

import pytest

from catalog.models import CatalogItem, Category, Order
from catalog.orders import order_deploy
from catalog.selectors.menu import resolve_resources
from catalog.tasks import admit_order
from provisioning.models import CloudAccount, Step
from provisioning.providers import ProviderError
from provisioning.services import saga
from provisioning.services.saga import TransientProviderError, step_execute

PARAMS = {"size": "small", "image": "ubuntu-24.04", "location": "sandbox-1a"}


def approved_order(demo, slug: str, **parameters) -> Order:
    """An approved order of a default-catalog item with its plan pinned (admission is the
    approvals app's concern)."""
    item = CatalogItem.objects.get(slug=slug)
    order = Order(
        item=item,
        project=demo["web_shop"],
        requester=demo["alice"],
        parameters={**PARAMS, **parameters},
        cloud_account=CloudAccount.objects.get(name="sandbox"),
        status="approved",
    )
    order.pin_plan(resources=resolve_resources(item=item, parameters=order.parameters))
    order.save()
    return order


def deploy_approved() -> None:
    """Play the worker's `catalog.tasks.deploy_order` for every approved order not started."""
    for order in Order.objects.filter(status="approved", deployments=None):
        order_deploy(order_id=order.pk)


def admit_and_deploy(order_id: int) -> None:
    """Play the workers: admit the order (`catalog.tasks.admit_order`) and, when a policy
    approved it at once, deploy it (`catalog.tasks.deploy_order`)."""
    admit_order(order_id)
    deploy_approved()


def queued() -> list[Step]:
    return list(Step.objects.filter(state="pending").exclude(queued_at=None).order_by("id"))


def run_queued(max_rounds: int = 200) -> list[list[Step]]:
    """Play the worker: run every queued step, round after round; returns the rounds."""
    rounds = []
    for _ in range(max_rounds):
        deploy_approved()
        ready = queued() + list(Step.objects.filter(state="running"))
        if not ready:
            return rounds
        rounds.append(ready)
        for step in ready:
            with contextlib.suppress(TransientProviderError):  # Celery would retry; so do we
                step_execute(step_id=step.pk)
    pytest.fail("the saga did not settle")


def fleet_order(demo, count: int) -> Order:
    """An approved order of `count` identical servers (the shape `make bench` provisions)."""
    CatalogItem.objects.update_or_create(
        slug="fleet",
        defaults={
            "name": "Server fleet",
            "category": Category.objects.first(),
            "parameters": {"type": "object", "properties": {"count": {"type": "integer"}}},
            "resources": [
                {
                    "key": "web",
                    "kind": "server",
                    "name": "fleet",
                    "count": "{count}",
                    "properties": {"size": "small", "image": "ubuntu-24.04"},
                }
            ],
        },
    )
    return approved_order(demo, "fleet", count=count)


def failing_once_on(step_pk: int, error: ProviderError, monkeypatch) -> None:
    """The provider call of one step raises `error` the first time; the others go through."""
    call_provider, failed = saga.provider_call, []

    def call(step):
        if step.pk == step_pk and not failed:
            failed.append(step.pk)
            raise error
        return call_provider(step)

    monkeypatch.setattr(saga, "provider_call", call)
