from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination

from core.pagination import MAX_PAGE_SIZE


class StrictPageNumberPagination(PageNumberPagination):
    """A page that is not a number, or past the last one, is a 400 naming `page` (DRF says 404,
    which reads as "this list does not exist"); `page_size` chooses the page's length, up to
    MAX_PAGE_SIZE, as on the HTML lists."""

    invalid_page_message = "Page {page_number} is not valid: {message}."
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request) -> int:
        """`page_size` as asked, capped at MAX_PAGE_SIZE; not a whole number from 1: a 400."""
        name = self.page_size_query_param
        asked = request.query_params.get(name)
        as_object = any(key.startswith(f"{name}[") for key in request.query_params)
        if as_object or (asked is not None and not (asked.isdigit() and int(asked) >= 1)):
            raise ValidationError({name: ["Give a whole number from 1."]})
        return super().get_page_size(request)

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as exc:
            raise ValidationError({self.page_query_param: [exc.detail]}) from exc

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters
