"""Filters shared by the HTML lists and the API: a project choice limited to the caller's own."""

import django_filters
from django.http import HttpRequest

from core.models import AuditEvent, Project
from core.selectors import project_list


def own_projects(request: HttpRequest | None):
    """The projects a filter may name: the caller's (the schema generator has no caller)."""
    if request is None:
        return Project.objects.none()
    return project_list(user=request.user)


class ProjectFilter(django_filters.ModelChoiceFilter):
    """`?project=<id>` among the caller's projects; another id is a 400, not an empty list."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("queryset", own_projects)
        kwargs.setdefault("label", "Project")
        kwargs.setdefault("empty_label", "All projects")
        super().__init__(*args, **kwargs)


class AuditEventFilterSet(django_filters.FilterSet):
    """The audit trail's filters, HTML and API alike: an order, a project, who, what, since."""

    order = django_filters.NumberFilter(field_name="order", label="Order")
    project = ProjectFilter(field_name="order__project")
    actor = django_filters.CharFilter(field_name="actor__username", label="Who (user name)")
    action = django_filters.CharFilter(field_name="action", label="What (action)")
    since = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label="Since (ISO 8601)"
    )

    class Meta:
        model = AuditEvent
        fields = ["order", "project", "actor", "action", "since"]
