"""A real OpenLDAP server for the directory tests: Debian's slapd (`make directory` installs it)
on a free port, from a temporary slapd.conf (mdb backend) and a small directory of people and
nested groups, serving plain LDAP (StartTLS offered) and LDAPS with a throwaway CA."""

import datetime
import ipaddress
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ldap
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=example,dc=com"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "directory-admin"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"

# erin leads the shop through a nested group (shop-leads ∈ web-shop-managers); frank develops;
# gina's account is disabled (employeeType=disabled: what the user filter leaves out, as
# Active Directory's filter leaves out userAccountControl's disabled bit).
PEOPLE_ENTRIES = {
    "erin": {"givenName": "Erin", "sn": "Lead", "password": "erin-pass-1"},
    "frank": {"givenName": "Frank", "sn": "Dev", "password": "frank-pass-1"},
    "gina": {"givenName": "Gina", "sn": "Gone", "password": "gina-pass-1", "disabled": True},
}
# groupOfNames needs a member: cn=nobody keeps a group valid when its last person leaves.
GROUP_MEMBERS = {
    "shop-leads": [f"uid=erin,{PEOPLE}", f"cn=nobody,{SUFFIX}"],  # never empty
    "web-shop-managers": [f"cn=shop-leads,{GROUPS}"],
    "web-shop-developers": [f"uid=frank,{PEOPLE}", f"uid=gina,{PEOPLE}"],
    "finance": [f"cn=nobody,{SUFFIX}"],
}


def user_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


def group_dn(name: str) -> str:
    return f"cn={name},{GROUPS}"


@dataclass
class Directory:
    """A running slapd and an admin connection to change it as a directory admin would."""

    uri: str
    ldaps_uri: str
    ca_file: str

    def admin(self) -> ldap.ldapobject.LDAPObject:
        connection = ldap.initialize(self.uri)
        connection.simple_bind_s(ADMIN_DN, ADMIN_PASSWORD)
        return connection

    def add_member(self, group: str, member_dn: str) -> None:
        self.admin().modify_s(group_dn(group), [(ldap.MOD_ADD, "member", [member_dn.encode()])])

    def remove_member(self, group: str, member_dn: str) -> None:
        self.admin().modify_s(group_dn(group), [(ldap.MOD_DELETE, "member", [member_dn.encode()])])

    def set_disabled(self, uid: str, disabled: bool) -> None:
        value = [b"disabled" if disabled else b"active"]
        self.admin().modify_s(user_dn(uid), [(ldap.MOD_REPLACE, "employeeType", value)])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Canopy test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return paths


def _entries() -> list[tuple[str, dict[str, list[bytes]]]]:
    def values(**attributes) -> dict[str, list[bytes]]:
        return {
            name: [v.encode() for v in (value if isinstance(value, list) else [value])]
            for name, value in attributes.items()
        }

    entries = [
        (SUFFIX, values(objectClass=["dcObject", "organization"], o="Example", dc="example")),
        (PEOPLE, values(objectClass="organizationalUnit", ou="people")),
        (GROUPS, values(objectClass="organizationalUnit", ou="groups")),
    ]
    for uid, person in PEOPLE_ENTRIES.items():
        entries.append(
            (
                user_dn(uid),
                values(
                    objectClass="inetOrgPerson",
                    uid=uid,
                    cn=f"{person['givenName']} {person['sn']}",
                    givenName=person["givenName"],
                    sn=person["sn"],
                    mail=f"{uid}@example.com",
                    userPassword=person["password"],
                    employeeType="disabled" if person.get("disabled") else "active",
                ),
            )
        )
    # Nested groups first need their members to exist: add leaves before their parents.
    for name in ["shop-leads", "web-shop-managers", "web-shop-developers", "finance"]:
        entries.append(
            (
                group_dn(name),
                values(objectClass="groupOfNames", cn=name, member=GROUP_MEMBERS[name]),
            )
        )
    return entries


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Directory]:
    """A fresh directory per test (slapd starts in a fraction of a second)."""
    assert shutil.which(SLAPD), f"{SLAPD} is missing: run `make test`, which installs it"
    folder = tmp_path / "slapd"
    folder.mkdir()
    (folder / "data").mkdir()
    ca_file, cert_file, key_file = _write_certificates(folder)
    config = folder / "slapd.conf"
    config.write_text(
        "\n".join(
            [
                *(
                    f"include /etc/ldap/schema/{name}.schema"
                    for name in ("core", "cosine", "inetorgperson")
                ),
                "modulepath /usr/lib/ldap",
                "moduleload back_mdb",
                f"pidfile {folder / 'slapd.pid'}",
                f"TLSCACertificateFile {ca_file}",
                f"TLSCertificateFile {cert_file}",
                f"TLSCertificateKeyFile {key_file}",
                "database mdb",
                "maxsize 10485760",
                f'suffix "{SUFFIX}"',
                f'rootdn "{ADMIN_DN}"',
                f"rootpw {ADMIN_PASSWORD}",
                f"directory {folder / 'data'}",
                "access to attrs=userPassword by self read by anonymous auth by * none",
                "access to * by * read",
                "",
            ]
        )
    )
    port, tls_port = _free_port(), _free_port()
    uri, ldaps_uri = f"ldap://127.0.0.1:{port}", f"ldaps://127.0.0.1:{tls_port}"
    log = open(folder / "slapd.log", "w")  # noqa: SIM115  (closed after slapd stops)
    server = subprocess.Popen(
        [SLAPD, "-f", str(config), "-h", f"{uri}/ {ldaps_uri}/", "-d", "stats"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        directory = Directory(uri=uri, ldaps_uri=ldaps_uri, ca_file=str(ca_file))
        admin = _connect_when_up(directory, server, folder)
        for dn, attributes in _entries():
            admin.add_s(dn, list(attributes.items()))
        yield directory
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _connect_when_up(directory: Directory, server: subprocess.Popen, folder: Path):
    deadline = time.monotonic() + 20
    while True:
        try:
            return directory.admin()
        except ldap.SERVER_DOWN:
            if server.poll() is not None or time.monotonic() > deadline:
                log = (folder / "slapd.log").read_text()[-3000:]
                pytest.fail(f"slapd did not start:\n{log}")
            time.sleep(0.1)
