# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only connection: a Windows host without Windows, for the windows_* integration targets."""

from __future__ import annotations

DOCUMENTATION = """
    name: mailflow_windows_replay
    short_description: Test-only stand-in for a Windows host (PowerShell shell) on the controller
    description:
      - Presents the PowerShell shell, so that the collection's action plugins take their Windows path, and runs
        the PowerShell modules that path sends without PowerShell. It decodes what ansible-core sends to a
        PowerShell host (the bootstrap manifest, then the exec manifest with the module's script and its
        C(complex_args)) and answers for the module named there.
      - C(win_mx_lookup) is answered from recorded C(Resolve-DnsName) output (O(fixture)); a question that was not
        recorded fails the module.
      - C(win_smtp_probe) is run by O(smtp_engine_command), the C# engine under Mono (tests/windows); its module
        args go to its standard input as JSON and its standard output is the module's result.
      - Every other command fails.
    author: mailops.mailflow contributors
    options:
      fixture:
        description: The recorded Resolve-DnsName answers (JSON, see files/record_resolve_dnsname.py).
        type: path
        vars:
          - name: mailflow_replay_fixture
      smtp_engine_command:
        description: The command that runs the C# SMTP engine for win_smtp_probe.
        type: list
        elements: str
        default: []
        vars:
          - name: mailflow_replay_smtp_engine
"""

import json
import subprocess

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.connection import ConnectionBase

# ansible-core's bootstrap input: the bootstrap manifest, this separator, then the exec manifest (module_manifest.py).
MANIFEST_SEPARATOR = b'\n\0\0\0\0\n'
MODULE_WRAPPER = 'module_wrapper.ps1'


def decode_module_call(in_data):
    """(module name, complex_args) from the bytes ansible-core pipes to a PowerShell host."""
    if not in_data or MANIFEST_SEPARATOR not in in_data:
        raise AnsibleConnectionFailure('mailflow_windows_replay: not a PowerShell module payload')
    exec_manifest = json.loads(in_data.split(MANIFEST_SEPARATOR, 1)[1].decode('utf-8'))
    for action in exec_manifest.get('actions') or []:
        if action.get('name') != MODULE_WRAPPER:
            continue
        params = action.get('params') or {}
        script = params.get('Script') or ''
        module_args = {}
        for variable in params.get('Variables') or []:
            if variable.get('Name') == 'complex_args':
                module_args = variable.get('Value') or {}
        name = script[:-len('.ps1')] if script.endswith('.ps1') else script
        return name.rsplit('.', 1)[-1], module_args
    raise AnsibleConnectionFailure('mailflow_windows_replay: the payload runs no module')


def replay_lookup(fixture, module_args):
    """What win_mx_lookup.ps1 returns, from recorded Resolve-DnsName output."""
    answers = []
    for question in module_args.get('questions') or []:
        key = '%s. %s' % (question['name'].rstrip('.'), question['type'])
        recorded = fixture['questions'].get(key)
        if recorded is None:
            return {'failed': True, 'msg': 'mailflow_windows_replay: no recorded Resolve-DnsName answer for %s' % key}
        answers.append({'name': question['name'], 'type': question['type'], 'records': recorded.get('records') or [],
                        'error_code': recorded.get('error_code'), 'error_message': recorded.get('error_message'),
                        'elapsed_ms': 0.0})
    return {'changed': False, 'answers': answers, 'invocation': {'module_args': module_args}}


class Connection(ConnectionBase):
    """Answers PowerShell module payloads on the controller; see DOCUMENTATION."""

    transport = 'mailflow_windows_replay'
    module_implementation_preferences = ('.ps1', '')
    allow_executable = False
    has_pipelining = True
    always_pipeline_modules = True
    has_native_async = True
    _shell_type = 'powershell'

    def _connect(self):
        self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super(Connection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        name, module_args = decode_module_call(in_data)
        # ansible-core's own keys (check mode, verbosity, ...) are for the module wrapper, not the stand-ins.
        module_args = dict((key, value) for key, value in module_args.items() if not key.startswith('_ansible_'))
        if name == 'win_mx_lookup':
            with open(self.get_option('fixture'), encoding='utf-8') as handle:
                result = replay_lookup(json.load(handle), module_args)
            return 0, json.dumps(result).encode('utf-8'), b''
        if name == 'win_smtp_probe':
            command = self.get_option('smtp_engine_command')
            if not command:
                return 1, json.dumps({'failed': True, 'msg': 'mailflow_windows_replay: smtp_engine_command is not set'}).encode(), b''
            completed = subprocess.run(command, input=json.dumps(module_args).encode('utf-8'), capture_output=True,
                                       check=False, timeout=600)
            return completed.returncode, completed.stdout, completed.stderr
        return 1, json.dumps({'failed': True, 'msg': 'mailflow_windows_replay: no stand-in for %s' % name}).encode(), b''

    def put_file(self, in_path, out_path):
        raise AnsibleConnectionFailure('mailflow_windows_replay: put_file is not used with pipelining')

    def fetch_file(self, in_path, out_path):
        raise AnsibleConnectionFailure('mailflow_windows_replay: fetch_file is not supported')

    def close(self):
        self._connected = False
