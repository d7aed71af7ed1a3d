# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared by the benchmarks: the repository is the collection root, reached as ansible_collections.mailops.mailflow."""

from __future__ import annotations

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def link_collection(path):
    """Make PATH/ansible_collections/mailops/mailflow point at the repository; return PATH."""
    namespace = os.path.join(path, 'ansible_collections', 'mailops')
    os.makedirs(namespace)
    os.symlink(REPO, os.path.join(namespace, 'mailflow'))
    return path


def expose_collection(workdir):
    """Let this process import the collection's plugins as plain Python."""
    sys.path.insert(0, link_collection(workdir))
