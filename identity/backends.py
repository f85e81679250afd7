"""Authentication backends: local passwords (possibly for break-glass admins only) and
LDAP / Active Directory through django-auth-ldap, whose groups become roles at every sign-in."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractUser
from django.http import HttpRequest
from django_auth_ldap.backend import LDAPBackend, ldap_error

from identity.models import DirectorySource
from identity.services import directory_disable, directory_sign_in


class LocalPasswordBackend(ModelBackend):
    """Django's passwords. With CANOPY_LOCAL_PASSWORDS=false only superusers (break-glass
    admins) sign in with one; everyone else goes through the directory."""

    def user_can_authenticate(self, user: AbstractUser) -> bool:
        if not super().user_can_authenticate(user):
            return False
        return settings.CANOPY_LOCAL_PASSWORDS or user.is_superuser


class DirectoryLdapBackend(LDAPBackend):
    """A bind as the person (after a search with the service DN) proves the password; their
    groups, nested ones included, are read at every sign-in and mapped to roles. Does nothing
    while CANOPY_LDAP_SERVER_URI is unset."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs,
    ) -> AbstractUser | None:
        if not settings.AUTH_LDAP_SERVER_URI:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id: int) -> AbstractUser | None:
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None  # sessions end too

    def get_or_build_user(self, username: str, ldap_user) -> tuple[AbstractUser, bool]:
        user, built = super().get_or_build_user(username, ldap_user)
        if not built and (user.is_superuser or hasattr(user, "service_account")):
            # A directory entry never takes over a break-glass admin or a pipeline's account.
            raise ldap_user.AuthenticationFailed(f"{username} is a local account")
        return user, built

    def authenticate_ldap_user(self, ldap_user, password: str) -> AbstractUser | None:
        user = super().authenticate_ldap_user(ldap_user, password)
        if user is None:
            return None
        return directory_sign_in(
            user=user,
            source=DirectorySource.LDAP,
            subject=user.ldap_username,  # set by django-auth-ldap
            groups=ldap_groups(ldap_user),
        )

    def refresh(self, *, user: AbstractUser) -> bool:
        """Read the person again with the service DN (no password): roles follow their groups
        now, and someone the directory no longer returns (deleted, or excluded by the user
        filter as disabled) is disabled here too. Returns whether they are still there."""
        subject = user.directory_identity.subject
        with _ldap_errors() as errors:
            found = self.populate_user(subject)
        if errors:  # an unreachable directory says nothing about the person
            raise DirectoryUnavailable(str(errors[0]))
        if found is None:
            directory_disable(user=user, reason="No longer in the LDAP directory (or disabled)")
            return False
        directory_sign_in(
            user=found,
            source=DirectorySource.LDAP,
            subject=subject,
            groups=ldap_groups(found.ldap_user),
        )
        return True


def ldap_groups(ldap_user) -> set[str]:
    """A person's groups, nested ones included: each as its DN and as its name, so a role
    mapping may name either."""
    return set(ldap_user.group_dns) | set(ldap_user.group_names)


class DirectoryUnavailable(Exception):
    """The LDAP server did not answer (django-auth-ldap reports errors by signal only)."""


@contextmanager
def _ldap_errors() -> Iterator[list[Exception]]:
    errors: list[Exception] = []

    def collect(exception: Exception, **kwargs) -> None:
        errors.append(exception)

    ldap_error.connect(collect)
    try:
        yield errors
    finally:
        ldap_error.disconnect(collect)
