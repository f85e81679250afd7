"""`{% load labels %}`: `{{ value|human }}` and `{{ name|field_label }}` (see portal.labels)."""

from django import template

from portal import labels

register = template.Library()
register.filter("human", labels.human)
register.filter("field_label", labels.field_label)
