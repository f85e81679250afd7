"""The audit trail through the API: a page at a time, filtered as the HTML list filters."""

from rest_framework import serializers, viewsets

from core.filtersets import AuditEventFilterSet
from core.models import AuditEvent
from core.selectors import audit_event_list


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = ["created_at", "actor", "action", "from_state", "to_state", "message"]


class AuditEventListSerializer(AuditEventSerializer):
    """An event of the whole trail: which order it belongs to and which credential wrote it."""

    class Meta(AuditEventSerializer.Meta):
        fields = ["id", "order", *AuditEventSerializer.Meta.fields, "credential"]


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit trail the caller may read, newest first: the events of their projects' orders
    (an administrator: every event)."""

    serializer_class = AuditEventListSerializer
    filterset_class = AuditEventFilterSet

    def get_queryset(self):
        return audit_event_list(user=self.request.user)
