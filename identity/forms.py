from django import forms
from django.conf import settings

from core.models import ProjectRole


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “deploy pipeline”.")
    expires_in_days = forms.IntegerField(
        label="Expires in (days)",
        min_value=1,
        max_value=settings.CANOPY_API_TOKEN_MAX_DAYS,
        initial=settings.CANOPY_API_TOKEN_DAYS,
    )
    read_only = forms.BooleanField(
        label="Read-only", required=False, help_text="It may read, never order or change."
    )


class ServiceAccountForm(forms.Form):
    project = forms.ModelChoiceField(queryset=None)
    name = forms.CharField(max_length=60, help_text="e.g. “ci”: its user becomes svc-<project>-ci.")
    role = forms.ChoiceField(choices=ProjectRole.choices, initial=ProjectRole.MEMBER)

    def __init__(self, *args, projects, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects
