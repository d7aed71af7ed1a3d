# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Throwaway test PKI made with the openssl CLI: a CA, and leaves that are good, expired,
not yet valid, self-signed or for another name. Tests using it skip when openssl is missing."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess

CA_CONFIG = """
[ ca ]
default_ca = lab
[ lab ]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[ anything ]
organizationName = optional
commonName = supplied
"""


def have_openssl():
    return shutil.which('openssl') is not None


def _run(*args, **kwargs):
    subprocess.run(args, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def _key(path, rsa=False):
    if rsa:
        _run('openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', path)
    else:
        _run('openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path)


def make_pki(directory):
    """Create the PKI under ``directory``; returns a dict of name -> (cert path, key path), plus 'ca'."""
    directory = str(directory)
    with open(os.path.join(directory, 'index.txt'), 'w'):
        pass
    with open(os.path.join(directory, 'serial'), 'w') as handle:
        handle.write('1000\n')
    config = os.path.join(directory, 'ca.cnf')
    with open(config, 'w') as handle:
        handle.write(CA_CONFIG.format(dir=directory))
    ca_key = os.path.join(directory, 'ca.key')
    ca_cert = os.path.join(directory, 'ca.pem')
    _key(ca_key)
    _run('openssl', 'req', '-x509', '-new', '-key', ca_key, '-out', ca_cert, '-days', '30', '-subj', '/O=Mailflow Lab/CN=Mailflow Lab CA',
         '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    result = {'ca': ca_cert}
    leaves = {
        'good': ('mx1.fabrikam.test', 'DNS:mx1.fabrikam.test,IP:127.0.0.1', None, None),
        'expired': ('mx1.fabrikam.test', 'DNS:mx1.fabrikam.test,IP:127.0.0.1', '20200101000000Z', '20210101000000Z'),
        'future': ('mx1.fabrikam.test', 'DNS:mx1.fabrikam.test,IP:127.0.0.1', '20490101000000Z', '20500101000000Z'),
        'other_name': ('www.northwind.test', 'DNS:www.northwind.test', None, None),
        # An RSA key, for the (finite field) DHE key exchanges of old servers.
        'good_rsa': ('mx1.fabrikam.test', 'DNS:mx1.fabrikam.test,IP:127.0.0.1', None, None),
    }
    for name, (common_name, san, start, end) in leaves.items():
        key = os.path.join(directory, name + '.key')
        csr = os.path.join(directory, name + '.csr')
        cert = os.path.join(directory, name + '.pem')
        _key(key, rsa=name == 'good_rsa')
        _run('openssl', 'req', '-new', '-key', key, '-out', csr, '-subj', '/O=Fabrikam Lab/CN=%s' % common_name, '-addext', 'subjectAltName=' + san)
        dates = ['-startdate', start, '-enddate', end] if start else ['-days', '20']
        _run('openssl', 'ca', '-batch', '-config', config, '-keyfile', ca_key, '-cert', ca_cert, '-in', csr, '-out', cert, '-notext', *dates)
        result[name] = (cert, key)
    key = os.path.join(directory, 'self.key')
    cert = os.path.join(directory, 'self.pem')
    _key(key)
    _run('openssl', 'req', '-x509', '-new', '-key', key, '-out', cert, '-days', '20', '-subj', '/CN=mx1.fabrikam.test',
         '-addext', 'subjectAltName=DNS:mx1.fabrikam.test,IP:127.0.0.1')
    result['self_signed'] = (cert, key)
    return result


def server_context(cert_and_key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert_and_key)
    return context
