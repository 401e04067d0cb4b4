"""A real OpenLDAP slapd on loopback, with a test CA, for directory tests.

One :class:`Slapd` serves plain LDAP (StartTLS capable) and LDAPS on two
free ports of 127.0.0.1, from an mdb database in a temporary directory.
The test data is written through the root DN with ldap3, so a test can
reset and reshape the tree in milliseconds.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import ldap3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SUFFIX = "dc=example,dc=com"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
# A reader whose searches slapd cuts off after two entries.
LIMITED_DN = f"uid=limited,{PEOPLE}"
SCHEMAS = ("core", "cosine", "nis", "inetorgperson")
START_TIMEOUT = 10.0


def ssha(password: str) -> str:
    """Return an ``{SSHA}`` hash of ``password``, as slappasswd makes."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt, usedforsecurity=False).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """Write a CA and a server certificate for 127.0.0.1; return their paths."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ska test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(names, False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (
        directory / "ca.pem",
        directory / "server.pem",
        directory / "server.key",
    )
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


class Slapd:
    """One slapd process serving ``dc=example,dc=com``."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="ska-slapd-"))
        self.port = free_port()
        self.tls_port = free_port()
        self.ca_file, cert, key = write_certificates(self.directory)
        (self.directory / "data").mkdir()
        self.config = self.directory / "slapd.conf"
        includes = "\n".join(
            f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS
        )
        self.config.write_text(
            f"""{includes}
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {self.directory}/slapd.pid
TLSCACertificateFile {self.ca_file}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
database mdb
maxsize 104857600
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ssha(ROOT_PASSWORD)}
directory {self.directory}/data
index objectClass eq
index uid,cn,memberUid,member eq
limits dn.exact="{LIMITED_DN}" size=2 size.prtotal=2
"""
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the plain ``ldap://`` address."""
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        """Return the ``ldaps://`` address."""
        return f"ldaps://127.0.0.1:{self.tls_port}"

    def start(self) -> None:
        """Start slapd and wait until it answers."""
        urls = f"{self.url}/ {self.tls_url}/"
        self.process = subprocess.Popen(
            ["slapd", "-d", "0", "-f", str(self.config), "-h", urls],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("slapd exited at start") from None
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("slapd did not start listening")

    def stop(self) -> None:
        """Stop the slapd this object started, and only it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def remove(self) -> None:
        """Stop and delete the database and certificates."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def connect(self) -> ldap3.Connection:
        """Return a connection bound as the root DN."""
        return ldap3.Connection(
            ldap3.Server(self.url, connect_timeout=5, get_info=ldap3.NONE),
            ROOT_DN,
            ROOT_PASSWORD,
            auto_bind=True,
            raise_exceptions=True,
            receive_timeout=10,
        )

    def reset(self) -> None:
        """Empty the tree down to the suffix and the two organisational units."""
        with self.connect() as conn:
            conn.raise_exceptions = False
            conn.search(SUFFIX, "(objectClass=*)", ldap3.SUBTREE, attributes=[])
            entries = sorted(
                (entry["dn"] for entry in conn.response if entry.get("dn")),
                key=lambda dn: -dn.count(","),
            )
            for dn in entries:
                conn.delete(dn)
            conn.raise_exceptions = True
            conn.add(SUFFIX, ["dcObject", "organization"], {"o": "Example"})
            conn.add(PEOPLE, ["organizationalUnit"], {"ou": "people"})
            conn.add(GROUPS, ["organizationalUnit"], {"ou": "groups"})

    def add_user(
        self,
        uid: str,
        password: str = "",
        *,
        name: str = "",
        mail: str = "",
        rdn: str = "uid",
        **extra: str,
    ) -> str:
        """Add an inetOrgPerson under ou=people; return its DN."""
        value = uid if rdn == "uid" else (name or uid)
        dn = f"{rdn}={value},{PEOPLE}"
        attributes: dict[str, str] = {
            "uid": uid,
            "cn": name or uid,
            "sn": uid,
            "mail": mail or f"{uid}@example.com",
            **extra,
        }
        if password:
            attributes["userPassword"] = ssha(password)
        with self.connect() as conn:
            conn.add(dn, ["inetOrgPerson"], attributes)
        return dn

    def add_group(self, cn: str, members: list[str]) -> str:
        """Add a groupOfNames listing member DNs; return its DN."""
        dn = f"cn={cn},{GROUPS}"
        with self.connect() as conn:
            conn.add(dn, ["groupOfNames"], {"cn": cn, "member": members or [dn]})
        return dn

    def add_posix_group(self, cn: str, gid: int, member_uids: list[str]) -> str:
        """Add a posixGroup listing member uids; return its DN."""
        dn = f"cn={cn},{GROUPS}"
        attributes: dict[str, object] = {"cn": cn, "gidNumber": str(gid)}
        if member_uids:
            attributes["memberUid"] = member_uids
        with self.connect() as conn:
            conn.add(dn, ["posixGroup"], attributes)
        return dn

    def modify(self, dn: str, **changes: list[str]) -> None:
        """Replace attributes of an entry."""
        with self.connect() as conn:
            conn.modify(
                dn,
                {
                    key: [(ldap3.MODIFY_REPLACE, values)]
                    for key, values in changes.items()
                },
            )

    def rename(self, dn: str, new_rdn: str) -> None:
        """Change the RDN of an entry in place."""
        with self.connect() as conn:
            conn.modify_dn(dn, new_rdn)

    def delete(self, dn: str) -> None:
        """Delete one entry."""
        with self.connect() as conn:
            conn.delete(dn)

    def entry_uuid(self, dn: str) -> str:
        """Return the entryUUID of an entry."""
        with self.connect() as conn:
            conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["entryUUID"])
            return str(conn.response[0]["raw_attributes"]["entryUUID"][0].decode())
