"""labtls: the CA is reused, leaves carry the right names and validity, hostile kinds are hostile."""

from __future__ import annotations

import datetime
import os
import ssl
import subprocess
import sys

import pytest
from cryptography import x509

from conftest import SERVERS

import labtls


def load(path):
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def san(cert):
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def test_ca_reused_and_leaves_idempotent(tmp_path):
    first = labtls.ensure(str(tmp_path), names=["mail1.exchange.test"], hostile=["bad.test"])
    ca_bytes = (tmp_path / "ca.crt").read_bytes()
    second = labtls.ensure(str(tmp_path), names=["mail1.exchange.test"], hostile=["bad.test"])
    assert first["ca_created"] and not second["ca_created"]
    assert (tmp_path / "ca.crt").read_bytes() == ca_bytes
    assert all(entry["created"] for entry in first["certificates"])
    assert not any(entry["created"] for entry in second["certificates"])
    assert oct(os.stat(tmp_path / "ca.key").st_mode & 0o777) == "0o600"
    assert oct(os.stat(tmp_path / "expired.bad.test.key").st_mode & 0o777) == "0o600"
    forced = labtls.LabCA(str(tmp_path)).issue("mail1.exchange.test", force=True)
    assert forced["created"]


def test_kinds(tmp_path):
    ca = labtls.LabCA(str(tmp_path))
    ca_cert = load(ca.cert_path)
    good = load(ca.issue("mail1.exchange.test")["cert"])
    assert san(good) == ["mail1.exchange.test"]
    good.verify_directly_issued_by(ca_cert)
    assert good.not_valid_before_utc < now() < good.not_valid_after_utc
    expired = load(ca.issue("x.test", "expired")["cert"])
    expired.verify_directly_issued_by(ca_cert)
    assert expired.not_valid_after_utc < now()
    self_signed = load(ca.issue("x.test", "self_signed")["cert"])
    assert self_signed.issuer == self_signed.subject != ca_cert.subject
    wrong = load(ca.issue("x.test", "wrong_name")["cert"])
    wrong.verify_directly_issued_by(ca_cert)
    assert san(wrong) == [labtls.WRONG_NAME_SAN]
    future = load(ca.issue("x.test", "not_yet_valid")["cert"])
    assert future.not_valid_before_utc > now()
    with pytest.raises(ValueError):
        ca.issue("x.test", "bogus")


def test_python_ssl_accepts_the_chain(tmp_path):
    ca = labtls.LabCA(str(tmp_path))
    issued = ca.issue("mail1.exchange.test")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(issued["cert"], issued["key"])
    client = ssl.create_default_context(cafile=ca.cert_path)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_side = client.wrap_bio(incoming, outgoing, server_hostname="mail1.exchange.test")
    server_side = server.wrap_bio(server_in, server_out, server_side=True)
    for _step in range(10):
        for side in (client_side, server_side):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        server_in.write(outgoing.read())
        incoming.write(server_out.read())
    assert client_side.getpeercert()["subjectAltName"] == (("DNS", "mail1.exchange.test"),)


def test_cli(tmp_path):
    output = subprocess.run([sys.executable, os.path.join(SERVERS, "labtls.py"), str(tmp_path), "--name", "a.test",
                             "--hostile", "b.test", "--kind", "expired"], check=True, capture_output=True).stdout
    assert b'"ca_created": true' in output
    assert sorted(os.listdir(tmp_path)) == ["a.test.crt", "a.test.key", "ca.crt", "ca.key", "expired.b.test.crt",
                                            "expired.b.test.key"]
