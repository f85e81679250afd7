from django.http import HttpRequest, HttpResponse, JsonResponse


class ApiNotFoundAsJsonMiddleware:
    """The API answers in JSON also when no URL matched (an id that is not a number): Django
    answers that 404 before DRF sees the request, with an HTML page."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return JsonResponse({"detail": "Not found."}, status=404)
        return response
