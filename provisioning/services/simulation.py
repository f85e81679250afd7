"""Knobs of the clouds that simulate what real ones do (the sandbox): a server's or an
autoscaling group's simulated load, for demos and tests of idle reclaim and autoscaling.
Provider-neutral: any adapter with the SIMULATED_LOAD feature takes it, and keeps it its way."""

from django.core.exceptions import ValidationError
from django.db import transaction

from provisioning.models import CloudAccount, Resource
from provisioning.providers import REGISTRY, get_adapter
from provisioning.providers.base import SIMULATED_LOAD


@transaction.atomic
def simulated_load_set(*, resource: Resource, load: str | float) -> None:
    """Set the simulated load ("busy", "idle", a CPU %, "wave:N") of a server, or of an
    autoscaling group's current and future servers (a group's servers follow the group's
    profile, not one set on them before)."""
    account = CloudAccount.objects.select_for_update().get(pk=resource.cloud_account_id)
    if SIMULATED_LOAD not in getattr(REGISTRY.get(account.provider), "features", ()):
        simulated = ", ".join(p for p, c in REGISTRY.items() if SIMULATED_LOAD in c.features)
        raise ValidationError({"load": [f"Only {simulated} resources have a simulated load."]})
    if resource.kind not in ("server", "autoscaling_group"):
        raise ValidationError({"load": [f"A {resource.kind} has no load to simulate."]})
    servers = [server.canopy_tag for server in resource.children.only("pk")]
    try:
        account.options = get_adapter(account).options_with_load(
            [resource.canopy_tag, *servers], load
        )
    except ValueError as error:
        raise ValidationError({"load": [str(error)]}) from None
    account.save(update_fields=["options"])
