"""The baseline: the least a token-authenticated DRF write can cost (one INSERT)."""

from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.models import AuditEvent
from identity.authentication import ApiTokenAuthentication


class BareInsertView(APIView):
    # Same authentication as Canopy's API, so the comparison measures Canopy's own work only.
    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [IsAuthenticated]

    def post(self, request: Request) -> Response:
        event = AuditEvent.objects.create(actor=request.user, action="bench.bare")
        return Response({"id": event.pk}, status=201)
