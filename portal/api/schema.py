"""The OpenAPI schema documents the errors every operation really answers, once for all views."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAuthenticated


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


RETRY_AFTER = {
    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait first."}
}


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """identity's tokens in the schema: `Authorization: Token <key>` (Swagger UI's Authorize)."""

    target_class = "identity.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Token"
        )


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        for code, (description, body) in self._error_responses(operation).items():
            if code not in operation["responses"]:
                response = self._get_response_for_code(OpenApiResponse(body, description), code)
                if code in ("429", "503"):
                    response["headers"] = RETRY_AFTER
                operation["responses"][code] = response
        return operation

    def _error_responses(self, operation: dict) -> dict[str, tuple[str, object]]:
        where = {parameter["in"] for parameter in operation.get("parameters", [])}
        permissions = self.view.get_permissions()
        errors = {}
        if "requestBody" in operation or "query" in where:
            errors["400"] = (
                "Bad input: each field or query parameter with what is wrong with it.",
                OpenApiTypes.OBJECT,
            )
        if not all(isinstance(p, AllowAny) for p in permissions):
            errors["401"] = ("Not signed in (no or an unknown token).", ErrorSerializer)
        # Writes are refused by the services (and CSRF, for session sign-ins); reads where the
        # view asks more than a sign-in.
        if self.method not in SAFE_METHODS or any(
            not isinstance(p, (IsAuthenticated, AllowAny)) for p in permissions
        ):
            errors["403"] = ("Not allowed to do this.", ErrorSerializer)
        # The object in the path, or one the body names, is not among those the caller sees.
        if "path" in where or "requestBody" in operation:
            errors["404"] = (
                "No such object among those visible to the caller.",
                OpenApiTypes.OBJECT,
            )
        errors["429"] = (
            "Too many requests, or a locked account: see Retry-After.",
            ErrorSerializer,
        )
        errors["503"] = ("A service Canopy needs is down: see Retry-After.", ErrorSerializer)
        return errors
