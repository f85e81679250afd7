"""`{% load labels %}`: `{{ value|human }}` and `{{ name|field_label }}` (see core.labels)."""

from django import template

from core import labels

register = template.Library()
register.filter("human", labels.human)
register.filter("field_label", labels.field_label)
