"""Pin a plan on the orders submitted before plans were pinned, from their item as it is now
(best effort: an order whose item no longer resolves keeps no plan, and its deployment fails
with a message saying so)."""

from django.db import migrations

from catalog import templating
from catalog.models import plan_digest


def pin_existing(apps, schema_editor):
    Order = apps.get_model("catalog", "Order")
    for order in Order.objects.filter(plan_digest="").select_related("item").iterator():
        item = order.item
        try:
            resources = templating.resolve(
                item.resources,
                {**templating.parameter_defaults(item.parameters), **order.parameters},
            )
        except Exception:  # a template the parameters no longer fit: leave it unpinned
            continue
        plan = {
            "cloud_account": order.cloud_account_id,
            "resources": resources,
            "monthly_cost": str(order.estimated_monthly_cost),
        }
        Order.objects.filter(pk=order.pk).update(plan=plan, plan_digest=plan_digest(plan))


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_order_pinned_plan")]

    operations = [migrations.RunPython(pin_existing, migrations.RunPython.noop)]
