"""Values as people read them (templates: `{% load labels %}` then `{{ value|human }}`).

"pending_approval" → "pending approval", ["a", "b"] → "a, b", timedelta(days=1) → "1 day",
None → "—", True → "yes". Templates use it for states, parameters and attributes, so no
field name, Python list or `None` reaches a page.
"""

import re
from datetime import timedelta
from typing import Any

EMPTY = "—"
CODE_NAME = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'}"


def duration(value: timedelta) -> str:
    """Whole days, hours, minutes and seconds, the zero parts left out ("1 day 2 hours")."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0 minutes"
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(_plural(count, unit))
    return " ".join(parts)


def human(value: Any) -> str:
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, timedelta):
        return duration(value)
    if isinstance(value, list | tuple | set):
        return ", ".join(human(item) for item in value) or EMPTY
    if isinstance(value, dict):
        return ", ".join(f"{human(key)} {human(item)}" for key, item in value.items()) or EMPTY
    if isinstance(value, str):
        if CODE_NAME.match(value):  # "order.status", "approval.stage_decided"
            value = value.replace(".", " ")
        return value.replace("_", " ")
    return str(value)


def field_label(value: Any) -> str:
    """A field, property or attribute name as a label ("ssh_key" → "SSH key", not "Ssh_key")."""
    return FIELD_LABELS.get(str(value), str(value).replace("_", " ").capitalize())


# Property and attribute names of resources, as labels.
FIELD_LABELS = {
    "ssh_key": "SSH key",
    "size_gb": "Size (GB)",
    "storage_gb": "Storage (GB)",
    "db_name": "Database name",
    "cidr": "Address range (CIDR)",
    "network": "Network",
    "network_id": "Network",
    "fqdn": "Host name",
    "dns": "DNS name",
    "ip": "IP address",
    "user_data": "Bootstrap script",
    "attach_to": "Attached to",
    "min": "Minimum",
    "max": "Maximum",
    "desired": "Desired servers",
    "snapshots": "Snapshots",
    "host": "Host",
    "port": "Port",
    "engine": "Engine",
    "protocol": "Protocol",
    "members": "Members",
    "zone": "DNS zone",
    "record": "Host name",
    "target": "Points at",
    "type": "Record type",
    "size": "Size",
    "image": "Image",
    "location": "Location",
    "address": "Address",
    "user": "User",
}
