# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest setup for the C# engine tests: the collection importable as ansible_collections.mailops.mailflow
(from its ansible-test layout, or through a link made in a temporary folder), and this folder on sys.path."""

from __future__ import annotations

import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION = os.path.dirname(os.path.dirname(HERE))


def _collections_root():
    parts = COLLECTION.split(os.sep)
    if parts[-3:-1] == ['ansible_collections', 'mailops'] and parts[-1] == 'mailflow':
        return os.sep.join(parts[:-3])
    scratch = tempfile.mkdtemp(prefix='mailflow-windows-tests-')
    os.makedirs(os.path.join(scratch, 'ansible_collections', 'mailops'))
    os.symlink(COLLECTION, os.path.join(scratch, 'ansible_collections', 'mailops', 'mailflow'))
    return scratch


for path in (HERE, _collections_root()):
    if path not in sys.path:
        sys.path.insert(0, path)
