"""The reconciler: what Canopy recorded against what the provider reports. Resources stuck in
a transitional state past the timeout go to `error`; resources gone at the provider go
`missing` (billing stops); drifted fields are adopted, restored or reported by the account's
drift policy; objects no resource accounts for are listed, and servers launched outside Canopy
may be adopted into a project."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.db.models.fields.json import KT
from django.utils import timezone

from core.services import audit_record
from provisioning.models import (
    TRANSITIONAL_STATES,
    CloudAccount,
    Drift,
    DriftPolicy,
    Resource,
    ResourceEvent,
    ResourceState,
    Step,
    UnknownObject,
)
from provisioning.providers import CloudObject, ProviderError, get_adapter
from provisioning.providers.base import KINDS, TAG_PREFIX
from provisioning.services.day2 import resource_action_request
from provisioning.services.saga import enqueue
from provisioning.services.transitions import resource_event, resource_transition

if TYPE_CHECKING:  # orders live in catalog, above this app: only handed in
    from catalog.models import Order

R = ResourceState
A = Step.Action


@transaction.atomic
def reconcile_stuck(*, now: datetime | None = None) -> int:
    """Move resources stuck in a transitional state past the timeout to `error`."""
    deadline = (now or timezone.now()) - settings.CANOPY_TRANSITION_TIMEOUT
    stuck = Resource.objects.select_for_update().filter(
        state__in=TRANSITIONAL_STATES, state_changed_at__lt=deadline
    )
    count = 0
    for resource in stuck:
        resource_transition(
            resource,
            resource.mark_error,
            message=f"stuck in {resource.state} for more than {settings.CANOPY_TRANSITION_TIMEOUT}",
        )
        count += 1
    return count


# The provider's power states Canopy compares (others, like "pending", are in passing).
POWER_STATES = {"running": R.ACTIVE, "stopped": R.STOPPED}
# Resources compared per read: a bounded batch, so one account's thousands of resources never
# sit in one query or one transaction.
RECONCILE_BATCH = 1000
# What `_differences` reads of a resource: the few keys of its JSON it compares, read by the
# database (decoding every resource's whole properties and attributes would cost more than all
# the comparing).
COMPARED = {
    "size": KT("properties__size"),
    "size_gb": KT("properties__size_gb"),
    "members": F("attributes__members"),
    "address": KT("attributes__address"),
}


class Recorded(NamedTuple):
    """What Canopy recorded of a resource, as `_differences` compares it."""

    pk: int
    kind: str
    external_id: str
    state: str
    size: Any
    size_gb: Any
    members: list | None
    address: str | None

    @classmethod
    def of(cls, resource: Resource) -> Recorded:
        props, attributes = resource.properties, resource.attributes
        return cls(
            resource.pk,
            resource.kind,
            resource.external_id,
            resource.state,
            props.get("size"),
            props.get("size_gb"),
            attributes.get("members"),
            attributes.get("address"),
        )


DriftField = Drift.Field
# The billable truth is recorded whatever the policy, so metering follows the provider.
BILLED_FIELDS = (DriftField.POWER, DriftField.SIZE, DriftField.VOLUME_SIZE)


def _member_ids(members: list[dict[str, str]] | None) -> str:
    return ", ".join(sorted(m["id"] for m in members or []))


def _differences(resource: Recorded, obj: CloudObject) -> dict[str, tuple[str, str]]:
    """Field → (what Canopy recorded, what the provider reports), where they differ."""
    found: dict[str, tuple[str, str]] = {}
    reported = obj.attributes
    if resource.kind == "server":
        power = POWER_STATES.get(obj.state)
        if power is not None and power != resource.state:
            found[DriftField.POWER] = (resource.state, power)
        size, recorded_size = str(reported.get("size") or ""), str(resource.size)
        if size and size != recorded_size:
            found[DriftField.SIZE] = (recorded_size, size)
    elif resource.kind == "volume" and reported.get("size_gb"):
        recorded_gb = int(float(resource.size_gb or 0))  # a number, or its text
        if int(reported["size_gb"]) != recorded_gb:
            found[DriftField.VOLUME_SIZE] = (str(recorded_gb), str(int(reported["size_gb"])))
    elif resource.kind == "load_balancer" and "members" in reported:
        recorded_members = _member_ids(resource.members)
        members = _member_ids(reported["members"])
        if members != recorded_members:
            found[DriftField.MEMBERS] = (recorded_members, members)
    elif resource.kind == "dns_record" and reported.get("address"):
        recorded_address = str(resource.address or "")
        if reported["address"] != recorded_address:
            found[DriftField.ADDRESS] = (recorded_address, str(reported["address"]))
    return found


def drift_policy_for(*, account: CloudAccount) -> str:
    """The account's drift action, else its organization's, else adopt."""
    policy = (
        DriftPolicy.objects.filter(organization_id=account.organization_id)
        .filter(Q(cloud_account=account) | Q(cloud_account__isnull=True))
        .order_by(F("cloud_account_id").asc(nulls_last=True))
        .first()
    )
    return policy.action if policy else DriftPolicy.Action.ADOPT


def reconcile_account(*, account_id: int) -> dict[str, int]:
    """Compare what Canopy recorded with what the provider reports (one listing), in bounded
    batches read without locks (only the columns compared, no model built per row); only a
    resource that differs is locked, re-read and handled in its own short transaction."""
    account = CloudAccount.objects.get(pk=account_id)
    listed_at = timezone.now()
    adapter = get_adapter(account)
    # No transaction is open during the calls. Servers: every one, also those never named by
    # Canopy (adopted ones keep their own names); the other kinds by Canopy's tag.
    servers = adapter.list_servers()
    tagged = adapter.list_tagged(kinds=[kind for kind in KINDS if kind != "server"])
    reported = {(obj.kind, obj.external_id): obj for obj in [*tagged, *servers]}
    action = drift_policy_for(account=account)
    counts = {"missing": 0, "drift": 0}
    compared = (
        Resource.objects.filter(
            cloud_account=account, kind__in=KINDS, state__in=[R.ACTIVE, R.STOPPED]
        )
        .filter(state_changed_at__lt=listed_at)  # changed since the listing: not comparable
        .exclude(external_id="")
        .order_by("pk")
        .annotate(**COMPARED)
        .values_list(*Recorded._fields)
    )
    # Few drifts are open at a time: read once, by resource.
    open_drifts: dict[int, list[tuple[int, str]]] = {}
    for pk, resource_id, field in Drift.objects.filter(
        resource__cloud_account=account, resolved_at__isnull=True
    ).values_list("pk", "resource_id", "field"):
        open_drifts.setdefault(resource_id, []).append((pk, field))
    after = 0
    while batch := [Recorded(*row) for row in compared.filter(pk__gt=after)[:RECONCILE_BATCH]]:
        after = batch[-1].pk
        differing, agreeing = [], []
        for resource in batch:
            obj = reported.get((resource.kind, resource.external_id))
            found = _differences(resource, obj) if obj is not None else {}
            if obj is None or found:
                differing.append((resource.pk, obj))
            if obj is not None:  # open drifts of fields that agree again (restored, or by hand)
                agreeing += [pk for pk, f in open_drifts.get(resource.pk, ()) if f not in found]
        if agreeing:
            Drift.objects.filter(pk__in=agreeing, resolved_at__isnull=True).update(
                resolved_at=listed_at, outcome=Drift.Outcome.RESTORED
            )
        for resource_id, obj in differing:
            outcome = _reconcile_resource(resource_id, obj, listed_at, action)
            if outcome:
                counts[outcome] += 1
    counts["unknown"] = _reconcile_record(account, list(reported.values()))
    return counts


def _restore(resource: Resource, field: str) -> bool:
    """Ask for the step that puts the field back; False when Canopy cannot (sizes: resizing
    back needs the server stopped, a person decides; DNS: no update action)."""
    if field == DriftField.POWER:
        action = A.START if resource.state == R.STOPPED else A.STOP
        resource_action_request(
            user=None, resource_id=resource.pk, action=action, reason="restored after drift"
        )
        return True
    if field == DriftField.MEMBERS:
        resource_transition(resource, resource.begin_update, message="restoring its members")
        members = resource.attributes.get("members", [])  # as Canopy last set them
        enqueue(
            [
                Step.objects.create(
                    resource=resource, action=A.SET_MEMBERS, params={"members": members}
                )
            ]
        )
        return True
    return False


def _adopt(resource: Resource, field: str, reported: str, obj: CloudObject, at: datetime) -> None:
    """Record the provider's state as Canopy's; a billable change gets its event, so metering
    follows the provider from the hour it was seen."""
    if field == DriftField.POWER:
        stopped = reported == R.STOPPED
        transition = resource.observe_stopped if stopped else resource.observe_running
        message = f"{'stopped' if stopped else 'started'} at the provider outside Canopy"
        resource_transition(resource, transition, message=message)
        kind = ResourceEvent.Kind.STOPPED if stopped else ResourceEvent.Kind.STARTED
    elif field in (DriftField.SIZE, DriftField.VOLUME_SIZE):
        resource.properties[field] = int(reported) if field == DriftField.VOLUME_SIZE else reported
        resource.save(update_fields=["properties"])
        kind = ResourceEvent.Kind.RESIZED
    else:  # members, address: what the provider reported last
        resource.attributes[field] = obj.attributes[field]
        resource.save(update_fields=["attributes"])
        return
    event = resource_event(resource, kind)
    event.at = at
    event.save()


@transaction.atomic
def _reconcile_resource(
    resource_id: int, obj: CloudObject | None, listed_at: datetime, action: str
) -> str:
    """Handle one resource that differed: gone at the provider ("missing"), or drifted
    ("drift"); "" when it changed since the listing (the next run compares it again)."""
    resource = Resource.objects.select_for_update().get(pk=resource_id)
    if resource.state not in (R.ACTIVE, R.STOPPED) or resource.state_changed_at >= listed_at:
        return ""
    if obj is None:
        resource_transition(
            resource, resource.mark_missing, message="deleted at the provider outside Canopy"
        )
        resource_event(resource, ResourceEvent.Kind.DELETED).save()  # gone: billing stops
        return "missing"
    open_drifts = {
        d.field: d for d in Drift.objects.filter(resource=resource, resolved_at__isnull=True)
    }
    found = 0
    for field, (recorded, reported) in _differences(Recorded.of(resource), obj).items():
        previous = open_drifts.get(field)
        if previous is not None:
            if previous.reported == reported:
                continue  # already reported, or being restored
            previous.resolved_at = listed_at  # superseded by what the provider reports now
            previous.save(update_fields=["resolved_at"])
        adopting = action == DriftPolicy.Action.ADOPT or resource.observe_only
        if adopting or field in BILLED_FIELDS:
            _adopt(resource, field, reported, obj, listed_at)
        if not adopting and _restore(resource, field):
            outcome = Drift.Outcome.RESTORING
        elif adopting or field in BILLED_FIELDS:
            outcome = Drift.Outcome.ADOPTED
        else:
            outcome = Drift.Outcome.REPORTED
        Drift.objects.create(
            resource=resource,
            field=field,
            recorded=recorded,
            reported=reported,
            outcome=outcome,
            detected_at=listed_at,
            resolved_at=listed_at if outcome == Drift.Outcome.ADOPTED else None,
        )
        label = Drift.Field(field).label
        audit_record(
            action="resource.drift",
            target=resource,
            message=f"{label}: Canopy recorded {recorded or 'nothing'}, the provider reports "
            f"{reported or 'nothing'} ({Drift.Outcome(outcome).label.lower()})",
            order_id=resource.order_id,
        )
        found += 1
    return "drift" if found else ""


def _launched_at(obj: CloudObject) -> datetime | None:
    try:
        return datetime.fromisoformat(str(obj.attributes.get("launched_at") or ""))
    except ValueError:
        return None


@transaction.atomic
def _reconcile_record(account: CloudAccount, reported: list[CloudObject]) -> int:
    """Report the objects no resource accounts for (Canopy-named leftovers, and servers launched
    outside Canopy, which may be adopted); returns their number."""
    known = set(
        Resource.objects.filter(cloud_account=account)
        .exclude(state=R.DELETED)
        .values_list("kind", "external_id")
    )
    # An object named after a resource still being created is in flight, not unknown.
    in_flight = {
        resource.canopy_tag
        for resource in Resource.objects.filter(
            cloud_account=account, state__in=[R.PLANNED, R.PROVISIONING, R.DELETING]
        ).only("pk")
    }
    now = timezone.now()
    unknown = [
        o for o in reported if (o.kind, o.external_id) not in known and o.name not in in_flight
    ]
    for obj in unknown:
        _, created = UnknownObject.objects.update_or_create(
            account=account,
            kind=obj.kind,
            external_id=obj.external_id,
            defaults={
                "name": obj.name,
                "state": obj.state,
                "size": str(obj.attributes.get("size") or ""),
                "tags": obj.attributes.get("tags") or {},
                "launched_at": _launched_at(obj),
                "last_seen": now,
            },
        )
        if created:
            audit_record(
                action="provider.unknown_object",
                target=account,
                message=f"{obj.kind} {obj.external_id} named {obj.name} is not a Canopy resource",
            )
    UnknownObject.objects.filter(account=account).exclude(
        external_id__in=[o.external_id for o in unknown]
    ).delete()
    return len(unknown)


def unknown_server_adopt(
    *, unknown: UnknownObject, order: Order, observe_only: bool, user: AbstractUser
) -> Resource:
    """Make a server launched outside Canopy a resource of the order's project, as the provider
    last reported it; billed from now on (a created event, and a stopped one if it is off).
    Called inside the adopting transaction, with `unknown` locked."""
    if unknown.kind != "server":
        raise ValidationError(
            {"objects": [f"Only servers are adopted; {unknown.name} is a {unknown.kind}."]}
        )
    if unknown.name.startswith(TAG_PREFIX):
        raise ValidationError({"objects": [f"{unknown.name} is a leftover of Canopy: delete it."]})
    state = POWER_STATES.get(unknown.state)
    if state is None:
        raise ValidationError(
            {
                "objects": [
                    f"{unknown.name} is {unknown.state}: adopt it once it runs or is stopped."
                ]
            }
        )
    resource = Resource.objects.create(
        order=order,
        project=order.project,
        cloud_account=unknown.account,
        key="adopted",
        kind="server",
        name=unknown.name,
        properties={"size": unknown.size, "tags": unknown.tags},
        state=state,
        external_id=unknown.external_id,
        observe_only=observe_only,
        status_message="adopted" + (" to be observed only" if observe_only else ""),
    )
    events = [resource_event(resource, ResourceEvent.Kind.CREATED)]
    if state == R.STOPPED:
        events.append(resource_event(resource, ResourceEvent.Kind.STOPPED))
    ResourceEvent.objects.bulk_create(events)
    audit_record(
        action="resource.adopted",
        target=resource,
        actor=user,
        message=f"{unknown.external_id} at {unknown.account.name} into {order.project.name}"
        + (", observe only" if observe_only else ""),
        order_id=order.pk,
    )
    unknown.delete()
    return resource


def reconcile_accounts() -> dict[str, int]:
    totals = {"missing": 0, "drift": 0, "unknown": 0, "unreachable": 0}
    for account_id in CloudAccount.objects.values_list("pk", flat=True):
        try:
            counts = reconcile_account(account_id=account_id)
        except ProviderError:
            totals["unreachable"] += 1  # the next run tries again
            continue
        for name, count in counts.items():
            totals[name] += count
    return totals
