from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import CatalogItem, Order, OrderStatus
from catalog.selectors import item_price_from
from portal.models import AuditEvent
from provisioning.models import Resource, Step


class CatalogItemSerializer(serializers.ModelSerializer):
    category = serializers.CharField(source="category.name")
    estimated_monthly_cost = serializers.SerializerMethodField()

    class Meta:
        model = CatalogItem
        fields = ["slug", "name", "category", "description", "parameters", "estimated_monthly_cost"]

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=2))
    def get_estimated_monthly_cost(self, item: CatalogItem) -> str:
        """The monthly price of the item's first options, shown as "from" on the menu."""
        return str(item_price_from(item=item))


class ResourceSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Resource
        fields = ["id", "kind", "name", "state", "external_id", "public_ips", "private_ips"]


class StepSerializer(serializers.ModelSerializer):
    resource = serializers.CharField(source="resource.name")

    class Meta:
        model = Step
        fields = [
            "id",
            "resource",
            "action",
            "state",
            "attempts",
            "last_error",
            "created_at",
            "finished_at",
        ]


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None)

    class Meta:
        model = AuditEvent
        fields = ["created_at", "actor", "action", "from_state", "to_state", "message"]


class OrderSerializer(serializers.ModelSerializer):
    item = serializers.CharField(source="item.slug")
    requester = serializers.CharField(source="requester.username")
    status = serializers.ChoiceField(choices=OrderStatus.choices)

    class Meta:
        model = Order
        fields = [
            "id",
            "item",
            "project",
            "requester",
            "parameters",
            "status",
            "status_message",
            "estimated_monthly_cost",
            "created_at",
            "updated_at",
        ]


class OrderDetailSerializer(OrderSerializer):
    resources = ResourceSummarySerializer(many=True)
    steps = StepSerializer(many=True, source="steps_list")
    events = EventSerializer(many=True)

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "resources", "steps", "events"]


class OrderCreateSerializer(serializers.Serializer):
    item = serializers.SlugField()
    project = serializers.IntegerField()
    parameters = serializers.DictField()
