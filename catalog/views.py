"""Browser pages for the catalog and orders. Reads go through selectors, writes through services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from catalog.forms import OrderForm
from catalog.selectors import catalog_item_list, item_price_from, order_list
from catalog.services import order_quote, order_submit
from portal.selectors import audit_events_for_order
from provisioning.models import TRANSITIONAL_STATES
from provisioning.selectors import steps_for_order


def form_add_service_errors(form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: per field when it names one, else global."""
    if hasattr(error, "error_dict"):
        for field, msgs in error.message_dict.items():
            form.add_error(field if field in form.fields else None, msgs)
    else:
        form.add_error(None, error.messages)


@login_required
def menu(request):
    categories: dict = {}
    for item in catalog_item_list(user=request.user).order_by("category__name", "name"):
        item.price_from = item_price_from(item=item)
        categories.setdefault(item.category, []).append(item)
    return render(request, "catalog/menu.html", {"categories": categories.items()})


def _item(request, slug):
    return get_object_or_404(catalog_item_list(user=request.user), slug=slug)


@login_required
def item_order(request, slug):
    item = _item(request, slug)
    if request.method == "POST":
        form = OrderForm(request.POST, item=item, user=request.user)
        if form.is_valid():
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
    else:
        form = OrderForm(item=item, user=request.user)
    return render(
        request, "catalog/item_order.html", {"item": item, "form": form, **_estimate(form)}
    )


def _estimate(form) -> dict:
    """The monthly quote from the valid fields of a bound form (a bad name still gets a price)."""
    if not form.is_bound:
        return {"estimate": None}
    form.is_valid()
    if "project" not in form.cleaned_data:
        return {"estimate": None}
    try:
        cost = order_quote(
            item=form.item, project=form.cleaned_data["project"], parameters=form.parameters()
        )
    except (ValidationError, KeyError, ValueError, LookupError):
        return {"estimate": None}
    return {"estimate": cost}


@login_required
@require_POST
def item_estimate(request, slug):
    item = _item(request, slug)
    form = OrderForm(request.POST, item=item, user=request.user)
    return render(request, "catalog/_estimate.html", _estimate(form))


@login_required
def order_list_view(request):
    orders = order_list(user=request.user)
    return render(request, "catalog/order_list.html", {"orders": orders})


def _live_context(order) -> dict:
    resources = list(order.resources.all())
    steps = steps_for_order(order_id=order.pk)
    live = not order.is_final or any(r.state in TRANSITIONAL_STATES for r in resources)
    return {"order": order, "resources": resources, "steps": steps, "live": live}


@login_required
def order_detail(request, order_id):
    order = get_object_or_404(order_list(user=request.user), pk=order_id)
    context = _live_context(order)
    context["events"] = audit_events_for_order(order_id=order.pk)
    return render(request, "catalog/order_detail.html", context)


@login_required
def order_live(request, order_id):
    order = get_object_or_404(order_list(user=request.user), pk=order_id)
    return render(request, "catalog/_order_live.html", _live_context(order))
