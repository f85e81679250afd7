"""The API's token endpoint signs people in from a real OpenLDAP directory (slapd started by the
suite) over StartTLS and LDAPS, trusting the server's certificate only through the CA."""

import ldap
import pytest

from identity.tests.helpers import (
    directory_password,
    ldap_settings_fixture,  # noqa: F401  (fixture: Canopy pointed at the test directory)
    shop_fixture,  # noqa: F401  (fixture: Acme's web-shop and its people)
    token_exchange,
)

pytestmark = pytest.mark.django_db


def test_starttls_and_ldaps_verify_the_servers_certificate(ldap_settings, settings):
    trusted = {
        ldap.OPT_REFERRALS: 0,
        ldap.OPT_X_TLS_CACERTFILE: ldap_settings.ca_file,
        ldap.OPT_X_TLS_REQUIRE_CERT: ldap.OPT_X_TLS_DEMAND,
        ldap.OPT_X_TLS_NEWCTX: 0,
    }
    settings.AUTH_LDAP_START_TLS = True
    settings.AUTH_LDAP_CONNECTION_OPTIONS = trusted
    assert token_exchange("erin", directory_password("erin")).status_code == 200
    settings.AUTH_LDAP_START_TLS = False
    settings.AUTH_LDAP_SERVER_URI = ldap_settings.ldaps_uri
    assert token_exchange("frank", directory_password("frank")).status_code == 200
    # Without the CA the server's certificate is not trusted: no sign-in.
    settings.AUTH_LDAP_CONNECTION_OPTIONS = {
        ldap.OPT_REFERRALS: 0,
        ldap.OPT_X_TLS_CACERTFILE: "/etc/ssl/certs/ca-certificates.crt",
        ldap.OPT_X_TLS_REQUIRE_CERT: ldap.OPT_X_TLS_DEMAND,
        ldap.OPT_X_TLS_NEWCTX: 0,
    }
    assert token_exchange("erin", directory_password("erin")).status_code == 400
