# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip script that ansible-test --venv downloads.

tools/lib.sh copies it to ~/.ansible/test/cache/get_pip_<version>.py. ansible-test runs it in a
fresh venv created without pip, with arguments such as
``--disable-pip-version-check pip==25.2 --no-setuptools --no-wheel``.
It bootstraps pip from the interpreter's bundled wheel (ensurepip), then lets that pip install
the requested packages from the machine's configured index. Runs on every target Python (3.8+).
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

# get-pip options that pip install does not know; they mean "leave this package out".
GET_PIP_ONLY_OPTIONS = {
    '--no-setuptools': 'setuptools',
    '--no-wheel': 'wheel',
}


def pip(*args, **kwargs):
    """Run the venv's pip as a child process and return its exit code."""
    return subprocess.call([sys.executable, '-m', 'pip'] + list(args), **kwargs)


def main():
    """Bootstrap pip, then install what get-pip was asked to install."""
    saved_environment = dict(os.environ)
    # ensurepip deletes every PIP_* variable and sets PIP_CONFIG_FILE=/dev/null, which would hide
    # the machine's pip configuration (index, find-links, certificates) from the install below.
    ensurepip.bootstrap(upgrade=True, default_pip=True)
    os.environ.clear()
    os.environ.update(saved_environment)

    arguments = sys.argv[1:]
    install_arguments = [argument for argument in arguments if argument not in GET_PIP_ONLY_OPTIONS]
    returncode = pip('install', *install_arguments)
    if returncode:
        return returncode

    # ensurepip bundles setuptools on Python < 3.12; get-pip would not have installed it
    for option, package in GET_PIP_ONLY_OPTIONS.items():
        if option in arguments and pip('show', package, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
            returncode = pip('uninstall', '--yes', '--quiet', package)
            if returncode:
                return returncode
    return 0


if __name__ == '__main__':
    sys.exit(main())
