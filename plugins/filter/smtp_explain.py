# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: smtp_explain
short_description: Explain an SMTP reply line or reply code
version_added: 0.1.0
author: mailops.mailflow contributors
description:
  - Takes an SMTP reply (a line such as C(550 5.1.1 User unknown), the lines of a multi-line
    reply, a basic code such as C(550), an enhanced code such as C(5.7.1), a condition name such as
    C(connection_refused), or a step result of M(mailops.mailflow.smtp_probe)) and returns what it means, its likely
    causes and what to do.
  - Uses the same diagnosis catalog as the probe modules (the Exchange Telnet guide's cases, RFC 5321, RFC 3463 and
    known Exchange, Exchange Online, Postfix, Gmail, Exim, OpenSMTPD, Sendmail, Mimecast, Proofpoint, Cisco Secure
    Email and Barracuda replies).
  - Never fails on odd input; anything it cannot read is explained with category V(unknown).
positional: _input
options:
  _input:
    description:
      - The reply line, list of reply lines, basic code, enhanced code, condition name, or step/reply dictionary.
    type: raw
    required: true
  step:
    description:
      - The dialogue step the reply answered (V(banner), V(ehlo), V(mail), V(rcpt), V(data), V(message), ...).
      - Some codes mean different things per step, for example C(554) at the greeting versus after the message.
    type: str
  port:
    description:
      - The SMTP port the reply came from. Adds port notes (for example Exchange's internal port 2525).
    type: int
  enhanced_trusted:
    description:
      - Whether to use the enhanced status code. V(true) when the server offered ENHANCEDSTATUSCODES, V(false) to
        ignore it. By default it is used when its class matches the basic code.
    type: bool
  context:
    description:
      - What was true in the dialogue when the reply came, so the causes fit it. Keys (all optional)
        C(authenticated) (AUTH got 2xx), C(tls) (TLS was active), C(port), and C(server) (V(exchange),
        V(exchange_online), V(postfix), V(exim), V(opensmtpd), V(sendmail), V(mimecast), V(proofpoint), V(cisco),
        V(barracuda)).
      - For example a relay refusal after a successful AUTH is explained with the causes that fit an authenticated
        client, not an anonymous one.
    type: dict
"""

EXAMPLES = r"""
- name: Explain a rejection
  ansible.builtin.debug:
    msg: "{{ '550 5.1.1 <kate@fabrikam.test>: User unknown' | mailops.mailflow.smtp_explain }}"

- name: Explain a bare code at a given step
  ansible.builtin.debug:
    msg: "{{ (530 | mailops.mailflow.smtp_explain(step='mail')).summary }}"

- name: Explain the last step of a probe
  ansible.builtin.debug:
    msg: "{{ probe.steps[-1] | mailops.mailflow.smtp_explain(port=probe.target.port) }}"

- name: Explain a relay refusal that came after a successful AUTH
  ansible.builtin.debug:
    msg: "{{ ('550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain'
              | mailops.mailflow.smtp_explain(step='rcpt', context={'authenticated': true, 'port': 587})).causes }}"

- name: Remedies for every rejected recipient
  ansible.builtin.debug:
    msg: >-
      {{ probe.recipients | dict2items | rejectattr('value.accepted')
         | map(attribute='value') | map('mailops.mailflow.smtp_explain', step='rcpt')
         | map(attribute='remedy') | list }}
"""

RETURN = r"""
_value:
  description: The explanation.
  type: dict
  contains:
    status:
      description: One of V(ok), V(transient), V(permanent), V(connection), V(timeout), V(tls), V(dns), V(protocol), V(auth).
      type: str
    category:
      description: Short stable slug such as V(user_unknown), V(relay_denied) or V(unknown).
      type: str
    summary:
      description: What the reply means.
      type: str
    causes:
      description: Likely causes.
      type: list
      elements: str
    remedy:
      description: What to do.
      type: str
    notes:
      description: Extra remarks (class mismatch, ignored input, port notes).
      type: list
      elements: str
    references:
      description: Where the meaning comes from (RFC sections, vendor references, the Exchange Telnet guide).
      type: list
      elements: str
    code:
      description: The basic reply code that was read, or V(null).
      type: int
    enhanced:
      description: The enhanced status code that was read, or V(null).
      type: str
    step:
      description: The step, when given.
      type: str
    error:
      description: The condition name, when one was given.
      type: str
    vendor:
      description: The vendor whose meaning matched (V(exchange), V(exchange_online), V(postfix), V(gmail), V(exim),
        V(opensmtpd), V(sendmail), V(mimecast), V(proofpoint), V(cisco), V(barracuda)), or V(null).
      type: str
    matched_by:
      description: Which catalog lookup tier answered (V(exact), V(code_enhanced), V(enhanced), ..., V(unknown)).
      type: str
"""

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis.classifier import explain


def smtp_explain(value, step=None, port=None, enhanced_trusted=None, context=None):
    """Explain an SMTP reply, code or condition (see DOCUMENTATION)."""
    return explain(value, step=step, port=port, enhanced_trusted=enhanced_trusted, context=context)


class FilterModule:
    """mailops.mailflow diagnosis filters."""

    def filters(self):
        return {'smtp_explain': smtp_explain}
