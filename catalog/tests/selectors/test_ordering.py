"""The project or cloud account an order is for: the one chosen, or else the first offered."""

import pytest
from django.core.exceptions import ValidationError

from catalog.selectors.menu import cloud_accounts_for_item
from catalog.selectors.ordering import chosen_or_first

pytestmark = pytest.mark.django_db


def test_a_project_or_account_is_the_chosen_one_or_else_the_first(world, other_account):
    accounts = cloud_accounts_for_item(item=world["linux_vm"], project=world["web_shop"])
    first, second = accounts
    for nothing in (None, ""):
        assert chosen_or_first(accounts, chosen=nothing, field="cloud_account") == first
    for chosen in (second.pk, str(second.pk)):  # from a JSON body or a query string
        assert chosen_or_first(accounts, chosen=chosen, field="cloud_account") == second
    assert chosen_or_first([], chosen=None, field="cloud_account") is None
    with pytest.raises(ValidationError) as error:
        chosen_or_first(accounts, chosen="0", field="cloud_account")
    offered = f"{first.pk} ({first.name}), {second.pk} ({second.name})"
    assert error.value.message_dict == {"cloud_account": [f"Choose one of: {offered}."]}
