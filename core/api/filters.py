"""Query parameters are checked, not guessed at: a bad filter value is a 400 naming the field."""

from django_filters.filters import BooleanFilter
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError

BOOLEAN_VALUES = {"true", "false", "1", "0"}


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter's backend (an unknown choice or a malformed id is already a 400), also
    refusing a filter given as an object (`project[id]=1`) or several times, and a yes/no
    filter that is neither (django-filter would ignore `enabled=maybe`)."""

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is not None:
            problems = self._problems(request.query_params, filterset.filters)
            if problems:
                raise ValidationError(problems)
        return super().filter_queryset(request, queryset, view)

    @staticmethod
    def _problems(params, known: dict) -> dict[str, list[str]]:
        problems = {}
        for key in params:
            base = key.split("[", 1)[0]
            if base != key and base in known:
                problems[base] = ["Give one value, not an object."]
            elif key not in known:
                continue
            elif len(params.getlist(key)) > 1:
                problems[key] = ["Give one value, not several."]
            elif isinstance(known[key], BooleanFilter) and params[key].lower() not in (
                BOOLEAN_VALUES | {""}
            ):
                problems[key] = ["Must be true or false."]
        return problems
