"""The approval list's filters, for the Approvals page and `/api/v1/approvals/` alike."""

import django_filters

from approvals.models import ApprovalRequest, ApprovalStatus


class ApprovalFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ApprovalStatus.choices, empty_label="All")

    class Meta:
        model = ApprovalRequest
        fields = ["status"]
