"""A real Prometheus (Debian's package, `make prometheus`) on a free loopback port, scraping every
second a small exporter the test serves: node_exporter's CPU and network counters for made-up
servers, labelled with each server's `instance` id (kept through `honor_labels`, as a relabelling
of node_exporter targets would set it).

The counters grow at the rate the test sets per server, so a PromQL `rate` over them gives back
that CPU % and kbps exactly.
"""

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily

from tests.fixtures import wait_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(eq=False)  # a registry keeps its collectors in a dict
class FakeNodes:
    """Per instance id: (CPU %, network kbps); the counters start at the first scrape."""

    loads: dict[str, tuple[float, float]] = field(default_factory=dict)
    origin: float = field(default_factory=time.time)

    def collect(self) -> Iterator[CounterMetricFamily]:
        elapsed = time.time() - self.origin
        cpu = CounterMetricFamily(
            "node_cpu_seconds_total", "CPU seconds", labels=["instance", "cpu", "mode"]
        )
        received = CounterMetricFamily(
            "node_network_receive_bytes_total", "Bytes in", labels=["instance", "device"]
        )
        sent = CounterMetricFamily(
            "node_network_transmit_bytes_total", "Bytes out", labels=["instance", "device"]
        )
        for instance, (cpu_percent, kbps) in sorted(self.loads.items()):
            cpu.add_metric([instance, "0", "idle"], elapsed * (1 - cpu_percent / 100))
            cpu.add_metric([instance, "0", "user"], elapsed * cpu_percent / 100)
            # Half the traffic each way, in bytes.
            received.add_metric([instance, "eth0"], elapsed * kbps * 1000 / 8 / 2)
            sent.add_metric([instance, "eth0"], elapsed * kbps * 1000 / 8 / 2)
        yield from (cpu, received, sent)


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None: ...


@dataclass
class Prometheus:
    url: str
    nodes: FakeNodes

    def query(self, promql: str) -> list[dict]:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        return answer.json()["data"]["result"]

    def wait_for_history(self, instances: list[str], seconds: int) -> None:
        """Until Prometheus holds `seconds` of scrapes of each of these instances (a rate over
        a window needs samples across it)."""
        wanted = "|".join(instances)
        selector = f'node_cpu_seconds_total{{mode="idle", instance=~"{wanted}"}}'
        promql = f"count_over_time({selector}[{seconds}s])"

        def enough() -> bool:
            found = self.query(promql)
            return len(found) == len(instances) and all(
                float(series["value"][1]) >= seconds - 1 for series in found
            )

        wait_until(enough, timeout=seconds + 30, what=f"{seconds} s of scrapes")


@pytest.fixture(scope="module", name="prometheus")
def prometheus_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: run `make prometheus`")
    nodes = FakeNodes()
    registry = CollectorRegistry()
    registry.register(nodes)
    exporter = make_server("127.0.0.1", 0, make_wsgi_app(registry), handler_class=_Quiet)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    home = tmp_path_factory.mktemp("prometheus")
    config = Path(home, "prometheus.yml")
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: nodes\n"
        "    honor_labels: true\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter.server_port}']}}]\n"
    )
    port = free_port()
    with Path(home, "prometheus.log").open("w") as log:
        server = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if server.poll() is not None:
            pytest.fail(f"prometheus exited: {Path(home, 'prometheus.log').read_text()[-2000:]}")
        try:
            return requests.get(f"{url}/-/ready", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_until(ready, timeout=60, what="prometheus ready")
        yield Prometheus(url=url, nodes=nodes)
    finally:
        server.terminate()
        server.wait(timeout=10)
        exporter.shutdown()
