"""identity's tests: API tokens, sign-in (local, LDAP, OIDC) and its hardening, directory roles."""
