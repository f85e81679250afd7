"""The order form, built from a catalog item's JSON Schema."""

from django import forms
from django.core.validators import RegexValidator

from catalog.models import CatalogItem
from portal.selectors import project_list


def _parameter_field(name: str, spec: dict, required: bool) -> forms.Field:
    options = {
        "label": spec.get("title", name),
        "help_text": spec.get("description", ""),
        "required": required,
    }
    if "oneOf" in spec:
        choices = [(opt["const"], opt.get("title", opt["const"])) for opt in spec["oneOf"]]
        return forms.ChoiceField(choices=choices, **options)
    if spec.get("type") == "integer":
        return forms.IntegerField(
            min_value=spec.get("minimum"), max_value=spec.get("maximum"), **options
        )
    validators = []
    if "pattern" in spec:
        validators.append(RegexValidator(spec["pattern"], "Enter a valid value."))
    return forms.CharField(validators=validators, **options)


class OrderForm(forms.Form):
    """One field per item parameter (same names), plus the project to order for."""

    def __init__(self, *args, item: CatalogItem, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.item = item
        schema = item.parameters or {}
        required = set(schema.get("required", []))
        for name, spec in schema.get("properties", {}).items():
            self.fields[name] = _parameter_field(name, spec, name in required)
        self.fields["project"] = forms.ModelChoiceField(
            queryset=project_list(user=user, perm="order_in_project"),
            empty_label=None,
        )

    @property
    def parameter_names(self) -> list[str]:
        return list((self.item.parameters or {}).get("properties", {}))

    def parameters(self) -> dict:
        """The cleaned parameter values (without the project), empty optional values left out."""
        return {
            name: self.cleaned_data[name]
            for name in self.parameter_names
            if self.cleaned_data.get(name) not in (None, "")
        }
