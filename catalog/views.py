"""Browser pages for the catalog and orders. Reads go through selectors, writes through services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

import provisioning.selectors as provisioning_selectors
from catalog.filtersets import OrderFilterSet
from catalog.forms import OrderForm
from catalog.models import ChangeAction
from catalog.orders import order_cancel
from catalog.selectors.menu import (
    catalog_categories,
    catalog_item_list,
    catalog_search,
    item_price_from,
    pricing_accounts,
)
from catalog.selectors.ordering import Estimate, order_estimate
from catalog.selectors.orders import order_list
from catalog.services import (
    ORDERED_ACTIONS,
    change_order_submit,
    change_plan,
    order_from_snapshot,
    order_submit,
    resource_action,
)
from core.forms import form_add_service_errors
from core.pagination import paginate
from core.selectors import audit_events_for_order, head_and_count
from provisioning.models import TRANSITIONAL_STATES
from provisioning.services.accounts import account_options_request


@login_required
def menu(request):
    """The menu by category; `?q=` searches names and descriptions, `?category=` narrows."""
    text = request.GET.get("q", "").strip()
    category = request.GET.get("category", "")
    categories: dict = {}
    accounts = pricing_accounts()
    items = catalog_search(user=request.user, text=text, category=category)
    for item in items.order_by("category__name", "name"):
        item.price_from = item_price_from(item=item, accounts=accounts)
        categories.setdefault(item.category, []).append(item)
    return render(
        request,
        "catalog/menu.html",
        {
            "categories": categories.items(),
            "all_categories": catalog_categories(user=request.user),
            "text": text,
            "category": category,
        },
    )


def _item(request, slug):
    return get_object_or_404(catalog_item_list(user=request.user), slug=slug)


@login_required
def item_order(request, slug):
    item = _item(request, slug)
    form = OrderForm(request.POST or None, item=item, user=request.user)
    if form.account is not None:
        account_options_request(account=form.account)
    if form.is_bound and form.is_valid():
        try:
            order = order_submit(
                user=request.user,
                item=item,
                project=form.cleaned_data["project"],
                parameters=form.parameters(),
            )
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, f"Order #{order.pk} submitted.")
            return redirect("catalog:order_detail", order_id=order.pk)
    return render(
        request,
        "catalog/item_order.html",
        {"item": item, "form": form, "show_errors": form.is_bound, **_estimate(form)},
    )


def _estimate(form: OrderForm) -> dict:
    """The live estimate of a bound form: what is invalid (and no price), or the price, the
    quota effect and why the order would be refused as it stands."""
    if not form.is_bound or form.account is None:
        return {"estimate": None}
    if not form.is_valid():
        return {
            "estimate": Estimate(
                errors=tuple(
                    f"{form.fields[name].label if name in form.fields else 'Order'}: {message}"
                    for name, messages in form.errors.items()
                    for message in messages
                )
            )
        }
    return {
        "estimate": order_estimate(
            user=form.user,
            item=form.item,
            project=form.cleaned_data["project"],
            parameters=form.parameters(),
        )
    }


@login_required
@require_POST
def item_estimate(request, slug):
    form = OrderForm(request.POST, item=_item(request, slug), user=request.user)
    return render(request, "catalog/_estimate.html", _estimate(form))


@login_required
@require_POST
def item_fields(request, slug):
    """The form's fields again after the project or the account changed: narrowed choices,
    no errors yet, and the estimate for the new choices (out of band)."""
    form = OrderForm(request.POST, item=_item(request, slug), user=request.user)
    return render(
        request, "catalog/_order_fields.html", {"form": form, "oob": True, **_estimate(form)}
    )


@login_required
def order_list_view(request):
    """The caller's orders, newest first, one page at a time, filtered as the API filters."""
    filters = OrderFilterSet(request.GET, queryset=order_list(user=request.user), request=request)
    page = paginate(request, filters.qs)
    return render(
        request,
        "catalog/order_list.html",
        {"page": page, "orders": page.object_list, "filters": filters},
        status=200 if filters.is_valid() else 400,
    )


def _live_context(request, order) -> dict:
    resources = list(order.resources.all())
    steps = provisioning_selectors.deployment_steps(order=order)
    live = not order.is_final or any(r.state in TRANSITIONAL_STATES for r in resources)
    return {
        "order": order,
        "condition": provisioning_selectors.order_condition(resources=resources),
        "resources": resources,
        "steps": steps,
        "live": live,
        "can_cancel": order.requester_id == request.user.pk and order.can_cancel,
        # The approval block and the audit trail are part of the live fragment too: its latest
        # events (a fleet's order has thousands), the rest a page at a time in the audit list.
        **_latest_events(order),
    }


ORDER_PAGE_EVENTS = 50


def _latest_events(order) -> dict:
    newest, total = head_and_count(
        audit_events_for_order(order_id=order.pk).order_by("-created_at", "-id"),
        ORDER_PAGE_EVENTS,
    )
    return {"events": newest[::-1], "events_total": total}


@login_required
def order_detail(request, order_id):
    order = get_object_or_404(order_list(user=request.user), pk=order_id)
    return render(request, "catalog/order_detail.html", _live_context(request, order))


@login_required
def order_live(request, order_id):
    order = get_object_or_404(order_list(user=request.user), pk=order_id)
    return render(request, "catalog/_order_live.html", _live_context(request, order))


@login_required
@require_POST
def order_cancel_view(request, order_id):
    order = get_object_or_404(order_list(user=request.user), pk=order_id)
    try:
        order_cancel(user=request.user, order_id=order.pk)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Order #{order.pk} cancelled.")
    return redirect("catalog:order_detail", order_id=order.pk)


CHANGE_PARAMETERS = ("size", "size_gb", "desired", "min", "max")


@login_required
@require_POST
def resource_change_view(request, resource_id):
    """The resource page's day-2 buttons. A change of cost or capacity (or a destroy) first
    shows what it costs a month, what it does to the quotas and who has to approve it; its
    "Confirm" orders it. Start, stop, reboot and snapshot run at once."""
    resource = get_object_or_404(
        provisioning_selectors.resource_list(user=request.user), pk=resource_id
    )
    action = request.POST.get("action", "")
    params = {k: request.POST[k] for k in CHANGE_PARAMETERS if request.POST.get(k)}
    back = redirect("provisioning:resource_detail", resource_id=resource.pk)
    try:
        if action in ORDERED_ACTIONS and not request.POST.get("confirm"):
            plan = change_plan(user=request.user, action=action, params=params, resource=resource)
            return render(
                request,
                "catalog/change_confirm.html",
                {"resource": resource, "plan": plan, "action": action, "params": params},
            )
        result = resource_action(
            user=request.user, resource_id=resource.pk, action=action, params=params
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return back
    if action in ORDERED_ACTIONS:
        messages.success(request, f"Order #{result.pk} submitted: {result.summary}.")
    else:
        label = action.replace("_", " ").capitalize()
        messages.success(request, f"{label} requested for {resource.name}.")
    return back


@login_required
@require_POST
def order_destroy_view(request, order_id):
    """ "Delete all resources" of an order: a destroy order, approved like any order."""
    order = get_object_or_404(order_list(user=request.user), pk=order_id)
    try:
        change = change_order_submit(
            user=request.user, action=ChangeAction.DESTROY, params={}, order_id=order.pk
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("catalog:order_detail", order_id=order.pk)
    messages.success(request, f"Order #{change.pk} submitted: {change.summary}.")
    return redirect("catalog:order_detail", order_id=change.pk)


@login_required
@require_POST
def snapshot_restore_view(request, resource_id: int):
    """Order a new server from one of a server's snapshots (the resource page's form)."""
    resource = get_object_or_404(
        provisioning_selectors.resource_list(user=request.user), pk=resource_id
    )
    try:
        order = order_from_snapshot(
            user=request.user,
            resource=resource,
            snapshot=request.POST.get("snapshot", ""),
            name=request.POST.get("name", "").strip(),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("provisioning:resource_detail", resource_id=resource.pk)
    messages.success(request, f"Order #{order.pk} submitted: a new server from the snapshot.")
    return redirect("catalog:order_detail", order_id=order.pk)
