#!/usr/bin/python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: report_files
short_description: Write the fleet's mail-flow report (JSON, Markdown, JUnit XML, HTML) from the hosts' facts
version_added: 0.1.0
description:
  - Reads the checks of every host from its C(ansible_facts.mailflow) (or from O(facts)), builds the report and writes
    its files into O(dest) on the controller. The report role runs it; it is the same report as the filters
    P(mailops.mailflow.report_checks#filter), P(mailops.mailflow.report_summary#filter),
    P(mailops.mailflow.report_document#filter), P(mailops.mailflow.report_markdown#filter),
    P(mailops.mailflow.report_junit#filter) and P(mailops.mailflow.report_html#filter) give.
  - It runs on the controller only and reads the facts in Python. Templating a large fleet's facts and the rendered
    text through Jinja2 task by task took 20 s for 20 hosts with 200 domains each, and this took 4 s.
  - Each file is replaced whole (written beside it, then renamed), so a reader never sees half a report.
  - Check mode builds the report and returns it, but writes no file.
options:
  dest:
    description: The directory to write the files into; created when missing. A relative path is taken from the
      directory ansible-playbook runs in.
    type: path
    required: true
  hosts:
    description: The hosts to report, in this order. Default is the keys of O(facts), else every host of the play.
    type: list
    elements: str
    default: []
  facts:
    description: Host name -> C(ansible_facts.mailflow), to report facts from elsewhere instead of the hosts' facts.
    type: dict
    default: {}
  select:
    description: A jmespath filter on the check records, for example V([?role=='inbound']). Empty keeps every check.
    type: str
    default: ''
  title:
    description: The report title.
    type: str
    default: Mail flow report
  layout:
    description: As in P(mailops.mailflow.report_markdown#filter).
    type: str
    default: auto
    choices: [auto, hosts_as_rows, checks_as_rows]
  formats:
    description: The files to write, C(report.json), C(report.md), C(report.xml) and C(report.html).
    type: list
    elements: str
    default: [json, markdown, junit, html]
    choices: [json, markdown, junit, html]
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
    details: The report is built and returned; no file is written.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller.
seealso:
  - module: mailops.mailflow.smtp_probe
  - module: mailops.mailflow.mx_probe
'''

EXAMPLES = r'''
- name: Probe the partner domains from every transport host, keeping the results as facts
  mailops.mailflow.mx_probe:
    domains: [fabrikam.com, contoso.com]
    mail_from: postmaster@contoso.com
    fail_on_failure: false
    facts: true

- name: Write the report of the whole fleet on the controller
  mailops.mailflow.report_files:
    dest: mailflow-report
  run_once: true
  register: report

- name: Show its summary line
  ansible.builtin.debug:
    msg: "{{ report.summary.line }}"
  run_once: true
'''

RETURN = r'''
summary:
  description: The verdict, the counts and the one summary line (as P(mailops.mailflow.report_summary#filter)).
  returned: always
  type: dict
  sample: {verdict: passed, line: "4 checks on 2 hosts: 4 passed", checks: 4}
markdown:
  description: The Markdown report as text.
  returned: always
  type: str
files:
  description: Format -> the path of its file (in check mode, the path it would have).
  returned: always
  type: dict
  sample: {json: /srv/runs/mailflow-report/report.json, html: /srv/runs/mailflow-report/report.html}
checks:
  description: How many check records the report holds.
  returned: always
  type: int
  sample: 4
hosts:
  description: The hosts reported, in order.
  returned: always
  type: list
  elements: str
dest:
  description: The directory of the files, as an absolute path.
  returned: always
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

FORMATS = ['json', 'markdown', 'junit', 'html']
# The action plugin validates with this spec too.
ARGUMENT_SPEC = dict(
    dest=dict(type='path', required=True),
    hosts=dict(type='list', elements='str', default=[]),
    facts=dict(type='dict', default={}),
    select=dict(type='str', default=''),
    title=dict(type='str', default='Mail flow report'),
    layout=dict(type='str', default='auto', choices=['auto', 'hosts_as_rows', 'checks_as_rows']),
    formats=dict(type='list', elements='str', default=FORMATS, choices=FORMATS),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg='mailops.mailflow.report_files runs on the controller through its action plugin; '
                         'it cannot run as a module on a managed host')


if __name__ == '__main__':
    main()
