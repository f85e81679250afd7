from rest_framework import serializers, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.settings import api_settings

from portal.models import Project
from portal.selectors import project_list


class ProjectSerializer(serializers.ModelSerializer):
    organization = serializers.CharField(source="organization.name", read_only=True)

    class Meta:
        model = Project
        fields = ["id", "name", "cost_center", "organization"]


class ProjectViewSet(viewsets.ReadOnlyModelViewSet):
    """The projects the caller belongs to."""

    serializer_class = ProjectSerializer

    def get_queryset(self):
        return project_list(user=self.request.user)


class TokenView(ObtainAuthToken):
    """Exchange a username and password for an API token."""

    # ObtainAuthToken opts out of the API's defaults: take back its parsers (JSON depth limit)
    # and its throttles. Failed sign-ins lock the account (django-axes), answered with a 429.
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES
    throttle_classes = api_settings.DEFAULT_THROTTLE_CLASSES
