"""The shell's own rows: the rollups the dashboard and /metrics read (`portal.rollups`)."""

from django.db import models

from core.models import Project


class ResourceCount(models.Model):
    """How many resources of a project are in a state, on a provider, of a kind, as of
    `refreshed_at`: a rollup that beat recomputes (`portal.rollups`), so the dashboard and
    /metrics read a few hundred rows whatever the size of the estate."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=32)
    provider = models.CharField(max_length=32)
    kind = models.CharField(max_length=32)
    n = models.PositiveIntegerField()
    refreshed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "state", "provider", "kind"], name="resource_count_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project_id}: {self.n} {self.state} {self.kind} on {self.provider}"


class StepCount(models.Model):
    """How many provider steps are in a state, for a provider and resource kind, and how many
    retries they took, as of `refreshed_at`: /metrics' step counters, recomputed by beat with
    `ResourceCount` (`portal.rollups`) instead of a GROUP BY over every step ever run."""

    state = models.CharField(max_length=50)
    provider = models.CharField(max_length=32)
    kind = models.CharField(max_length=32)
    n = models.PositiveIntegerField()
    retries = models.PositiveIntegerField()
    refreshed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["state", "provider", "kind"], name="step_count_unique")
        ]

    def __str__(self) -> str:
        return f"{self.n} {self.state} steps of {self.kind} on {self.provider}"
