"""Catalog item templates: what a resource spec may contain, how it is checked, how it is bound.

A template is a list of specs `{"key", "kind", "name", "count", "properties", "depends_on"}`.
Strings are bound to the order's parameters: a whole-string "{param}" takes the parameter's value
as it is (so a count or a port stays an integer), and "{name}-web" interpolates. A reference
property (`network`, `attach_to`, `members`, `target`) holds another spec's key; the resolved spec
lists it in `depends_on`, so the saga can order its steps.
"""

import re
from dataclasses import dataclass, field
from typing import Any

import jsonschema


@dataclass(frozen=True)
class KindSpec:
    """The properties a resource kind needs, may have, and which of them name other specs."""

    required: frozenset[str]
    optional: frozenset[str] = frozenset()
    # property → kinds of the spec it may name
    references: dict[str, frozenset[str]] = field(default_factory=dict)
    # property → its allowed values (checked when the template gives a literal)
    choices: dict[str, frozenset[str]] = field(default_factory=dict)


KINDS: dict[str, KindSpec] = {
    "server": KindSpec(
        required=frozenset({"size", "image", "location"}),
        optional=frozenset({"ssh_key", "user_data", "network"}),
        references={"network": frozenset({"network"})},
    ),
    "volume": KindSpec(
        required=frozenset({"size_gb", "attach_to"}),
        references={"attach_to": frozenset({"server"})},
    ),
    "network": KindSpec(required=frozenset({"cidr"}), optional=frozenset({"location"})),
    "load_balancer": KindSpec(
        required=frozenset({"protocol", "port", "members"}),
        references={"members": frozenset({"server", "autoscaling_group"})},
        choices={"protocol": frozenset({"http", "https", "tcp"})},
    ),
    # The record's type follows its target's address (A for an IP, CNAME for a host name);
    # an older template's `type` is accepted and overridden.
    "dns_record": KindSpec(
        required=frozenset({"zone", "record", "target"}),
        optional=frozenset({"type"}),
        references={"target": frozenset({"load_balancer", "server"})},
        choices={"type": frozenset({"A", "CNAME"})},
    ),
    "database": KindSpec(
        required=frozenset({"engine", "size", "image", "db_name", "storage_gb"}),
        optional=frozenset({"location", "network"}),
        references={"network": frozenset({"network"})},
        choices={"engine": frozenset({"postgresql", "mysql"})},
    ),
    "autoscaling_group": KindSpec(
        required=frozenset({"size", "image", "min", "max", "desired"}),
        optional=frozenset({"location", "network"}),
        references={"network": frozenset({"network"})},
    ),
}

# Parameters whose choices come from the chosen cloud account, not from the schema:
# `"x-options": "sizes"` in a parameter's JSON Schema (see provisioning's cloud_account_options).
OPTION_SOURCES = ("locations", "sizes", "images")
# `"x-os": "linux"` on an image parameter keeps the images of that operating system family.
OS_FAMILIES = ("linux", "windows")


def os_family(image_id: str, image_label: str) -> str:
    """The operating system family of a provider's image, from its id and name (providers do
    not report it: "windows-2022", "Windows Server 2022", an AMI named "Windows_Server-…")."""
    return "windows" if "windows" in f"{image_id} {image_label}".lower() else "linux"


def pattern_message(spec: dict) -> str:
    """What a value that does not match a parameter's `pattern` is told: the rule in words
    (`x-rule`), else the pattern itself, never a bare "Enter a valid value"."""
    rule = spec.get("x-rule")
    if rule:
        return f"Use {rule}."
    return f"Must match the pattern {spec.get('pattern')}."


_WHOLE = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


def bind(value: Any, parameters: dict) -> Any:
    """Bind "{param}" placeholders in a template value (recursively in lists and dicts)."""
    if isinstance(value, str):
        whole = _WHOLE.match(value)
        if whole:
            return parameters.get(whole.group(1))
        return _PLACEHOLDER.sub(lambda m: str(parameters.get(m.group(1), "")), value)
    if isinstance(value, list):
        return [bind(v, parameters) for v in value]
    if isinstance(value, dict):
        return {k: bind(v, parameters) for k, v in value.items()}
    return value


def parameter_names(schema: dict) -> list[str]:
    """The parameters in form order: `x-order` (PostgreSQL's jsonb keeps no key order; the
    catalog loader records the file's order there), then any others."""
    names = list((schema or {}).get("properties", {}))
    ordered = [name for name in (schema or {}).get("x-order", []) if name in names]
    return ordered + [name for name in names if name not in ordered]


def with_parameter_order(schema: dict) -> dict:
    """The schema with `x-order` set from its properties' order when it has none."""
    if "x-order" in schema or not isinstance(schema.get("properties"), dict):
        return schema
    return {**schema, "x-order": list(schema["properties"])}


def parameter_defaults(schema: dict) -> dict:
    """The `default` of every parameter that declares one."""
    return {
        name: spec["default"]
        for name, spec in (schema or {}).get("properties", {}).items()
        if "default" in spec
    }


def resolve(template: list[dict], parameters: dict) -> list[dict]:
    """Bind a (valid) template to parameters: contract-1 specs with counts and depends_on."""
    specs = []
    for entry in template:
        kind = KINDS[entry["kind"]]
        properties = bind(entry.get("properties", {}), parameters)
        references = [properties[p] for p in kind.references if properties.get(p)]
        specs.append(
            {
                "key": entry["key"],
                "kind": entry["kind"],
                "name": str(bind(entry.get("name", entry["key"]), parameters) or entry["key"]),
                "count": _count(bind(entry.get("count", 1), parameters)),
                "depends_on": list(dict.fromkeys([*entry.get("depends_on", []), *references])),
                "properties": properties,
            }
        )
    counts = {spec["key"]: spec["count"] for spec in specs}
    for spec in specs:
        if spec["kind"] == "volume":  # one volume per server of the spec it attaches to
            spec["count"] = counts.get(spec["properties"].get("attach_to"), 1)
    return specs


def copy_names(spec: dict) -> list[str]:
    """The names of a resolved spec's copies: its name, or name-1, name-2… when it has several."""
    count = max(int(spec.get("count", 1)), 1)
    return [spec["name"]] if count == 1 else [f"{spec['name']}-{i + 1}" for i in range(count)]


def _count(value: Any) -> int:
    try:
        return max(int(value), 1)
    except (TypeError, ValueError):
        return 1  # a quote on an incomplete form: the schema check rejects it at submit


def template_errors(template: Any, schema: Any) -> list[str]:
    """Everything wrong with an item's parameter schema and resource template, readably."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        return [f"parameters: not a valid JSON Schema: {error.message}"]
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return ['parameters: the schema must be {"type": "object", "properties": …}']
    declared = schema.get("properties", {})
    errors = (
        [
            f"parameters.{name}: must be a mapping with a type"
            for name, spec in declared.items()
            if not isinstance(spec, dict)
        ]
        + [
            f"parameters.{name}: x-options must be one of {', '.join(OPTION_SOURCES)}"
            for name, spec in declared.items()
            if isinstance(spec, dict) and spec.get("x-options", "sizes") not in OPTION_SOURCES
        ]
        + [
            f"parameters.{name}: x-os must be one of {', '.join(OS_FAMILIES)}"
            for name, spec in declared.items()
            if isinstance(spec, dict) and spec.get("x-os", "linux") not in OS_FAMILIES
        ]
    )
    if not isinstance(template, list) or not template:
        return [*errors, "resources: a non-empty list of resource specs is required"]
    kinds_by_key: dict[str, str] = {}
    for index, entry in enumerate(template):
        where = f"resources[{index}]"
        if not isinstance(entry, dict):
            errors.append(f"{where}: must be a mapping")
            continue
        key = entry.get("key")
        if not isinstance(key, str) or not _KEY.match(key):
            errors.append(f"{where}: key must be a short lower-case identifier, got {key!r}")
        elif key in kinds_by_key:
            errors.append(f"{where}: duplicate key {key!r}")
        else:
            kinds_by_key[key] = entry["kind"] if _is_kind(entry.get("kind")) else ""
            where = f"resources[{index}] ({key})"
        if not _is_kind(entry.get("kind")):
            errors.append(f"{where}: kind must be one of {', '.join(KINDS)}")
            continue
        errors.extend(_spec_errors(where, entry, KINDS[entry["kind"]], declared))
    for index, entry in enumerate(template):
        if isinstance(entry, dict) and _is_kind(entry.get("kind")):
            errors.extend(_reference_errors(f"resources[{index}]", entry, kinds_by_key))
    return errors


def _spec_errors(where: str, entry: dict, kind: KindSpec, declared: dict) -> list[str]:
    errors = []
    unknown_keys = set(entry) - {"key", "kind", "name", "count", "properties", "depends_on"}
    if unknown_keys:
        errors.append(f"{where}: unknown fields {', '.join(sorted(unknown_keys))}")
    properties = entry.get("properties", {})
    if not isinstance(properties, dict):
        return [*errors, f"{where}: properties must be a mapping"]
    missing = kind.required - set(properties)
    if missing:
        errors.append(f"{where}: missing properties {', '.join(sorted(missing))}")
    unknown = set(properties) - kind.required - kind.optional
    if unknown:
        errors.append(f"{where}: unknown properties {', '.join(sorted(unknown))}")
    for prop, allowed in kind.choices.items():
        value = properties.get(prop)
        if isinstance(value, str) and not _PLACEHOLDER.search(value) and value not in allowed:
            errors.append(f"{where}: {prop} must be one of {', '.join(sorted(allowed))}")
    for name in sorted(set(_placeholders(entry)) - set(declared)):
        errors.append(f"{where}: {{{name}}} is not a declared parameter")
    count = entry.get("count", 1)
    whole = _WHOLE.match(count) if isinstance(count, str) else None
    count_spec = declared.get(whole.group(1)) if whole else None
    if not (type(count) is int and count >= 1) and not (
        isinstance(count_spec, dict) and count_spec.get("type") == "integer"
    ):
        errors.append(f"{where}: count must be an integer >= 1 or an integer parameter")
    return errors


def _reference_errors(where: str, entry: dict, kinds_by_key: dict[str, str]) -> list[str]:
    errors = []
    properties = entry.get("properties", {})
    if not isinstance(properties, dict):
        return errors
    for prop, allowed in KINDS[entry["kind"]].references.items():
        target = properties.get(prop)
        if target is not None and (
            not isinstance(target, str) or kinds_by_key.get(target) not in allowed
        ):
            errors.append(
                f"{where}: {prop} must name the key of a {' or '.join(sorted(allowed))} spec, "
                f"got {target!r}"
            )
    depends_on = entry.get("depends_on", [])
    if not isinstance(depends_on, list) or not all(isinstance(t, str) for t in depends_on):
        return [*errors, f"{where}: depends_on must be a list of keys"]
    for target in depends_on:
        if target not in kinds_by_key or target == entry.get("key"):
            errors.append(f"{where}: depends_on names unknown key {target!r}")
    return errors


def _is_kind(kind: Any) -> bool:
    return isinstance(kind, str) and kind in KINDS


def _placeholders(value: Any) -> list[str]:
    if isinstance(value, str):
        return _PLACEHOLDER.findall(value)
    if isinstance(value, list):
        return [name for v in value for name in _placeholders(v)]
    if isinstance(value, dict):
        return [name for v in value.values() for name in _placeholders(v)]
    return []
