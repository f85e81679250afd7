from django import forms
from django.contrib.auth import get_user_model

from approvals.models import Quota


class DelegationForm(forms.Form):
    delegate = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        to_field_name="username",
    )
    starts_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    # The date-order rule lives in delegation_create; the view puts its error on the field.
    ends_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))


class QuotaForm(forms.ModelForm):
    """A project's limits; an empty box is no limit."""

    class Meta:
        model = Quota
        fields = ["max_servers", "max_vcpus", "max_ram_gb", "max_storage_gb", "max_monthly_cost"]
        labels = {
            "max_servers": "Servers",
            "max_vcpus": "vCPUs",
            "max_ram_gb": "RAM (GB)",
            "max_storage_gb": "Storage (GB)",
            "max_monthly_cost": "Monthly spend",
        }
        help_texts = {name: "Empty: no limit." for name in fields}
