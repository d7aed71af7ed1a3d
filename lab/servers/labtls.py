#!/usr/bin/env python
"""Lab certificates: a private CA, leaf certificates it signs, and hostile certificates.

Everything is written into one directory:

    ca.crt, ca.key                      the lab CA (reused when present)
    <name>.crt, <name>.key              leaf for <name>, signed by the CA (SAN dNSName=<name>)
    expired.<name>.crt/.key             signed by the CA, not_after in the past
    self-signed.<name>.crt/.key         issued by itself, not by the CA
    wrong-name.<name>.crt/.key          signed by the CA for another name (WRONG_NAME_SAN)
    not-yet-valid.<name>.crt/.key       signed by the CA, not_before in the future

Lab only: keys are unencrypted files with mode 0600.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import os
import sys

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
CA_COMMON_NAME = "mailflow lab CA"
WRONG_NAME_SAN = "wrong-name.invalid.test"
LEAF_DAYS = 825
CA_DAYS = 3650
# Leaves that are about to expire are reissued, so a long-lived lab dir keeps working.
RENEW_MARGIN = datetime.timedelta(days=30)

# kind -> (file prefix, validity offsets in days relative to now, signed by the CA?, SAN override)
HOSTILE_KINDS = {
    "expired": {"prefix": "expired.", "not_before_days": -400, "not_after_days": -30, "ca_signed": True},
    "self_signed": {"prefix": "self-signed.", "not_before_days": -1, "not_after_days": LEAF_DAYS, "ca_signed": False},
    "wrong_name": {"prefix": "wrong-name.", "not_before_days": -1, "not_after_days": LEAF_DAYS, "ca_signed": True,
                   "san": WRONG_NAME_SAN},
    "not_yet_valid": {"prefix": "not-yet-valid.", "not_before_days": 30, "not_after_days": 400, "ca_signed": True},
}
VALID_KIND = {"prefix": "", "not_before_days": -1, "not_after_days": LEAF_DAYS, "ca_signed": True}
KINDS = dict(HOSTILE_KINDS, valid=VALID_KIND)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256: fast to generate (dozens of leaves per lab start) and accepted by every TLS stack.
    return ec.generate_private_key(ec.SECP256R1())


def _write_private(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _write_public(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _san_entry(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


class LabCA:
    """The CA of one lab directory; created on first use, then reused."""

    def __init__(self, directory: str):
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.cert_path = os.path.join(self.directory, CA_CERT)
        self.key_path = os.path.join(self.directory, CA_KEY)
        if os.path.exists(self.cert_path) and os.path.exists(self.key_path):
            with open(self.cert_path, "rb") as handle:
                self.cert = x509.load_pem_x509_certificate(handle.read())
            with open(self.key_path, "rb") as handle:
                self.key = serialization.load_pem_private_key(handle.read(), password=None)
            self.created = False
        else:
            self._create()
            self.created = True

    def _create(self) -> None:
        self.key = _new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailops.mailflow lab")])
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(self.key, hashes.SHA256())
        )
        _write_private(self.key_path, _key_pem(self.key))
        _write_public(self.cert_path, self.cert.public_bytes(serialization.Encoding.PEM))

    def paths(self, name: str, kind: str = "valid") -> tuple:
        prefix = KINDS[kind]["prefix"]
        base = os.path.join(self.directory, prefix + name)
        return base + ".crt", base + ".key"

    def _is_current(self, cert_path: str, key_path: str, kind: str) -> bool:
        """True when an existing leaf can be reused: same issuer key, and (for good certs) not about to expire."""
        if not (os.path.exists(cert_path) and os.path.exists(key_path)):
            return False
        with open(cert_path, "rb") as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
        spec = KINDS[kind]
        if spec["ca_signed"]:
            try:
                cert.verify_directly_issued_by(self.cert)
            except (InvalidSignature, ValueError, TypeError):
                return False
        if kind in ("valid", "self_signed", "wrong_name"):
            return cert.not_valid_after_utc - _now() > RENEW_MARGIN and cert.not_valid_before_utc <= _now()
        if kind == "not_yet_valid":
            return cert.not_valid_before_utc > _now() + datetime.timedelta(days=1)
        return cert.not_valid_after_utc < _now()

    def issue(self, name: str, kind: str = "valid", force: bool = False) -> dict:
        """Write the certificate of one kind for one name; reuse a current one unless force."""
        if kind not in KINDS:
            raise ValueError("unknown certificate kind %r (known: %s)" % (kind, ", ".join(sorted(KINDS))))
        cert_path, key_path = self.paths(name, kind)
        if not force and self._is_current(cert_path, key_path, kind):
            return {"name": name, "kind": kind, "cert": cert_path, "key": key_path, "created": False}
        spec = KINDS[kind]
        key = _new_key()
        san_name = spec.get("san", name)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, san_name[:64])])
        now = _now()
        if spec["ca_signed"]:
            issuer, signing_key = self.cert.subject, self.key
        else:
            issuer, signing_key = subject, key
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=spec["not_before_days"]))
            .not_valid_after(now + datetime.timedelta(days=spec["not_after_days"]))
            .add_extension(x509.SubjectAlternativeName([_san_entry(san_name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if spec["ca_signed"]:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        cert = builder.sign(signing_key, hashes.SHA256())
        _write_private(key_path, _key_pem(key))
        _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return {"name": name, "kind": kind, "cert": cert_path, "key": key_path, "created": True}


def ensure(directory: str, names=(), hostile=(), hostile_kinds=tuple(HOSTILE_KINDS)) -> dict:
    """Make sure the CA, a good leaf for each of names and the hostile kinds for each of hostile exist."""
    ca = LabCA(directory)
    issued = [ca.issue(name, "valid") for name in names]
    issued += [ca.issue(name, kind) for name in hostile for kind in hostile_kinds]
    return {"directory": ca.directory, "ca_cert": ca.cert_path, "ca_key": ca.key_path,
            "ca_created": ca.created, "certificates": issued}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write a lab CA plus good and hostile certificates into a directory.")
    parser.add_argument("directory", help="output directory (an existing CA there is reused)")
    parser.add_argument("--name", action="append", default=[], help="good leaf for this DNS name (repeatable)")
    parser.add_argument("--hostile", action="append", default=[],
                        help="write the hostile kinds (%s) for this name (repeatable)" % ", ".join(HOSTILE_KINDS))
    parser.add_argument("--kind", action="append", choices=sorted(HOSTILE_KINDS), default=None,
                        help="limit --hostile to these kinds")
    parser.add_argument("--force", action="store_true", help="reissue leaves even when current ones exist")
    args = parser.parse_args(argv)
    ca = LabCA(args.directory)
    kinds = args.kind or list(HOSTILE_KINDS)
    issued = [ca.issue(name, "valid", force=args.force) for name in args.name]
    issued += [ca.issue(name, kind, force=args.force) for name in args.hostile for kind in kinds]
    json.dump({"directory": ca.directory, "ca_cert": ca.cert_path, "ca_created": ca.created,
               "certificates": issued}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
