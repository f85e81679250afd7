"""Form helpers the apps' HTML views share."""

import re
from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError

from core import labels


def form_add_service_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: per field when it names one, else global."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


class HumanDurationField(forms.DurationField):
    """A duration as people write it ("10 minutes", "2 hours", "1 day 6 hours", or Django's
    "1 00:00:00"), shown back the same way ("1 day"), never as "1 day, 0:00:00"."""

    PART = re.compile(r"(\d+)\s*(d|days?|h|hours?|m|min|minutes?|s|seconds?)\b", re.IGNORECASE)
    UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}

    def prepare_value(self, value):
        return labels.duration(value) if isinstance(value, timedelta) else value

    def to_python(self, value):
        text = str(value or "").strip()
        parts = self.PART.findall(text)
        if parts and not self.PART.sub("", text).strip(" ,"):
            return timedelta(**{self.UNITS[unit[0].lower()]: int(n) for n, unit in parts})
        try:
            return super().to_python(value)
        except ValidationError as error:
            raise ValidationError(
                'Write a duration such as "10 minutes", "2 hours" or "1 day 6 hours".'
            ) from error
