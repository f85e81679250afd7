from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer

from core.models import ProjectRole
from identity.models import ApiToken, DirectoryRoleMapping, ServiceAccount


class ApiTokenSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="user.username", read_only=True)
    service_account = serializers.SerializerMethodField()
    status = serializers.CharField(read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "owner",
            "service_account",
            "read_only",
            "status",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ]
        read_only_fields = fields

    def get_service_account(self, token: ApiToken) -> int | None:
        account = getattr(token.user, "service_account", None)
        return account.pk if account is not None else None


class IssuedApiTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret; shown only this once.")

    class Meta(ApiTokenSerializer.Meta):
        fields = ["token", *ApiTokenSerializer.Meta.fields]
        read_only_fields = fields


class ApiTokenRequestSerializer(serializers.Serializer):
    """What a new token asks for; its lifetime is checked by the service."""

    name = serializers.CharField(max_length=100, default="API token")
    expires_in_days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.CANOPY_API_TOKEN_MAX_DAYS,
        help_text=f"Default {settings.CANOPY_API_TOKEN_DAYS}.",
    )
    read_only = serializers.BooleanField(default=False)


class ApiTokenCreateSerializer(ApiTokenRequestSerializer):
    service_account = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,  # a database id
        help_text="A service account you administer; default: yourself.",
    )


class PasswordTokenSerializer(AuthTokenSerializer, ApiTokenRequestSerializer):
    """User name and password (a local or a directory account) in exchange for a new token."""


class ServiceAccountSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    is_active = serializers.BooleanField(source="user.is_active", read_only=True)
    role = serializers.ChoiceField(choices=ProjectRole.choices, default=ProjectRole.MEMBER)

    class Meta:
        model = ServiceAccount
        fields = ["id", "name", "project", "role", "username", "is_active", "created_at"]
        read_only_fields = ["id", "username", "is_active", "created_at"]


class DirectoryRoleMappingSerializer(serializers.ModelSerializer):
    class Meta:
        model = DirectoryRoleMapping
        fields = ["id", "group", "project", "organization", "role"]

    def validate(self, attrs: dict) -> dict:
        mapping = DirectoryRoleMapping(**{**self._current(), **attrs})
        try:
            mapping.clean()
        except DjangoValidationError as error:
            raise serializers.ValidationError(
                error.message_dict if hasattr(error, "error_dict") else {"detail": error.messages}
            ) from error
        return attrs

    def _current(self) -> dict:
        if self.instance is None:
            return {}
        return {
            name: getattr(self.instance, name)
            for name in ("group", "project", "organization", "role")
        }
