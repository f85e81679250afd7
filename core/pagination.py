"""One page size for every list, HTML and API alike: `?page=` and `?page_size=` (capped).
The API's side is `core.api.pagination.StrictPageNumberPagination`."""

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

# A page larger than this is refused by being capped: a list must never render the whole estate.
MAX_PAGE_SIZE = 200


def page_size(request: HttpRequest) -> int:
    """The `page_size` asked for, within 1..MAX_PAGE_SIZE; the default page size otherwise."""
    default = settings.REST_FRAMEWORK["PAGE_SIZE"]
    try:
        asked = int(request.GET.get("page_size", default))
    except ValueError:
        return default
    return min(max(asked, 1), MAX_PAGE_SIZE)


def paginate(request: HttpRequest, queryset: QuerySet) -> Page:
    """The page of a list that an HTML view shows: same size and parameters as the API's."""
    return Paginator(queryset, page_size(request)).get_page(request.GET.get("page"))
