import logging

from celery import shared_task
from django.conf import settings

from identity.backends import DirectoryLdapBackend, DirectoryUnavailable
from identity.models import DirectoryIdentity, DirectorySource

logger = logging.getLogger(__name__)


@shared_task
def directory_sync() -> None:
    """Re-read every LDAP user: their roles follow their groups, and whoever the directory no
    longer returns is disabled (their tokens stop), without waiting for a sign-in."""
    if not settings.AUTH_LDAP_SERVER_URI:
        return
    backend = DirectoryLdapBackend()
    identities = DirectoryIdentity.objects.filter(source=DirectorySource.LDAP).select_related(
        "user"
    )
    for identity in identities:
        try:
            backend.refresh(user=identity.user)
        except DirectoryUnavailable as error:
            logger.warning("LDAP sync stopped, the directory does not answer: %s", error)
            return
