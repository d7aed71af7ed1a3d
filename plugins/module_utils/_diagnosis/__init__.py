# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Diagnosis: catalog (data) and classifier. Import `diagnose`, `diagnose_success`, `explain` and
`identify_server` from here."""

from __future__ import annotations

from .classifier import CATALOG_STATS, diagnose, diagnose_success, explain, identify_server

__all__ = ('CATALOG_STATS', 'diagnose', 'diagnose_success', 'explain', 'identify_server')
