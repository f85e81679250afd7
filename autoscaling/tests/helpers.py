"""Autoscaling's test helpers: a group's running servers and its load balancer's members (the
two must agree whenever no saga runs)."""

from provisioning.models import Resource, SandboxObject


def active_servers(group: Resource) -> set[str]:
    return set(group.children.filter(state="active").values_list("external_id", flat=True))


def balancer_members(group: Resource) -> set[str]:
    balancer = group.order.resources.get(kind="load_balancer")
    cloud = SandboxObject.objects.get(external_id=balancer.external_id)
    return {member["id"] for member in cloud.attributes["members"]}
