"""Forms of the lifecycle pages: an idle policy, set by the organization's admins."""

from django import forms
from django.db.models import QuerySet

from core.forms import HumanDurationField
from core.models import Organization, Project
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
        fields = IdlePolicy.SETTINGS
        labels = {
            "cpu_below_percent": "Idle below CPU (%)",
            "network_below_kbps": "Idle below network (kbps)",
        }


class IdlePolicyCreateForm(IdlePolicyForm):
    """A new policy, for an organization (every project without its own) or for one project
    (replacing its organization's)."""

    scope = forms.ChoiceField(
        label="Applies to",
        help_text="A project's policy replaces its organization's for that project.",
    )

    def __init__(
        self,
        *args,
        organizations: QuerySet[Organization],
        projects: QuerySet[Project],
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        organization_choices = [
            (f"organization-{o.pk}", f"organization {o.name}") for o in organizations
        ]
        project_choices = [
            (f"project-{p.pk}", f"project {p.name} ({p.organization.name})") for p in projects
        ]
        self.scopes = {f"organization-{o.pk}": {"organization": o} for o in organizations}
        self.scopes |= {f"project-{p.pk}": {"project": p} for p in projects}
        self.fields["scope"].choices = [
            ("Organizations", organization_choices),
            ("Projects", project_choices),
        ]
        self.order_fields(["scope"])

    def scope_kwargs(self) -> dict[str, Organization | Project]:
        """`organization=` or `project=` for the service, from the chosen scope."""
        return self.scopes[self.cleaned_data["scope"]]
