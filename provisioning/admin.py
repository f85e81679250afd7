from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from provisioning.models import (
    CloudAccount,
    Deployment,
    Drift,
    DriftPolicy,
    Resource,
    ResourceEvent,
    Step,
    UnknownObject,
)
from provisioning.services.accounts import (
    ACCOUNT_FIELDS,
    cloud_account_create,
    cloud_account_delete,
    cloud_account_test,
    cloud_account_update,
    cloud_account_validate,
)


class WriteOnlyJSONField(forms.JSONField):
    """A JSON box that starts empty: no value is shown as nothing, not as `null`."""

    def prepare_value(self, value):
        return "" if value is None else super().prepare_value(value)


class CloudAccountForm(forms.ModelForm):
    # Write-only: the stored credentials are never shown; leave empty to keep them.
    new_credentials = WriteOnlyJSONField(
        required=False,
        label="Credentials",
        help_text='A JSON object, e.g. {"access_key": "…", "secret_key": "…"}. '
        "Leave empty to keep the stored ones; they are never displayed.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    endpoint_url = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = CloudAccount
        fields = [
            "name",
            "organization",
            "provider",
            "region",
            "endpoint_url",
            "options",
            "projects",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["new_credentials"] = None

    def clean_options(self) -> dict:
        return self.cleaned_data["options"] or {}  # an empty box: no knobs

    def account_data(self) -> dict:
        """The form's fields, in the shape provisioning's account services take."""
        data = {
            name: self.cleaned_data[name]
            for name in (*ACCOUNT_FIELDS, "projects")
            if name in self.cleaned_data
        }
        if self.cleaned_data.get("new_credentials"):
            data["credentials"] = self.cleaned_data["new_credentials"]
        return data

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization") or (
            self.instance.organization if self.instance.pk else None
        )
        if organization is not None and not self.errors:
            try:
                cloud_account_validate(
                    organization=organization,
                    data=self.account_data(),
                    account=self.instance if self.instance.pk else None,
                )
            except ValidationError as error:
                for name, errors in error.message_dict.items():
                    field = "new_credentials" if name == "credentials" else name
                    self.add_error(field if field in self.fields else None, errors)
        return cleaned


@admin.register(CloudAccount)
class CloudAccountAdmin(admin.ModelAdmin):
    form = CloudAccountForm
    list_display = ["name", "provider", "organization", "region", "endpoint_url", "has_credentials"]
    filter_horizontal = ["projects"]
    actions = ["test_connection"]

    # Writes go through provisioning's services, as the API's do: credentials encrypted the
    # same way, an audit event naming who changed what, the cached options dropped.
    def get_readonly_fields(self, request, obj=None):
        # An account does not move between organizations (as in the API).
        return ["organization"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            cloud_account_update(user=request.user, account=obj, data=form.account_data())
        else:
            account = cloud_account_create(
                user=request.user, organization=obj.organization, data=form.account_data()
            )
            obj.pk = account.pk  # the admin logs and redirects to the object it handed us

    def save_related(self, request, form, formsets, change):
        # The services saved the projects; only inlines (none today) are left.
        for formset in formsets:
            self.save_formset(request, form, formset, change)

    def delete_model(self, request, obj):
        cloud_account_delete(user=request.user, account=obj)

    def delete_queryset(self, request, queryset):
        for account in queryset:
            cloud_account_delete(user=request.user, account=account)

    @admin.display(boolean=True)
    def has_credentials(self, account: CloudAccount) -> bool:
        return bool(account.credentials_encrypted)

    @admin.action(description="Test connection")
    def test_connection(self, request, queryset):
        for account in queryset:
            problem = cloud_account_test(user=request.user, account=account)
            if problem:
                self.message_user(request, f"{account}: {problem}", messages.ERROR)
            else:
                self.message_user(request, f"{account}: connection works", messages.SUCCESS)


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "key", "project", "state", "external_id"]
    list_filter = ["state", "kind"]
    readonly_fields = ["state"]
    exclude = ["secret_encrypted"]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ["id", "order", "direction", "state", "created_at", "finished_at"]
    list_filter = ["direction", "state"]
    readonly_fields = ["state"]


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ["resource", "action", "state", "attempts", "deployment", "created_at"]
    list_filter = ["state", "action"]
    readonly_fields = ["state"]


@admin.register(ResourceEvent)
class ResourceEventAdmin(admin.ModelAdmin):
    list_display = ["resource", "kind", "at", "size", "quantity"]
    list_filter = ["kind"]


@admin.register(UnknownObject)
class UnknownObjectAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "external_id", "account", "first_seen", "last_seen"]
    list_filter = ["account", "kind"]


@admin.register(DriftPolicy)
class DriftPolicyAdmin(admin.ModelAdmin):
    list_display = ["organization", "cloud_account", "action"]
    list_filter = ["action"]


@admin.register(Drift)
class DriftAdmin(admin.ModelAdmin):
    """The reconciler's findings: read-only."""

    list_display = [
        "resource",
        "field",
        "recorded",
        "reported",
        "outcome",
        "detected_at",
        "resolved_at",
    ]
    list_filter = ["field", "outcome"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
