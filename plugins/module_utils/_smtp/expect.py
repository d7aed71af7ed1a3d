# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a step met its expectation: the user's `expect`, or the protocol's success classes."""

from __future__ import annotations

# Reply classes that count as success when the user did not say otherwise.
DEFAULT_CLASSES = {
    'banner': (2,),
    'ehlo': (2,),
    'helo': (2,),
    'starttls': (2,),
    'ehlo_tls': (2,),
    'auth': (2, 3),      # 334 challenges on the way to 235
    'mail': (2,),
    'rcpt': (2,),
    'data': (3,),        # 354
    'message': (2,),
    'rset': (2,),
    'quit': (2,),
}


def _matches(matcher, code, enhanced, condition):
    kind, wanted = matcher
    if kind == 'condition':
        return condition == wanted
    if condition is not None or code is None:
        # A transport or TLS failure is only "expected" when named as a condition.
        return False
    if kind == 'code':
        return code == wanted
    if kind == 'class':
        return code // 100 == wanted
    if kind == 'enhanced':
        return enhanced == wanted
    if kind == 'enhanced_prefix':
        return bool(enhanced) and enhanced.startswith(wanted)
    return False


def step_ok(name, code=None, enhanced=None, condition=None, expect=None):
    """True when the step's outcome matches ``expect[name]`` (normalised matchers) or the default."""
    matchers = (expect or {}).get(name)
    if matchers is not None:
        return any(_matches(matcher, code, enhanced, condition) for matcher in matchers)
    if condition is not None:
        return False
    if name == 'connect':
        return True
    if code is None:
        return False
    return code // 100 in DEFAULT_CLASSES.get(name, (2,))


def is_explicit(name, expect):
    return name in (expect or {})
