"""Build the demo organization: users, projects, a sandbox account, the catalog and its prices.

Idempotent: running it again updates what exists and creates nothing twice.
"""

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from approvals.models import ApprovalPolicy, ApproverRole, Quota
from approvals.services.policies import policy_save
from billing.models import BillingProfile, Budget, Rate, RateCard, Unit
from catalog.services import DEFAULT_CATALOG, catalog_load_yaml
from core.models import Organization, OrganizationRole, Project, ProjectRole
from core.services import organization_membership_add, project_membership_add
from portal import demo_history
from portal.demo_workload import autoscaling_demo_seed, lifecycle_demo_seed
from provisioning.models import CloudAccount

# The list prices' first version; the demo's history adds a later one (a price cut), so a
# second `seed_demo` must name the version it updates.
LIST_PRICES_SINCE = date(2000, 1, 1)
HOURLY_PRICES = {
    "small": Decimal("0.0200"),
    "medium": Decimal("0.0400"),
    "large": Decimal("0.0800"),
}
# (kind, size or "" for any, unit, price): the other kinds a catalog item can order. A
# database's server is charged at the database rate, its data volume at the volume rate.
OTHER_RATES = [
    ("network", "", Unit.HOUR, Decimal("0")),  # free, and priced: a missing price is refused
    ("volume", "", Unit.GB_MONTH, Decimal("0.10")),
    ("load_balancer", "", Unit.HOUR, Decimal("0.025")),
    ("dns_record", "", Unit.MONTH, Decimal("0.50")),
    ("database", "small", Unit.HOUR, Decimal("0.0500")),
    ("database", "medium", Unit.HOUR, Decimal("0.1000")),
    ("database", "large", Unit.HOUR, Decimal("0.2000")),
]


class Command(BaseCommand):
    help = "Create the demo organization, users, sandbox cloud and catalog (idempotent)."

    def handle(self, *args, **options) -> None:
        password = settings.CANOPY_DEMO_PASSWORD
        self._seed(password)
        # After the commit, so that the logins come after the demo's emails (console backend).
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Logins (password: {password}):"))
        self.stdout.write("  alice  member of web-shop (orders)")
        self.stdout.write("  bob    manager of web-shop (approves)")
        self.stdout.write("  carol  finance for Acme")
        self.stdout.write("  dave   member of data-lab")
        self.stdout.write("  admin  superuser (/admin/)")

    @transaction.atomic
    def _seed(self, password: str) -> None:
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
        # Acme's default card: the sandbox and every account added later price with it until
        # they get a card of their own. (Earlier demos gave the sandbox its own card.)
        RateCard.objects.filter(cloud_account=account, name="Sandbox list prices").update(
            cloud_account=None, organization=acme
        )
        card, _ = RateCard.objects.update_or_create(
            organization=acme,
            cloud_account=None,
            is_draft=False,
            defaults={"name": "Acme list prices", "currency": "USD"},
        )
        rates = [("server", size, Unit.HOUR, price) for size, price in HOURLY_PRICES.items()]
        for kind, size, unit, price in rates + OTHER_RATES:
            Rate.objects.update_or_create(
                rate_card=card,
                resource_kind=kind,
                size=size,
                unit=unit,
                effective_from=LIST_PRICES_SINCE,
                defaults={"price": price},
            )
        BillingProfile.objects.get_or_create(organization=acme, defaults={"currency": "USD"})
        Budget.objects.update_or_create(
            organization=acme, project=web_shop, defaults={"monthly_amount": Decimal("50.00")}
        )
        Budget.objects.update_or_create(
            organization=acme, cost_center="CC-200", defaults={"monthly_amount": Decimal("100.00")}
        )

        catalog_load_yaml(text=DEFAULT_CATALOG.read_text())
        # Approvals: bob decides web-shop's orders, carol too above 50/month; changes adding
        # under 20/month and deletions approve themselves, except a database's (bob decides);
        # data-lab's small orders approve themselves, bigger ones go to carol. Quotas keep both
        # projects bounded.
        for project, limits in [
            (web_shop, {"max_servers": 20, "max_vcpus": 40}),
            (data_lab, {"max_servers": 5, "max_monthly_cost": Decimal("200")}),
        ]:
            Quota.objects.update_or_create(project=project, defaults=limits)
        manager = {"name": "Manager", "role": ApproverRole.PROJECT_MANAGER, "sla_hours": 48}
        finance = {"name": "Finance", "role": ApproverRole.FINANCE, "sla_hours": 72}
        for name, fields, stages in [
            (
                "Acme standard",
                {"organization": acme, "distinct_approvers": True},
                [manager, {**finance, "skip_at_or_below": Decimal("50")}],
            ),
            (
                # Changes are judged like orders: a resize to large is judged at the large
                # price (Finance above 50/month), so ordering small and resizing skips nothing.
                "Acme small changes",
                {
                    "organization": acme,
                    "order_kinds": ["change"],
                    "max_cost_delta": Decimal("20"),
                    "auto_approve_below": Decimal("20"),
                },
                [manager],
            ),
            (
                "Acme deletions",
                {
                    "organization": acme,
                    "order_kinds": ["destroy"],
                    "auto_approve_below": Decimal("0.01"),
                },
                [manager],
            ),
            (
                "Acme database deletions",
                {"organization": acme, "order_kinds": ["destroy"], "resource_kinds": ["database"]},
                [manager],
            ),
            (
                "data-lab self-service",
                {"project": data_lab, "auto_approve_below": Decimal("50")},
                [finance],
            ),
        ]:
            policy_save(
                policy=ApprovalPolicy.objects.filter(name=name).first(),
                fields={"name": name, **fields},
                stages=stages,
            )
        lifecycle_demo_seed()  # a lease running out and an idle server, in data-lab
        autoscaling_demo_seed()  # web-shop's autoscaling group under a wave load
        if settings.CANOPY_DEMO_WORKLOAD:
            # Three months of costs: trends, closed statements, a budget alert from the start.
            demo_history.seed()

    def _user(self, username: str, password: str):
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@acme.example"}
        )
        if created:
            user.set_password(password)
            user.save()
        return user
