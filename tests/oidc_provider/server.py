"""Set up and serve the test identity provider: `python -m tests.oidc_provider.server PORT
CLIENT_ID CLIENT_SECRET REDIRECT_URI POST_LOGOUT_URI` (environment from the fixture). It
migrates its database, creates the client and the people, then serves until terminated."""

import sys

import django
from django.core.management import call_command


def main(port: str, client_id: str, client_secret: str, redirect: str, after_logout: str) -> None:
    django.setup()
    from django.contrib.auth.models import Group, User
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0)
    Application.objects.create(
        name="Canopy",
        client_id=client_id,
        client_secret=client_secret,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect,
        post_logout_redirect_uris=after_logout,
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    managers = Group.objects.create(name="web-shop-managers")
    olivia = User.objects.create_user(
        "olivia", "olivia@example.com", "olivia-pass-1", first_name="Olivia", last_name="Ops"
    )
    olivia.groups.add(managers)
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, skip_checks=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
