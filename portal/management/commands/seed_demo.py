"""Build the demo organization: users, projects, a sandbox account, the catalog and its prices.

Idempotent: running it again updates what exists and creates nothing twice.
"""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from billing.models import Rate, RateCard
from catalog.models import CatalogItem, Category
from portal.models import Organization, OrganizationRole, Project, ProjectRole
from portal.services import organization_membership_add, project_membership_add
from provisioning.models import CloudAccount
from provisioning.providers.sandbox import SIZES

LINUX_VM_PARAMETERS = {
    "type": "object",
    "required": ["name", "size"],
    "additionalProperties": False,
    "properties": {
        "name": {
            "type": "string",
            "title": "Server name",
            "pattern": "^[a-z][a-z0-9-]{1,30}$",
            "description": "Lower-case letters, digits and dashes.",
        },
        "size": {
            "type": "string",
            "title": "Size",
            "oneOf": [{"const": size.id, "title": size.label} for size in SIZES],
        },
    },
}
HOURLY_PRICES = {
    "small": Decimal("0.0200"),
    "medium": Decimal("0.0400"),
    "large": Decimal("0.0800"),
}


class Command(BaseCommand):
    help = "Create the demo organization, users, sandbox cloud and catalog (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        password = settings.CANOPY_DEMO_PASSWORD
        acme, _ = Organization.objects.get_or_create(slug="acme", defaults={"name": "Acme"})
        web_shop, _ = Project.objects.update_or_create(
            organization=acme,
            slug="web-shop",
            defaults={"name": "web-shop", "cost_center": "CC-100"},
        )
        data_lab, _ = Project.objects.update_or_create(
            organization=acme,
            slug="data-lab",
            defaults={"name": "data-lab", "cost_center": "CC-200"},
        )
        users = {name: self._user(name, password) for name in ["alice", "bob", "carol", "dave"]}
        admin = self._user("admin", password)
        admin.is_staff = admin.is_superuser = True
        admin.save()
        project_membership_add(user=users["alice"], project=web_shop, role=ProjectRole.MEMBER)
        project_membership_add(user=users["bob"], project=web_shop, role=ProjectRole.MANAGER)
        project_membership_add(user=users["dave"], project=data_lab, role=ProjectRole.MEMBER)
        organization_membership_add(
            user=users["carol"], organization=acme, role=OrganizationRole.FINANCE
        )

        account, _ = CloudAccount.objects.update_or_create(
            name="sandbox", defaults={"organization": acme, "provider": "sandbox"}
        )
        account.projects.set([web_shop, data_lab])
        card, _ = RateCard.objects.update_or_create(
            cloud_account=account, defaults={"name": "Sandbox list prices", "currency": "USD"}
        )
        for size, price in HOURLY_PRICES.items():
            Rate.objects.update_or_create(
                rate_card=card,
                resource_kind="server",
                size=size,
                defaults={"hourly_price": price},
            )

        compute, _ = Category.objects.update_or_create(
            slug="compute", defaults={"name": "Compute", "description": "Virtual machines"}
        )
        CatalogItem.objects.update_or_create(
            slug="linux-vm",
            defaults={
                "name": "Linux VM",
                "category": compute,
                "description": "A Debian server with a public address, ready in a minute.",
                "parameters": LINUX_VM_PARAMETERS,
                "resources": [
                    {"kind": "server", "name": "{name}", "properties": {"size": "{size}"}}
                ],
            },
        )
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Logins (password: {password}):"))
        self.stdout.write("  alice  member of web-shop (orders)")
        self.stdout.write("  bob    manager of web-shop (approves)")
        self.stdout.write("  carol  finance for Acme")
        self.stdout.write("  dave   member of data-lab")
        self.stdout.write("  admin  superuser (/admin/)")

    def _user(self, username: str, password: str):
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@acme.example"}
        )
        if created:
            user.set_password(password)
            user.save()
        return user
