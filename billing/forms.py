"""Forms of the cost pages: a budget, set by the organization's finance people and admins."""

from django import forms

from billing.models import Budget
from billing.selectors.budgets import budget_clash
from core.models import Project


class BudgetForm(forms.ModelForm):
    """A monthly limit for a project, or for a cost center when no project is chosen."""

    class Meta:
        model = Budget
        fields = ["project", "cost_center", "monthly_amount", "refuse_orders_over_budget"]
        labels = {
            "monthly_amount": "Monthly amount",
            "refuse_orders_over_budget": "Refuse new orders that would go over it",
        }
        help_texts = {
            "project": "Leave empty for a cost center's budget.",
            "cost_center": "Only for a cost center's budget (e.g. CC-100).",
        }

    def __init__(self, *args, organization_id: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.instance.organization_id = organization_id
        self.fields["project"].queryset = Project.objects.filter(
            organization_id=organization_id
        ).order_by("name")
        self.fields["project"].required = False

    def clean(self) -> dict:
        # A budget is for a project or for a cost center, never both (the model's constraint).
        cleaned = super().clean()
        project = cleaned.get("project")
        if project:
            cleaned["cost_center"] = ""
        elif not cleaned.get("cost_center"):
            self.add_error("project", "Choose a project, or give a cost center.")
            return cleaned
        # Said in words before the model's constraints would say "Constraint … is violated".
        self.instance.project, self.instance.cost_center = project, cleaned["cost_center"]
        for field, errors in budget_clash(budget=self.instance).items():
            self.add_error(field, errors)
        return cleaned
