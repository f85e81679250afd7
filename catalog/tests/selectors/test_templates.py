"""Catalog templates (binding, counts, depends_on) and the catalog as YAML (load, dump)."""

import io
import json

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from catalog import templating
from catalog.admin import CatalogItemForm
from catalog.models import LEASE_DAYS_MESSAGE, CatalogItem, Category
from catalog.selectors.menu import catalog_export, resolve_resources
from catalog.services import DEFAULT_CATALOG, catalog_load

DEFAULT = yaml.safe_load(DEFAULT_CATALOG.read_text())


def _item(slug: str) -> CatalogItem:
    entry = next(item for item in DEFAULT["items"] if item["slug"] == slug)
    return CatalogItem(slug=slug, parameters=entry["parameters"], resources=entry["resources"])


def _by_key(specs: list[dict]) -> dict[str, dict]:
    return {spec["key"]: spec for spec in specs}


def test_default_catalog_has_the_issue_slugs_and_every_template_is_valid():
    slugs = {item["slug"] for item in DEFAULT["items"]}
    assert slugs >= {
        "linux-vm",
        "windows-vm",
        "block-volume",
        "private-network",
        "dns-record",
        "postgresql-db",
        "web-tier",
        "autoscaling-web-tier",
    }
    for item in DEFAULT["items"]:
        assert templating.template_errors(item["resources"], item["parameters"]) == [], item["slug"]


def test_web_tier_binds_counts_and_dependencies():
    specs = resolve_resources(
        item=_item("web-tier"),
        parameters={"name": "shop", "instances": 3, "size": "medium", "location": "sandbox-1a"},
    )
    assert [s["key"] for s in specs] == ["net", "web", "data", "lb", "dns"]
    by_key = _by_key(specs)
    web = by_key["web"]
    assert (web["kind"], web["name"], web["count"]) == ("server", "shop-web", 3)
    assert web["properties"]["size"] == "medium"
    assert web["properties"]["image"] == "ubuntu-24.04"  # the schema's default
    assert web["properties"]["network"] == "net"
    # One volume per web server; the integer default stays an integer.
    assert by_key["data"]["count"] == 3 and by_key["data"]["properties"]["size_gb"] == 10
    assert {key: spec["depends_on"] for key, spec in by_key.items()} == {
        "net": [],
        "web": ["net"],
        "data": ["web"],
        "lb": ["web"],
        "dns": ["lb"],
    }
    dns = by_key["dns"]
    assert dns["name"] == "shop.apps.example.com"
    # No type: the saga makes it a CNAME or an A record from what the target's address is.
    assert dns["properties"] == {"zone": "apps.example.com", "record": "shop", "target": "lb"}
    assert all(
        set(spec) == {"key", "kind", "name", "count", "depends_on", "properties"} for spec in specs
    )


def test_autoscaling_group_desired_comes_from_the_instances_parameter():
    specs = _by_key(
        resolve_resources(
            item=_item("autoscaling-web-tier"),
            parameters={"name": "shop", "instances": 4, "size": "small"},
        )
    )
    group = specs["group"]
    assert (group["count"], group["properties"]["desired"]) == (1, 4)
    assert (group["properties"]["min"], group["properties"]["max"]) == (1, 6)
    assert specs["lb"]["depends_on"] == ["group"]


def test_linux_vm_leaves_an_omitted_optional_value_empty():
    [vm] = resolve_resources(item=_item("linux-vm"), parameters={"name": "web-1", "size": "small"})
    assert vm["name"] == "web-1" and vm["count"] == 1 and vm["depends_on"] == []
    assert vm["properties"]["ssh_key"] is None


def test_count_from_an_integer_parameter_and_explicit_depends_on():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    template = [
        {"key": "net", "kind": "network", "properties": {"cidr": "10.0.0.0/24"}},
        {
            "key": "vm",
            "kind": "server",
            "count": "{n}",
            "depends_on": ["net"],
            "properties": {"size": "s", "image": "i", "location": "l"},
        },
    ]
    assert templating.template_errors(template, schema) == []
    vm = _by_key(templating.resolve(template, {"n": 5}))["vm"]
    assert (vm["count"], vm["depends_on"]) == (5, ["net"])


def test_template_errors_name_every_problem():
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "size": {"type": "string", "x-options": "cpus"}},
    }
    template = [
        {"key": "net", "kind": "network", "properties": {"cidr": "10.0.0.0/24"}},
        {"key": "net", "kind": "network", "properties": {"cidr": "10.0.1.0/24"}},
        {"key": "vm", "kind": "server", "count": "{name}", "properties": {"size": "{sise}"}},
        {
            "key": "lb",
            "kind": "load_balancer",
            "properties": {"protocol": "http", "port": 80, "members": "net"},
        },
        {"key": "x", "kind": "teapot"},
        {"key": "db", "kind": "database", "properties": {"engine": "oracle"}},
    ]
    errors = "\n".join(templating.template_errors(template, schema))
    assert "parameters.size: x-options must be one of locations, sizes, images" in errors
    assert "resources[1]: duplicate key 'net'" in errors
    assert "resources[2] (vm): missing properties image, location" in errors
    assert "resources[2] (vm): {sise} is not a declared parameter" in errors
    assert "resources[2] (vm): count must be an integer >= 1 or an integer parameter" in errors
    assert "resources[3]: members must name the key of a autoscaling_group or server spec" in errors
    assert "resources[4] (x): kind must be one of" in errors
    assert "resources[5] (db): engine must be one of mysql, postgresql" in errors
    assert templating.template_errors([], {"type": "nope"})[0].startswith("parameters: not a valid")
    # Malformed values are reported, never a crash.
    odd = [{"key": "a", "kind": ["server"], "depends_on": "b"}, {"key": "b", "kind": "volume"}]
    assert templating.template_errors(odd, {"type": "object", "properties": {"n": True}}) == [
        "parameters.n: must be a mapping with a type",
        "resources[0] (a): kind must be one of server, volume, network, load_balancer, "
        "dns_record, database, autoscaling_group",
        "resources[1] (b): missing properties attach_to, size_gb",
    ]


# --- catalog_load / catalog_dump ------------------------------------------------------------


def _load(path) -> str:
    out = io.StringIO()
    call_command("catalog_load", str(path), stdout=out)
    return out.getvalue()


def test_catalog_load_is_idempotent(demo):
    before = catalog_export()
    assert "8 items" in _load(DEFAULT_CATALOG)
    assert catalog_export() == before
    assert CatalogItem.objects.count() == len(DEFAULT["items"])
    assert Category.objects.count() == len(DEFAULT["categories"])
    assert [
        p.slug for p in CatalogItem.objects.get(slug="autoscaling-web-tier").projects.all()
    ] == ["web-shop"]


def test_dump_then_load_restores_the_same_rows(demo, tmp_path):
    dumped = tmp_path / "catalog.yaml"
    call_command("catalog_dump", "-o", str(dumped))
    before = catalog_export()
    # Someone edits the catalog in the admin…
    item = CatalogItem.objects.get(slug="web-tier")
    item.name, item.resources = "Changed", [{"key": "x"}]
    item.save()
    item.organizations.add(demo["web_shop"].organization)
    CatalogItem.objects.get(slug="autoscaling-web-tier").projects.clear()
    # …and the file kept in git puts it back.
    _load(dumped)
    assert catalog_export() == before


def test_bad_yaml_is_refused_with_clear_errors_and_nothing_changes(demo, tmp_path):
    before = catalog_export()
    broken = tmp_path / "broken.yaml"
    broken.write_text("items: [\n  - slug: x\n")
    with pytest.raises(CommandError, match="not valid YAML"):
        _load(broken)

    document = yaml.safe_load(DEFAULT_CATALOG.read_text())
    document["items"][0]["name"] = "Renamed before the errors"  # must not be written
    document["items"][1]["category"] = "nope"
    document["items"][2]["resources"][1]["properties"]["attach_to"] = "missing"
    document["items"][3]["entitlements"] = {"projects": ["acme/nowhere"], "organizations": ["x"]}
    del document["items"][4]["parameters"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(document))
    with pytest.raises(CommandError) as error:
        _load(bad)
    message = str(error.value)
    assert "items[1] (windows-vm): unknown category 'nope'" in message
    assert (
        "items[2] (block-volume): resources[1]: attach_to must name the key of a server" in message
    )
    assert "items[3] (private-network): entitlements: unknown project 'acme/nowhere'" in message
    assert "items[3] (private-network): entitlements: unknown organization 'x'" in message
    assert "items[4] (dns-record): missing parameters" in message
    assert catalog_export() == before

    missing = tmp_path / "missing.yaml"
    with pytest.raises(CommandError, match="No such file"):
        _load(missing)


def test_the_admin_refuses_a_broken_template(demo):
    data = {
        "slug": "broken",
        "name": "Broken",
        "category": Category.objects.get(slug="compute").pk,
        "is_active": True,
        "parameters": '{"type": "object", "properties": {"n": {"type": "integer"}}}',
        "resources": '[{"key": "vm", "kind": "server", "properties": {"size": "{m}"}}]',
    }
    form = CatalogItemForm(data=data)
    assert not form.is_valid()
    assert "resources[0] (vm): {m} is not a declared parameter" in form.non_field_errors()
    data["resources"] = (
        '[{"key": "vm", "kind": "server", "count": "{n}",'
        ' "properties": {"size": "s", "image": "i", "location": "l"}}]'
    )
    form = CatalogItemForm(data=data)
    assert form.is_valid(), form.errors
    assert form.save().parameters["x-order"] == ["n"]


# --- lease days -----------------------------------------------------------------------------

BAD_LEASES = [
    # (default, maximum) → the field blamed and what its message says
    ((0, None), "lease_default_days", LEASE_DAYS_MESSAGE),
    ((-3, 10), "lease_default_days", LEASE_DAYS_MESSAGE),
    ((30, 0), "lease_max_days", LEASE_DAYS_MESSAGE),
    (
        (31, 30),
        "lease_max_days",
        "The maximum (30 days) is shorter than the default lease (31 days).",
    ),
    ((None, 30), "lease_default_days", "Set a default lease: a maximum alone leases nothing."),
]
GOOD_LEASES = [(None, None), (30, None), (1, 1), (30, 90)]


def _admin_form(item: CatalogItem, default, maximum) -> CatalogItemForm:
    data = {
        "slug": item.slug,
        "name": item.name,
        "category": item.category_id,
        "is_active": True,
        "parameters": json.dumps(item.parameters),
        "resources": json.dumps(item.resources),
        "lease_default_days": "" if default is None else default,
        "lease_max_days": "" if maximum is None else maximum,
    }
    return CatalogItemForm(data=data, instance=item)


def _load_leases(default, maximum) -> None:
    document = yaml.safe_load(DEFAULT_CATALOG.read_text())
    document["items"][0].update(lease_default_days=default, lease_max_days=maximum)
    catalog_load(document=document)


@pytest.mark.parametrize(("lease", "field", "message"), BAD_LEASES)
def test_bad_lease_days_are_refused_by_the_model_the_admin_and_catalog_load(
    demo, lease, field, message
):
    item = demo["linux_vm"]
    before = catalog_export()

    item.lease_default_days, item.lease_max_days = lease
    with pytest.raises(ValidationError) as error:
        item.full_clean()
    assert error.value.message_dict == {field: [message]}

    form = _admin_form(CatalogItem.objects.get(pk=item.pk), *lease)
    assert not form.is_valid()
    assert form.errors == {field: [message]}

    with pytest.raises(ValidationError) as error:
        _load_leases(*lease)
    assert error.value.messages == [f"items[0] ({item.slug}): {field}: {message}"]
    assert catalog_export() == before


@pytest.mark.parametrize("lease", GOOD_LEASES)
def test_sensible_lease_days_are_accepted_everywhere(demo, lease):
    item = demo["linux_vm"]
    item.lease_default_days, item.lease_max_days = lease
    item.full_clean()
    form = _admin_form(CatalogItem.objects.get(pk=item.pk), *lease)
    assert form.is_valid(), form.errors
    _load_leases(*lease)
    loaded = CatalogItem.objects.get(pk=item.pk)
    assert (loaded.lease_default_days, loaded.lease_max_days) == lease


def test_catalog_load_refuses_lease_days_that_are_not_whole_numbers(demo):
    for default in ("30", 1.5, True):
        with pytest.raises(ValidationError) as error:
            _load_leases(default, None)
        assert error.value.messages == [
            f"items[0] (linux-vm): lease_default_days: {LEASE_DAYS_MESSAGE}"
        ]
