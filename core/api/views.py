from rest_framework import serializers, viewsets

from core.models import Project
from core.selectors import project_list


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
