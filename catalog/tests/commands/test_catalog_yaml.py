"""catalog_load and catalog_dump: the catalog as YAML, loaded idempotently, dumped and loaded back,
a broken file refused with every error named and nothing changed."""

import io

import pytest
import yaml
from django.core.management import CommandError, call_command

from catalog.models import CatalogItem, Category
from catalog.selectors.menu import catalog_export
from catalog.services import DEFAULT_CATALOG
from catalog.tests.helpers import DEFAULT


def _load(path) -> str:
    out = io.StringIO()
    call_command("catalog_load", str(path), stdout=out)
    return out.getvalue()


def test_catalog_load_is_idempotent(world):
    before = catalog_export()
    assert "8 items" in _load(DEFAULT_CATALOG)
    assert catalog_export() == before
    assert CatalogItem.objects.count() == len(DEFAULT["items"])
    assert Category.objects.count() == len(DEFAULT["categories"])
    assert [
        p.slug for p in CatalogItem.objects.get(slug="autoscaling-web-tier").projects.all()
    ] == ["web-shop"]


def test_dump_then_load_restores_the_same_rows(world, tmp_path):
    dumped = tmp_path / "catalog.yaml"
    call_command("catalog_dump", "-o", str(dumped))
    before = catalog_export()
    # Someone edits the catalog in the admin…
    item = CatalogItem.objects.get(slug="web-tier")
    item.name, item.resources = "Changed", [{"key": "x"}]
    item.save()
    item.organizations.add(world["web_shop"].organization)
    CatalogItem.objects.get(slug="autoscaling-web-tier").projects.clear()
    # …and the file kept in git puts it back.
    _load(dumped)
    assert catalog_export() == before


def test_bad_yaml_is_refused_with_clear_errors_and_nothing_changes(world, tmp_path):
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
