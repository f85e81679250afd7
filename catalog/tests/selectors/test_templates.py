"""Catalog templates: the default catalog's are valid; an item's resources are resolved from its
parameters (binding, counts, depends_on); a broken template's every problem is named."""

from catalog import templating
from catalog.models import CatalogItem
from catalog.selectors.menu import resolve_resources
from catalog.tests.helpers import DEFAULT


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
