from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.settings import api_settings

from identity.api.serializers import (
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    DirectoryRoleMappingSerializer,
    IssuedApiTokenSerializer,
    PasswordTokenSerializer,
    ServiceAccountSerializer,
)
from identity.models import DirectoryRoleMapping, ServiceAccount
from identity.selectors import (
    api_tokens_visible,
    projects_for_service_accounts,
    service_accounts_administered,
)
from identity.services import (
    IssuedToken,
    api_token_issue,
    api_token_revoke,
    service_account_create,
    service_account_disable,
)


def _issued(issued: IssuedToken) -> dict:
    issued.token.token = issued.key
    return IssuedApiTokenSerializer(issued.token).data


class TokenView(ObtainAuthToken):
    """Exchange a user name and password for a new API token (named, expiring, optionally
    read-only)."""

    serializer_class = PasswordTokenSerializer
    # ObtainAuthToken opts out of the API's defaults: take back its parsers (JSON depth limit)
    # and its throttles. Failed sign-ins lock the account (django-axes), answered with a 429.
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES
    throttle_classes = api_settings.DEFAULT_THROTTLE_CLASSES

    @extend_schema(request=PasswordTokenSerializer, responses={200: IssuedApiTokenSerializer})
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        issued = api_token_issue(
            user=data["user"],
            created_by=data["user"],
            name=data["name"],
            expires_in_days=data.get("expires_in_days"),
            read_only=data["read_only"],
        )
        return Response(_issued(issued))


class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your API tokens and those of the service accounts you administer. DELETE revokes."""

    serializer_class = ApiTokenSerializer

    def get_queryset(self):
        return api_tokens_visible(user=self.request.user)

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: IssuedApiTokenSerializer})
    def create(self, request):
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = request.user
        if "service_account" in data:
            accounts = service_accounts_administered(user=request.user)
            account = accounts.filter(pk=data["service_account"]).first()
            if account is None:
                raise ValidationError(
                    {"service_account": "No service account of yours has this id."}
                )
            user = account.user
        issued = api_token_issue(
            user=user,
            created_by=request.user,
            name=data["name"],
            expires_in_days=data.get("expires_in_days"),
            read_only=data["read_only"],
        )
        return Response(_issued(issued), status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance) -> None:
        api_token_revoke(token=instance, by=self.request.user)


class ServiceAccountViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Pipelines' accounts in the projects of the organizations you administer. DELETE disables
    one (its tokens stop working); POST /api/v1/tokens/ with `service_account` issues tokens."""

    serializer_class = ServiceAccountSerializer
    queryset = ServiceAccount.objects.none()  # tells the schema the id's type; see get_queryset

    def get_queryset(self):
        return service_accounts_administered(user=self.request.user)

    def perform_create(self, serializer) -> None:
        project = serializer.validated_data["project"]
        if not projects_for_service_accounts(user=self.request.user).filter(pk=project.pk):
            raise ValidationError({"project": "Not a project of an organization you administer."})
        serializer.instance = service_account_create(
            project=project,
            name=serializer.validated_data["name"],
            role=serializer.validated_data["role"],
            created_by=self.request.user,
        )

    def perform_destroy(self, instance) -> None:
        service_account_disable(account=instance, by=self.request.user)


class DirectoryRoleMappingViewSet(viewsets.ModelViewSet):
    """Directory group → role mappings (staff; the same as the admin page and
    `manage.py directory_roles_load`). People's roles change at their next sign-in."""

    serializer_class = DirectoryRoleMappingSerializer
    permission_classes = [IsAdminUser]
    queryset = DirectoryRoleMapping.objects.all()
