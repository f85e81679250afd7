"""An item's lease days (default and maximum) are checked alike by the model, the admin's form
and catalog_load."""

import json

import pytest
import yaml
from django.core.exceptions import ValidationError

from catalog.admin import CatalogItemForm
from catalog.models import LEASE_DAYS_MESSAGE, CatalogItem
from catalog.selectors.menu import catalog_export
from catalog.services import DEFAULT_CATALOG, catalog_load

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
    world, lease, field, message
):
    item = world["linux_vm"]
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
def test_sensible_lease_days_are_accepted_everywhere(world, lease):
    item = world["linux_vm"]
    item.lease_default_days, item.lease_max_days = lease
    item.full_clean()
    form = _admin_form(CatalogItem.objects.get(pk=item.pk), *lease)
    assert form.is_valid(), form.errors
    _load_leases(*lease)
    loaded = CatalogItem.objects.get(pk=item.pk)
    assert (loaded.lease_default_days, loaded.lease_max_days) == lease


def test_catalog_load_refuses_lease_days_that_are_not_whole_numbers(world):
    for default in ("30", 1.5, True):
        with pytest.raises(ValidationError) as error:
            _load_leases(default, None)
        assert error.value.messages == [
            f"items[0] (linux-vm): lease_default_days: {LEASE_DAYS_MESSAGE}"
        ]
