#!/usr/bin/python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: baseline_take
short_description: Take the baseline snapshot of the hosts' mail-flow facts, and save or compare it on the controller
version_added: 0.1.0
description:
  - Reads the checks of every host from its C(ansible_facts.mailflow) (or from O(facts)) and returns the snapshot that
    the baseline keeps, the same as the filter P(mailops.mailflow.baseline_snapshot#filter) gives. With O(dest) it
    also writes it there as JSON. The baseline role runs it.
  - It runs on the controller only and reads the facts in Python. Templating a large fleet's facts through Jinja2 took
    11 s for 20 hosts with 200 domains each.
  - The file is replaced whole (written beside it, then renamed). Check mode returns the snapshot and writes nothing.
  - The task is C(changed) when the file was written.
options:
  hosts:
    description: The hosts to keep, in this order. Default is the keys of O(facts), else every host of the play.
    type: list
    elements: str
    default: []
  facts:
    description: Host name -> C(ansible_facts.mailflow), to take facts from elsewhere instead of the hosts' facts.
    type: dict
    default: {}
  select:
    description: A jmespath filter on the check records, for example V([?role=='inbound']). Empty keeps every check.
    type: str
    default: ''
  dest:
    description: Also write the snapshot to this file on the controller (its directory is created when missing).
    type: path
  write_empty:
    description: Write O(dest) also when the snapshot holds no check. The baseline role turns it off, and then refuses.
    type: bool
    default: true
  return_snapshot:
    description: Return the snapshot (RV(snapshot)). Turn it off when O(dest) is all that is needed.
    type: bool
    default: true
  compare_with:
    description:
      - Compare the snapshot with the saved baseline in this file on the controller, and return the differences
        (RV(diff)), as P(mailops.mailflow.baseline_diff#filter) does. Not with O(dest) or O(baseline).
    type: path
  baseline:
    description: A saved baseline to compare the snapshot with, instead of O(compare_with).
    type: dict
  fail_on_removed:
    description: As in P(mailops.mailflow.baseline_diff#filter).
    type: bool
    default: false
  latency_growth_s:
    description:
      - As in P(mailops.mailflow.baseline_diff#filter). Left out, that filter's default (10 seconds); V(null) drops
        the condition.
    type: float
  latency_growth_factor:
    description:
      - As in P(mailops.mailflow.baseline_diff#filter). Left out, that filter's default (2); V(null) drops the
        condition.
    type: float
requirements:
  - jmespath (on the controller)
author:
  - mailops.mailflow contributors (@mailops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: The snapshot is taken and returned; no file is written.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller.
seealso:
  - module: mailops.mailflow.report_files
'''

EXAMPLES = r'''
- name: Probe the partner domains from every transport host, keeping the results as facts
  mailops.mailflow.mx_probe:
    domains: [fabrikam.com, contoso.com]
    mail_from: postmaster@contoso.com
    fail_on_failure: false
    facts: true

- name: Save what the fleet sees before the change window
  mailops.mailflow.baseline_take:
    dest: baselines/before.json
    return_snapshot: false
  run_once: true
  register: before

- name: Say how many checks were kept
  ansible.builtin.debug:
    msg: "{{ before.checks }} checks of {{ before.host_count }} hosts in {{ before.dest }}"
  run_once: true

- name: After the change window, compare what the fleet sees now
  mailops.mailflow.baseline_take:
    compare_with: baselines/before.json
    return_snapshot: false
  run_once: true
  register: after

- name: Fail on regressions
  ansible.builtin.fail:
    msg: "{{ after.diff.line }}"
  when: after.diff.verdict == 'regressed'
  run_once: true
'''

RETURN = r'''
snapshot:
  description: The baseline snapshot (format C(mailops.mailflow/baseline)), as P(mailops.mailflow.baseline_snapshot#filter).
  returned: when O(return_snapshot=true)
  type: dict
hosts:
  description: The hosts asked for, in order.
  returned: always
  type: list
  elements: str
host_count:
  description: How many hosts the snapshot holds checks of.
  returned: always
  type: int
  sample: 20
checks:
  description: How many checks the snapshot holds.
  returned: always
  type: int
  sample: 4200
dest:
  description: The file written, as an absolute path (in check mode, the one it would be).
  returned: when O(dest) is given
  type: str
diff:
  description: The differences from the saved baseline, as P(mailops.mailflow.baseline_diff#filter) returns them.
  returned: when O(compare_with) or O(baseline) is given
  type: dict
  sample: {verdict: regressed, line: "mailflow baseline: 1 regression on 1 host: ...", counts: {regression: 1}}
'''

from ansible.module_utils.basic import AnsibleModule

# The action plugin validates with this spec too.
ARGUMENT_SPEC = dict(
    hosts=dict(type='list', elements='str', default=[]),
    facts=dict(type='dict', default={}),
    select=dict(type='str', default=''),
    dest=dict(type='path'),
    write_empty=dict(type='bool', default=True),
    return_snapshot=dict(type='bool', default=True),
    compare_with=dict(type='path'),
    baseline=dict(type='dict'),
    fail_on_removed=dict(type='bool', default=False),
    # left out: the defaults of the baseline_diff filter; null: the condition is off
    latency_growth_s=dict(type='float'),
    latency_growth_factor=dict(type='float'),
)
MUTUALLY_EXCLUSIVE = [('dest', 'compare_with'), ('dest', 'baseline'), ('compare_with', 'baseline')]


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE, supports_check_mode=True)
    module.fail_json(msg='mailops.mailflow.baseline_take runs on the controller through its action plugin; '
                         'it cannot run as a module on a managed host')


if __name__ == '__main__':
    main()
