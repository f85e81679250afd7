"""Where a cloud account's server utilisation comes from: one interface, many servers per call.

Canopy's policies (idle reclaim, autoscaling) and charts read CPU % and network kbps per server.
Clouds keep them outside the compute API, so each account names its source in
`options["metrics"]`:

- `{"source": "cloudwatch"}`: Amazon CloudWatch, `AWS/EC2` CPUUtilization (average) and
  NetworkIn + NetworkOut (bytes per datapoint, divided by the instances' monitoring
  `interval`: 300 s basic, 60 s detailed). Optional `region`, `endpoint_url` (else the
  account's) and `interval`. The default of `ec2` accounts.
- `{"source": "prometheus", "url": "http://prometheus:9090"}`: PromQL over Prometheus's HTTP API
  (`/api/v1/query_range`); series are matched to servers by the label `label` (default
  `instance`, relabelled to the cloud's instance id in the scrape config). `cpu_query` and
  `network_query` override node_exporter's defaults; in them `$label` is the label,
  `$instances` a regex of the servers' ids and `$window` the rate window: the step, at
  least `rate_window` seconds (default 60; keep it above two scrape intervals). A point's
  value is the rate over the window before its instant. Optional `username`/`password`
  (basic auth) and `timeout` (seconds).
- `{"source": "simulated"}`: the sandbox's simulation (the default of `sandbox` accounts).
- `{"source": "none"}`: no metrics (the default of the other providers): CPU/network policies
  never act there and idle reclaim never starts.
"""

import logging
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from string import Template
from typing import Any, ClassVar

import boto3
import requests
from botocore.exceptions import BotoCoreError, ClientError

from provisioning.models import CloudAccount
from provisioning.providers import REGISTRY, get_adapter
from provisioning.providers.base import (
    SIMULATED_METRICS,
    MetricMean,
    MetricPoint,
    ProviderError,
    points_mean,
)

logger = logging.getLogger(__name__)

Series = dict[str, list[MetricPoint]]


class MetricsSource(ABC):
    """One account's metrics. `series` answers for many servers in one call."""

    name: ClassVar[str]

    def __init__(self, account: CloudAccount, settings: dict[str, Any]) -> None:
        self.account = account
        self.settings = settings

    @abstractmethod
    def series(
        self, external_ids: Sequence[str], since: datetime, until: datetime, step: timedelta
    ) -> Series:
        """Each server's points in [since, until), oldest first, a step apart and at the same
        instants for every server of the call (a source may widen the step to its own
        resolution). A server the source knows nothing about is left out. Raises
        ProviderError when the source fails."""

    def means(
        self, external_ids: Sequence[str], since: datetime, until: datetime, step: timedelta
    ) -> dict[str, MetricMean]:
        """Each server's mean over the points `series` would answer (what a policy judges on);
        a source that can compute it without sending every point overrides this."""
        series = self.series(external_ids, since, until, step)
        return {
            instance: mean for instance, points in series.items() if (mean := points_mean(points))
        }


class NoMetrics(MetricsSource):
    name = "none"

    def series(
        self, external_ids: Sequence[str], since: datetime, until: datetime, step: timedelta
    ) -> Series:
        return {}


class SimulatedMetrics(MetricsSource):
    name = "simulated"

    def series(
        self, external_ids: Sequence[str], since: datetime, until: datetime, step: timedelta
    ) -> Series:
        if not _simulates(self.account.provider):
            raise ProviderError(f"Only {_simulating()} accounts have simulated metrics")
        adapter = get_adapter(self.account)
        return adapter.simulated_metrics(list(external_ids), since, until, step)

    def means(
        self, external_ids: Sequence[str], since: datetime, until: datetime, step: timedelta
    ) -> dict[str, MetricMean]:
        if not _simulates(self.account.provider):
            raise ProviderError(f"Only {_simulating()} accounts have simulated metrics")
        return get_adapter(self.account).simulated_means(list(external_ids), since, until, step)


def _simulates(provider: str) -> bool:
    return SIMULATED_METRICS in getattr(REGISTRY.get(provider), "features", ())


def _simulating() -> str:
    """The providers whose adapters simulate metrics, for messages."""
    return ", ".join(provider for provider in REGISTRY if _simulates(provider))


def _grid(since: datetime, until: datetime, seconds: int) -> tuple[int, int] | None:
    """The first and last multiple of `seconds` in [since, until), as epoch seconds."""
    first = math.ceil(since.timestamp() / seconds) * seconds
    last = math.ceil(until.timestamp() / seconds) * seconds - seconds
    return (first, last) if first <= last else None


def _points(cpu: dict[float, float], network: dict[float, float]) -> list[MetricPoint]:
    """Instants (epoch seconds) with both a CPU and a network value: half a reading is no
    evidence."""
    return [
        MetricPoint(
            at=datetime.fromtimestamp(at, tz=UTC),
            cpu_percent=round(cpu[at], 1),
            network_kbps=round(network[at], 1),
        )
        for at in sorted(cpu.keys() & network.keys())
    ]


THROTTLED = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded"})


class CloudWatchMetrics(MetricsSource):
    name = "cloudwatch"
    # GetMetricData takes at most 500 queries; each server needs three.
    SERVERS_PER_CALL = 160
    METRICS = (("cpu", "CPUUtilization"), ("in", "NetworkIn"), ("out", "NetworkOut"))

    def _client(self) -> Any:
        credentials = self.account.credentials
        if not credentials.get("access_key") or not credentials.get("secret_key"):
            raise ProviderError("CloudWatch needs the account's access_key and secret_key")
        return boto3.client(
            "cloudwatch",
            region_name=self.settings.get("region") or self.account.region or "us-east-1",
            endpoint_url=self.settings.get("endpoint_url") or self.account.endpoint_url or None,
            aws_access_key_id=credentials["access_key"],
            aws_secret_access_key=credentials["secret_key"],
        )

    def series(
        self, external_ids: Sequence[str], since: datetime, until: datetime, step: timedelta
    ) -> Series:
        # Standard-resolution periods are whole minutes.
        period = max(60, math.ceil(step.total_seconds() / 60) * 60)
        grid = _grid(since, until, period)
        if grid is None or not external_ids:
            return {}
        interval = int(self.settings.get("interval", 300))
        start = datetime.fromtimestamp(grid[0], tz=UTC)
        end = datetime.fromtimestamp(grid[1] + period, tz=UTC)
        values: dict[tuple[str, str], dict[float, float]] = {}
        client = self._client()
        ids = list(external_ids)
        try:
            for offset in range(0, len(ids), self.SERVERS_PER_CALL):
                chunk = ids[offset : offset + self.SERVERS_PER_CALL]
                queries = [
                    {
                        "Id": f"{key}{index}",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/EC2",
                                "MetricName": metric,
                                "Dimensions": [{"Name": "InstanceId", "Value": instance}],
                            },
                            "Period": period,
                            "Stat": "Average",
                        },
                    }
                    for index, instance in enumerate(chunk)
                    for key, metric in self.METRICS
                ]
                pages = client.get_paginator("get_metric_data").paginate(
                    MetricDataQueries=queries, StartTime=start, EndTime=end
                )
                for page in pages:
                    for result in page["MetricDataResults"]:
                        key, index = re.fullmatch(r"([a-z]+)(\d+)", result["Id"]).groups()
                        found = values.setdefault((chunk[int(index)], key), {})
                        for at, value in zip(result["Timestamps"], result["Values"], strict=True):
                            if grid[0] <= (instant := int(at.timestamp())) <= grid[1]:
                                found[instant] = float(value)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            raise ProviderError(f"CloudWatch: {error}", transient=code in THROTTLED) from error
        except BotoCoreError as error:  # the endpoint did not answer
            raise ProviderError(f"CloudWatch: {error}", transient=True) from error
        series = {}
        for instance in ids:
            cpu = values.get((instance, "cpu"), {})
            received, sent = values.get((instance, "in"), {}), values.get((instance, "out"), {})
            # Bytes per datapoint → kbit/s.
            network = {
                at: (received[at] + sent.get(at, 0.0)) * 8 / 1000 / interval for at in received
            }
            if points := _points(cpu, network):
                series[instance] = points
        return series


# node_exporter's counters, per instance.
DEFAULT_CPU_QUERY = (
    '100 * (1 - avg by ($label) (rate(node_cpu_seconds_total{mode="idle", '
    '$label=~"$instances"}[$window])))'
)
DEFAULT_NETWORK_QUERY = (
    'sum by ($label) (rate(node_network_receive_bytes_total{$label=~"$instances"}[$window]) '
    '+ rate(node_network_transmit_bytes_total{$label=~"$instances"}[$window])) * 8 / 1000'
)


def _promql_regex(values: Sequence[str]) -> str:
    """A regex matching exactly these values, escaped for a double-quoted PromQL string."""
    pattern = "|".join(re.escape(value) for value in values)
    return pattern.replace("\\", "\\\\").replace('"', '\\"')


class PrometheusMetrics(MetricsSource):
    name = "prometheus"
    # Keeps each query's regex (and request body) of a sane size.
    SERVERS_PER_CALL = 200

    def _query_range(self, query: str, start: int, end: int, step: int) -> list[dict]:
        auth = None
        if self.settings.get("username"):
            auth = (self.settings["username"], self.settings.get("password", ""))
        url = self.settings["url"].rstrip("/") + "/api/v1/query_range"
        try:
            response = requests.post(
                url,
                data={"query": query, "start": start, "end": end, "step": step},
                auth=auth,
                timeout=float(self.settings.get("timeout", 10)),
            )
        except requests.RequestException as error:
            message = f"Cannot reach Prometheus at {url}: {error}"
            raise ProviderError(message, transient=True) from error
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code != 200 or answer.get("status") != "success":
            message = answer.get("error") or response.text[:200]
            raise ProviderError(
                f"Prometheus answered {response.status_code}: {message}",
                transient=response.status_code >= 500,
            )
        return answer["data"]["result"]

    def series(
        self, external_ids: Sequence[str], since: datetime, until: datetime, step: timedelta
    ) -> Series:
        """Instants step apart ending just before `until` (the freshest rates), not on the
        epoch's multiples: a rate at an instant covers the window before it, and anchoring at
        the end keeps the last window inside what Prometheus has scraped."""
        seconds = max(int(step.total_seconds()), 1)
        end = until.timestamp() - 0.001
        count = math.floor((end - since.timestamp()) / seconds)
        if count < 0 or not external_ids:
            return {}
        grid = (round(end - count * seconds, 3), round(end, 3))
        label = self.settings.get("label", "instance")
        window = max(seconds, int(self.settings.get("rate_window", 60)))
        templates = {
            "cpu": Template(self.settings.get("cpu_query") or DEFAULT_CPU_QUERY),
            "network": Template(self.settings.get("network_query") or DEFAULT_NETWORK_QUERY),
        }
        ids = list(external_ids)
        values: dict[str, dict[str, dict[float, float]]] = {"cpu": {}, "network": {}}
        for offset in range(0, len(ids), self.SERVERS_PER_CALL):
            chunk = ids[offset : offset + self.SERVERS_PER_CALL]
            fields = {"label": label, "instances": _promql_regex(chunk), "window": f"{window}s"}
            for key, template in templates.items():
                for result in self._query_range(template.substitute(fields), *grid, seconds):
                    instance = result["metric"].get(label)
                    found = values[key].setdefault(instance, {})
                    for at, value in result["values"]:
                        if math.isfinite(number := float(value)):
                            found[round(float(at), 3)] = number
        series = {}
        for instance in ids:
            points = _points(values["cpu"].get(instance, {}), values["network"].get(instance, {}))
            if points:
                series[instance] = points
        return series


SOURCES: dict[str, type[MetricsSource]] = {
    source.name: source
    for source in (NoMetrics, SimulatedMetrics, CloudWatchMetrics, PrometheusMetrics)
}
# The source of a provider without a choice of its own (a simulating adapter's: simulated).
DEFAULT_SOURCES = {CloudAccount.Provider.EC2: CloudWatchMetrics.name}


def metrics_settings(options: dict[str, Any], provider: str) -> dict[str, Any]:
    """The account's metrics settings with the provider's default source filled in."""
    settings = dict(options.get("metrics") or {})
    default = SimulatedMetrics.name if _simulates(provider) else NoMetrics.name
    settings.setdefault("source", DEFAULT_SOURCES.get(provider, default))
    return settings


def metrics_settings_problems(options: dict[str, Any], provider: str) -> list[str]:
    """What is wrong with `options["metrics"]`, in words (empty: fine)."""
    raw = options.get("metrics")
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return ['"metrics" must be an object such as {"source": "prometheus", "url": "…"}.']
    settings = metrics_settings(options, provider)
    source = settings["source"]
    if source not in SOURCES:
        return [f'Unknown metrics source "{source}": use {", ".join(sorted(SOURCES))}.']
    problems = []
    if source == SimulatedMetrics.name and not _simulates(provider):
        problems.append(f"Only {_simulating()} accounts have simulated metrics.")
    if source == PrometheusMetrics.name and not str(settings.get("url", "")).startswith(
        ("http://", "https://")
    ):
        problems.append("A Prometheus source needs its http(s) url.")
    if source == CloudWatchMetrics.name:
        interval = settings.get("interval", 300)
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            problems.append("The CloudWatch interval is a datapoint's period in whole seconds.")
    if source == PrometheusMetrics.name:
        window = settings.get("rate_window", 60)
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            problems.append("The Prometheus rate_window is a whole number of seconds.")
    for key in ("cpu_query", "network_query"):
        if key in settings and "$instances" not in str(settings[key]):
            problems.append(f"{key} must select the servers with $instances.")
    return problems


def metrics_source(account: CloudAccount) -> MetricsSource:
    settings = metrics_settings(account.options or {}, account.provider)
    try:
        source_class = SOURCES[settings["source"]]
    except KeyError:
        raise ProviderError(f"Unknown metrics source {settings['source']!r}") from None
    return source_class(account, settings)
