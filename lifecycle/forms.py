"""Forms of the lifecycle pages: an idle policy, set by the organization's admins."""

from django import forms

from core.forms import HumanDurationField
from lifecycle.models import IdlePolicy

WAIT_HELP = "Counted from the previous grade; empty: the ladder stops before this grade."


class IdlePolicyForm(forms.ModelForm):
    window = HumanDurationField(help_text="How long the averages are taken over, e.g. 1 day.")
    notify_after = HumanDurationField(required=False, help_text="Counted from the case opening.")
    stop_after = HumanDurationField(required=False, help_text=WAIT_HELP)
    retire_after = HumanDurationField(required=False, help_text=WAIT_HELP)
    delete_after = HumanDurationField(required=False, help_text=WAIT_HELP)

    class Meta:
        model = IdlePolicy
        fields = [
            "name",
            "enabled",
            "cpu_below_percent",
            "network_below_kbps",
            "window",
            "notify_after",
            "stop_after",
            "retire_after",
            "delete_after",
        ]
        labels = {
            "cpu_below_percent": "Idle below CPU (%)",
            "network_below_kbps": "Idle below network (kbps)",
        }
