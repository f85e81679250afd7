"""DRF's tokens never expire: each becomes an API token (the same secret, so programs keep
working) that expires after CANOPY_API_TOKEN_DAYS, and DRF's row goes."""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone


def tokens_from_drf(apps, schema_editor):
    Token = apps.get_model("authtoken", "Token")
    ApiToken = apps.get_model("identity", "ApiToken")
    expires_at = timezone.now() + timedelta(days=settings.CANOPY_API_TOKEN_DAYS)
    ApiToken.objects.bulk_create(
        ApiToken(
            user_id=token.user_id,
            name="API token",
            digest=hashlib.sha256(token.key.encode()).hexdigest(),
            prefix=token.key[:8],
            expires_at=expires_at,
        )
        for token in Token.objects.all()
    )
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0001_initial"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [migrations.RunPython(tokens_from_drf, migrations.RunPython.noop)]
