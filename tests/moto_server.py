"""moto's AWS API (EC2, ELB, Route53) on a loopback port, speaking the dialect libcloud 3.9 expects.

The test suite runs this module in a subprocess (`python -m tests.moto_server`), so the test and a
real Celery worker process see the same cloud. It prints its URL on the first line of stdout.

`LibcloudCompat` is a small WSGI wrapper around moto's app that fixes the mismatches between moto
5.2 and libcloud 3.9 measured on this machine, each where real AWS and libcloud agree:
1. moto routes SigV2-signed EC2 calls to S3: route by the API (EC2's `Version`) instead;
2. moto's EC2 xmlns lacks the trailing slash AWS uses, so libcloud finds no elements;
3. moto puts an xmlns on EC2 error `<Response>`; AWS does not, and libcloud then loses the message;
4. libcloud numbers CreateTags' `ResourceId.N`/`Tag.N.*` from 0; moto only reads from 1;
5. moto omits `<return>true</return>` from empty results, so libcloud reports False;
6. DetachVolume without InstanceId (libcloud never sends one) fails in moto with a 500;
7. libcloud's ELB driver posts to `/2012-06-01/` (moto routes only `/`), and its Route53 driver
   uses the 2012-02-29 API with the old `X-Amzn-Authorization: AWS3` header, which moto mistakes
   for S3 and answers in the 2013-04-01 namespace;
8. when moto checks credentials, EC2's AuthFailure comes as `<ErrorResponse>` with a `<Type>`
   element (the query-API shape of other services); EC2 answers `<Response>` with Code and
   Message only, and libcloud cannot unpack the extra element.
"""

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import requests
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

EC2_VERSION = "2016-11-15"
ELB_ROOT = "/2012-06-01/"
ROUTE53_OLD, ROUTE53_NEW = "2012-02-29", "2013-04-01"
HOSTS = {
    "ec2": "ec2.us-east-1.amazonaws.com",
    "elb": "elasticloadbalancing.us-east-1.amazonaws.com",
    "route53": "route53.amazonaws.com",
}
# An EC2 answer holding nothing but its request id, where AWS also says <return>true</return>.
RETURN_TRUE = re.compile(
    r"<(\w+Response)( xmlns=\"[^\"]*\")?>\s*(<requestId>[^<]*</requestId>)?\s*</\1>"
)

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def _read_body(environ: Environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = BytesIO(body)
    return body


def _set_body(environ: Environ, body: bytes) -> None:
    environ["wsgi.input"] = BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


def _replace_path(environ: Environ, prefix: str, new_prefix: str) -> None:
    # moto reads the raw request URI as well as PATH_INFO
    for key in ("PATH_INFO", "REQUEST_URI", "RAW_URI"):
        if environ.get(key, "").startswith(prefix):
            environ[key] = new_prefix + environ[key][len(prefix) :]


def _service(environ: Environ, params: dict[str, str]) -> str | None:
    path = environ.get("PATH_INFO", "")
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if path.startswith(f"/{ROUTE53_OLD}/"):
        return "route53"
    if path.startswith(ELB_ROOT) or "/elasticloadbalancing/" in auth:
        return "elb"
    if "/ec2/" in auth or params.get("Version") == EC2_VERSION:
        return "ec2"
    return None


def _one_based(params: dict[str, str]) -> dict[str, str]:
    """CreateTags with libcloud's 0-based indexes, renumbered from 1 (mismatch 4)."""
    if "ResourceId.0" not in params and "Tag.0.Key" not in params:
        return params
    renumbered = {}
    for key, value in params.items():
        match = re.fullmatch(r"(ResourceId|Tag)\.(\d+)(\..*)?", key)
        if match:
            key = f"{match[1]}.{int(match[2]) + 1}{match[3] or ''}"
        renumbered[key] = value
    return renumbered


def _region(environ: Environ) -> str:
    # SigV4's credential scope: "Credential=KEY/20261123/us-east-1/ec2/aws4_request"
    match = re.search(r"Credential=[^/]+/\d+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    return match[1] if match else "us-east-1"


def _with_instance_id(params: dict[str, str], region: str) -> dict[str, str]:
    """DetachVolume names only the volume; moto needs its instance too (mismatch 6)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[DEFAULT_ACCOUNT_ID][region]
    volume = backend.volumes.get(params["VolumeId"])
    if volume is not None and volume.attachment is not None:
        return {**params, "InstanceId": volume.attachment.instance.id}
    return params


class LibcloudCompat:
    def __init__(self) -> None:
        self.moto = DomainDispatcherApplication(create_backend_app)

    def _app(self, service: str) -> Callable:
        backend = self.moto.get_backend_for_host(HOSTS[service])
        with self.moto.lock:
            if backend not in self.moto.app_instances:
                self.moto.app_instances[backend] = self.moto.create_app(backend)
            return self.moto.app_instances[backend]

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        body = _read_body(environ)
        is_form = environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
        params = dict(parse_qsl(body.decode())) if is_form else {}
        params.update(parse_qsl(environ.get("QUERY_STRING", "")))
        service = _service(environ, params)
        if service is None:
            return self.moto(environ, start_response)
        if service == "ec2":
            return self._ec2(environ, start_response, body, is_form, params)
        if service == "elb":
            _replace_path(environ, ELB_ROOT, "/")
        if service == "route53":
            _replace_path(environ, f"/{ROUTE53_OLD}/", f"/{ROUTE53_NEW}/")
            _set_body(environ, body.replace(ROUTE53_OLD.encode(), ROUTE53_NEW.encode()))
            return self._call(service, environ, start_response, self._route53_response)
        return self._call(service, environ, start_response, None)

    def _ec2(
        self,
        environ: Environ,
        start_response: StartResponse,
        body: bytes,
        is_form: bool,
        params: dict[str, str],
    ) -> Iterable[bytes]:
        fixed = params
        if params.get("Action") == "CreateTags":
            fixed = _one_based(params)
        elif params.get("Action") == "DetachVolume" and "InstanceId" not in params:
            fixed = _with_instance_id(params, _region(environ))
        if fixed is not params:
            if is_form:
                _set_body(environ, urlencode(fixed).encode())
            else:
                environ["QUERY_STRING"] = urlencode(fixed)
        return self._call("ec2", environ, start_response, self._ec2_response)

    def _call(
        self,
        service: str,
        environ: Environ,
        start_response: StartResponse,
        rewrite: Callable[[bytes], bytes] | None,
    ) -> Iterable[bytes]:
        if rewrite is None:
            return self._app(service)(environ, start_response)
        captured: list = []

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured[:] = [status, headers]
            return lambda data: None

        chunks = self._app(service)(environ, capture)
        try:
            content = rewrite(b"".join(chunks))
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status, headers = captured
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(content)))])
        return [content]

    @staticmethod
    def _ec2_response(content: bytes) -> bytes:
        text = content.decode()
        namespace = f"http://ec2.amazonaws.com/doc/{EC2_VERSION}"
        text = text.replace(f'"{namespace}"', f'"{namespace}/"')  # mismatch 2
        text = re.sub(r"<Response xmlns=\"[^\"]*\">", "<Response>", text)  # mismatch 3
        if text.lstrip().startswith("<?xml") and "<ErrorResponse>" in text:  # mismatch 8
            text = re.sub(r"<Type>[^<]*</Type>", "", text)
            text = text.replace("ErrorResponse>", "Response>")
        text = RETURN_TRUE.sub(  # mismatch 5
            lambda m: f"<{m[1]}{m[2] or ''}>{m[3] or ''}<return>true</return></{m[1]}>", text
        )
        return text.encode()

    @staticmethod
    def _route53_response(content: bytes) -> bytes:
        return content.replace(ROUTE53_NEW.encode(), ROUTE53_OLD.encode())


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """One moto server for the session, in its own process so Celery workers can reach it."""
    yield from start_moto()


@pytest.fixture
def moto(moto_url: str) -> str:
    """The session's moto server, emptied: every test starts with a fresh cloud."""
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    return moto_url


def boto(url: str, service: str) -> Any:
    """A boto3 client for checking, at moto, what the code under test did."""
    import boto3

    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="AKIDCHECK",
        aws_secret_access_key="check",
    )


def start_moto(**env: str) -> Iterator[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.moto_server"],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = server.stdout.readline().strip()  # blocks until the server listens (or dies)
        if not url:
            pytest.fail("moto server did not start")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    server = make_server(
        "127.0.0.1", 0, LibcloudCompat(), threaded=True, request_handler=MotoRequestHandler
    )
    print(f"http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
