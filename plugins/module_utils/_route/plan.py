# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The order in which an MTA tries a domain's exchangers (RFC 5321 5.1).

Lower preference first. Exchangers that share a preference, and the addresses of one
exchanger, are shuffled by a real MTA (Postfix randomizes both); the plan keeps them in the
mx_lookup order (host name, then address) so runs are reproducible, and the verdict reports
such groups instead of pretending an order.
"""

from __future__ import annotations


def _exchanger_key(exchanger):
    return (exchanger['preference'], exchanger['host'])


def plan_attempts(record):
    """Return (attempts, unusable) for one mx_lookup record.

    attempts: one dict per (exchanger, address) in MTA order, with ``order`` (its index),
    ``host``, ``preference``, ``address``, ``family`` and ``implicit``.
    unusable: the exchangers without any address (dangling or unresolvable), in order.
    Statuses without exchangers (null MX, NXDOMAIN, ...) give two empty lists.
    """
    attempts = []
    unusable = []
    for exchanger in sorted(record.get('exchangers') or [], key=_exchanger_key):
        addresses = exchanger.get('addresses') or []
        if not exchanger.get('usable', True) or not addresses:
            unusable.append(exchanger)
            continue
        for address in addresses:
            attempts.append({
                'order': len(attempts),
                'host': exchanger['host'],
                'preference': exchanger['preference'],
                'address': address['ip'],
                'family': address.get('family'),
                'implicit': bool(exchanger.get('implicit')),
            })
    return attempts, unusable


def same_preference_hosts(record, preference):
    """Host names that share ``preference``: an MTA picks among them at random."""
    return sorted(set(exchanger['host'] for exchanger in record.get('exchangers') or []
                      if exchanger['preference'] == preference))
