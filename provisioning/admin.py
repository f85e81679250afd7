from django import forms
from django.contrib import admin, messages

from provisioning.models import (
    CloudAccount,
    Deployment,
    Resource,
    ResourceEvent,
    Step,
    UnknownObject,
)
from provisioning.services import cloud_account_test


class CloudAccountForm(forms.ModelForm):
    # Write-only: the stored credentials are never shown; leave empty to keep them.
    new_credentials = forms.JSONField(
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

    def clean_new_credentials(self):
        value = self.cleaned_data["new_credentials"]
        if value and not (
            isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        ):
            raise forms.ValidationError("An object of text values is expected.")
        return value

    def save(self, commit=True):
        if self.cleaned_data.get("new_credentials"):
            self.instance.credentials = self.cleaned_data["new_credentials"]
        return super().save(commit)


@admin.register(CloudAccount)
class CloudAccountAdmin(admin.ModelAdmin):
    form = CloudAccountForm
    list_display = ["name", "provider", "organization", "region", "endpoint_url", "has_credentials"]
    filter_horizontal = ["projects"]
    actions = ["test_connection"]

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
