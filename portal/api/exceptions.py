from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from identity.lockout import lockout_facts


def exception_handler(exc, context):
    """Services raise Django's ValidationError; answer it as a 400 with a message per field.
    A sign-in that django-axes refused (the account is locked) is a 429 saying until when."""
    request = context.get("request")
    if getattr(request, "axes_locked_out", False):
        facts = lockout_facts(request, getattr(request, "axes_credentials", None))
        return Response(
            {"detail": facts["message"]},
            status=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(facts["retry_after"])},
        )
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    return drf_exception_handler(exc, context)
