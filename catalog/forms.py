"""The order form: a catalog item's JSON Schema, with choices from the chosen cloud account."""

from collections.abc import Iterable

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.urls import reverse

from catalog import templating
from catalog.models import CatalogItem
from catalog.selectors.menu import cloud_accounts_for_item, parameter_choices, projects_for_item
from catalog.selectors.ordering import ModelT, chosen_or_first


def _parameter_field(name: str, spec: dict, required: bool, offered: list | None) -> forms.Field:
    rule = spec.get("x-rule", "")
    options = {
        "label": spec.get("title", name),
        # What the field is for, else the rule a value must follow ("Lower-case letters, …").
        "help_text": spec.get("description") or rule[:1].upper() + rule[1:],
        "required": required,
        "initial": spec.get("default"),
    }
    if offered is not None:  # "x-options": the chosen account's sizes, images or locations
        return forms.ChoiceField(choices=offered, **options)
    if "oneOf" in spec:
        choices = [(opt["const"], opt.get("title", opt["const"])) for opt in spec["oneOf"]]
        return forms.ChoiceField(choices=choices, **options)
    if "enum" in spec:
        values = {str(value): value for value in spec["enum"]}  # the schema's type, not a str
        return forms.TypedChoiceField(
            choices=[(key, key) for key in values], coerce=values.get, **options
        )
    if spec.get("type") in ("integer", "number"):
        field = forms.IntegerField if spec["type"] == "integer" else forms.FloatField
        return field(min_value=spec.get("minimum"), max_value=spec.get("maximum"), **options)
    if spec.get("type") == "boolean":
        return forms.BooleanField(**{**options, "required": False})  # unchecked means false
    validators = []
    if "pattern" in spec:
        validators.append(RegexValidator(spec["pattern"], templating.pattern_message(spec)))
    return forms.CharField(validators=validators, **options)


class OrderForm(forms.Form):
    """The project, the cloud account (when several offer the item), then one field per item
    parameter (same names). Changing the project or the account re-renders the dependent
    choices (htmx); the service re-checks every choice on submit."""

    def __init__(self, *args, item: CatalogItem, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.item = item
        self.user = user
        refresh = {
            "hx-post": reverse("catalog:item_fields", args=[item.slug]),
            "hx-target": "#order-fields",
            "hx-swap": "outerHTML",
            "hx-trigger": "change consume",  # not also the form's estimate request
        }
        projects = projects_for_item(user=user, item=item)
        self.fields["project"] = forms.ModelChoiceField(
            queryset=projects, empty_label=None, widget=forms.Select(attrs=refresh)
        )
        self.project = self._chosen(projects, "project")
        accounts = cloud_accounts_for_item(item=item, project=self.project) if self.project else []
        if len(accounts) > 1:
            self.fields["cloud_account"] = forms.TypedChoiceField(
                choices=[(a.pk, a.name) for a in accounts],
                coerce=int,
                label="Cloud account",
                widget=forms.Select(attrs=refresh),
            )
        self.account = self._chosen(accounts, "cloud_account")
        offered = parameter_choices(item=item, account=self.account) if self.account else {}
        schema = item.parameters or {}
        required = set(schema.get("required", []))
        for name in self.parameter_names:
            spec = schema["properties"][name]
            self.fields[name] = _parameter_field(
                name,
                spec,
                name in required,
                offered.get(name, []) if "x-options" in spec else None,
            )

    def _chosen(self, candidates: Iterable[ModelT], name: str) -> ModelT | None:
        """The bound value of a choice field when it is offered, else its first choice: the
        dependent fields follow a valid choice, and the field itself reports an invalid one."""
        value = self.data.get(self.add_prefix(name)) if self.is_bound else None
        try:
            return chosen_or_first(candidates, chosen=value, field=name)
        except ValidationError:
            return chosen_or_first(candidates, chosen=None, field=name)

    @property
    def parameter_names(self) -> list[str]:
        return templating.parameter_names(self.item.parameters)

    def parameters(self) -> dict:
        """The cleaned parameter values (without the project), empty optional values left out;
        the cloud account, when chosen, as the `cloud_account` parameter."""
        names = [*self.parameter_names, "cloud_account"]
        return {
            name: self.cleaned_data[name]
            for name in names
            if self.cleaned_data.get(name) not in (None, "")
        }
