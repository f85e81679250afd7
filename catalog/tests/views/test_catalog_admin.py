"""The admin's catalog item form refuses a broken template and accepts a sound one."""

from catalog.admin import CatalogItemForm
from catalog.models import Category


def test_the_admin_refuses_a_broken_template(world):
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
