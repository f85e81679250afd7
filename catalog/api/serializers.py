from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import CatalogItem, ChangeAction, Order, OrderKind, OrderStatus
from catalog.selectors.menu import item_price_from
from core.api.audit import AuditEventSerializer
from provisioning.api.serializers import DeploymentStepSerializer, ResourceSummarySerializer
from provisioning.models import Step


class CatalogItemSerializer(serializers.ModelSerializer):
    category = serializers.CharField(source="category.name")
    estimated_monthly_cost = serializers.SerializerMethodField()

    class Meta:
        model = CatalogItem
        fields = [
            "slug",
            "name",
            "category",
            "description",
            "parameters",
            "resources",
            "estimated_monthly_cost",
            "lease_default_days",
            "lease_max_days",
        ]

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=2))
    def get_estimated_monthly_cost(self, item: CatalogItem) -> str:
        """The monthly price of the item's first options, shown as "from" on the menu."""
        return str(item_price_from(item=item, accounts=self.context.get("pricing_accounts")))


class OrderSerializer(serializers.ModelSerializer):
    item = serializers.CharField(source="item.slug")
    requester = serializers.CharField(source="requester.username")
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    kind = serializers.ChoiceField(choices=OrderKind.choices)
    summary = serializers.CharField(help_text="What the order does, in words.")

    class Meta:
        model = Order
        fields = [
            "id",
            "kind",
            "summary",
            "item",
            "project",
            "requester",
            "parameters",
            "cloud_account",
            "status",
            "status_message",
            "estimated_monthly_cost",
            "plan",
            "plan_digest",
            "monthly_cost_delta",
            "action",
            "changes_order",
            "resource",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "plan": {
                "help_text": "Pinned at submit: the account, the resolved resources and the "
                "monthly price. What is approved is what is deployed."
            }
        }


class OrderDetailSerializer(OrderSerializer):
    resources = ResourceSummarySerializer(many=True)
    steps = serializers.SerializerMethodField()
    events = AuditEventSerializer(many=True)

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "resources", "steps", "events"]

    @extend_schema_field(DeploymentStepSerializer(many=True))
    def get_steps(self, order: Order) -> list:
        """The steps the view read (`provisioning.selectors.deployment_steps`) in `context`."""
        return DeploymentStepSerializer(self.context["steps"], many=True).data


class OrderCreateSerializer(serializers.Serializer):
    item = serializers.SlugField()
    project = serializers.IntegerField()
    parameters = serializers.DictField(
        help_text="The item's parameters (its JSON Schema); `cloud_account` (an account id) "
        "picks the account when several offer the item, else the project's first is used."
    )


class ResourceActionSerializer(serializers.Serializer):
    """A day-2 request on a resource; its parameters beside the action."""

    action = serializers.ChoiceField(
        choices=[a.value for a in Step.Action if a not in ("create", "set_members")]
        + [ChangeAction.SET_BOUNDS]
    )
    size = serializers.CharField(required=False, help_text="resize: the new size")
    size_gb = serializers.IntegerField(required=False, min_value=1, help_text="extend: new GB")
    desired = serializers.IntegerField(
        required=False, min_value=0, help_text="set_desired: the group's server count"
    )
    min = serializers.IntegerField(required=False, min_value=0, help_text="set_bounds: new min")
    max = serializers.IntegerField(required=False, min_value=0, help_text="set_bounds: new max")


class ChangeQuoteRequestSerializer(ResourceActionSerializer):
    """A change to price: of one resource, or a destroy of a whole order."""

    action = serializers.ChoiceField(
        choices=[
            ChangeAction.RESIZE,
            ChangeAction.EXTEND,
            ChangeAction.SET_DESIRED,
            ChangeAction.SET_BOUNDS,
            ChangeAction.DESTROY,
        ]
    )
    resource = serializers.IntegerField(required=False, help_text="the resource to change")
    order = serializers.IntegerField(required=False, help_text="the order to destroy whole")

    def validate(self, data: dict) -> dict:
        if ("resource" in data) == ("order" in data):
            raise serializers.ValidationError({"resource": ["Give a resource or an order."]})
        return data


class ChangeQuoteSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=OrderKind.choices)
    summary = serializers.CharField()
    estimated_monthly_cost = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="what the changed thing costs afterwards"
    )
    monthly_cost_delta = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="what the change adds to the monthly bill"
    )
    quota = serializers.ListField(child=serializers.CharField())
    approval = serializers.CharField(help_text="who would have to approve it")


class QuoteSerializer(serializers.Serializer):
    cloud_account = serializers.IntegerField()
    estimated_monthly_cost = serializers.DecimalField(max_digits=12, decimal_places=2)
    quota = serializers.ListField(
        child=serializers.CharField(), help_text="What the order does to the project's quotas."
    )


class OptionSerializer(serializers.Serializer):
    id = serializers.CharField()
    label = serializers.CharField()


class AccountChoiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ItemOptionsSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    cloud_accounts = AccountChoiceSerializer(many=True)
    cloud_account = serializers.IntegerField(allow_null=True)
    parameters = serializers.DictField(
        child=OptionSerializer(many=True),
        help_text="The choices of each parameter whose options come from the cloud account.",
    )
