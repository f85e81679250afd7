from oauth2_provider.oauth2_validators import OAuth2Validator


class GroupClaimsValidator(OAuth2Validator):
    """Claims as a company directory gives them: name, email and the groups claim."""

    oidc_claim_scope = None  # every claim, whatever the scopes asked

    def get_additional_claims(self, request) -> dict:
        user = request.user
        return {
            "preferred_username": user.username,
            "email": user.email,
            "given_name": user.first_name,
            "family_name": user.last_name,
            "groups": sorted(group.name for group in user.groups.all()),
        }

    # prompt=none (the portal's silent re-check): the authorize view already requires the
    # provider's own session, and the client needs no consent (skip_authorization).
    def validate_silent_login(self, request) -> bool:
        return True

    def validate_silent_authorization(self, request) -> bool:
        return True
