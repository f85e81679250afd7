from django import forms
from django.contrib.auth import get_user_model


class DelegationForm(forms.Form):
    delegate = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        to_field_name="username",
    )
    starts_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    # The date-order rule lives in delegation_create; the view puts its error on the field.
    ends_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
