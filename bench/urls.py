"""Canopy's URLs plus the bare baseline endpoint used by bench/run.py."""

from django.urls import path

from bench.views import BareInsertView
from portal.urls import urlpatterns as portal_urlpatterns

# The bench route goes first so no catch-all pattern of the portal can shadow it.
urlpatterns = [
    path("bench/bare/", BareInsertView.as_view(), name="bench-bare"),
    *portal_urlpatterns,
]
