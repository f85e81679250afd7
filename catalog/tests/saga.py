"""The provisioning saga played in the test process, for the tests that drive it from an order
(catalog's and those of the apps above it): approved orders of catalog items with their plan
pinned, and the workers' deploy and step tasks run round after round. (Provisioning's own tests
build their rows with `provisioning/tests/factories.py` and run steps with
`provisioning/tests/saga.py`: an app's tests import no app above it.)"""

from catalog.models import CatalogItem, Order
from catalog.orders import order_deploy
from catalog.selectors.menu import resolve_resources
from catalog.tasks import admit_order
from provisioning.models import CloudAccount, Step
from provisioning.tests import saga as provisioning_saga

PARAMS = {"size": "small", "image": "ubuntu-24.04", "location": "sandbox-1a"}


def approved_order(world: dict, slug: str, **parameters) -> Order:
    """alice's approved order in web-shop of a default-catalog item, on the account named
    sandbox, with its plan pinned (admission is the approvals app's concern). `world`: the
    people and projects by name, as catalog's `world` or the `demo` fixture gives them."""
    item = CatalogItem.objects.get(slug=slug)
    order = Order(
        item=item,
        project=world["web_shop"],
        requester=world["alice"],
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


def run_queued(max_rounds: int = 200) -> list[list[Step]]:
    """Play the workers: run every queued step, round after round, deploying the orders approved
    meanwhile; returns the rounds."""
    return provisioning_saga.run_queued(max_rounds, each_round=deploy_approved)
