#!/usr/bin/env python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Search every output of the secrets suite for the passwords, in every form they could leak in.

    python search_secrets.py --password-file F --wrong-password S --username U --search-dir D \
        --collections DIR --module-args-dir TMP [--module-host H --module-port P --ca-file C --server-name N]

Also runs smtp_probe once as a plain process (as Ansible runs a module) and searches its raw stdout and
stderr. Exit status 0 only when no form of any password is found anywhere, and the search finds the
password in the password file (the proof that the search works).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys

MODULE = 'ansible_collections.mailops.mailflow.plugins.modules.smtp_probe'


def forms(username, password):
    """The password as typed, and as it goes on the wire: base64 alone (AUTH LOGIN) and in the PLAIN blob."""
    raw = password.encode('utf-8')
    return {
        'raw': raw,
        'base64': base64.b64encode(raw),
        'plain_blob': base64.b64encode(b'\x00' + username.encode('utf-8') + b'\x00' + raw),
    }


def run_module_raw(python, collections, args, args_dir, out_dir):
    """Run the module once; its raw stdout and stderr land in out_dir (searched), its arguments in args_dir."""
    args_path = os.path.join(args_dir, 'module-args.json')
    fd = os.open(args_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, handle)
    env = dict(os.environ, PYTHONPATH=collections, PYTHONDONTWRITEBYTECODE='1')
    with open(os.path.join(out_dir, 'module-raw-stdout.txt'), 'wb') as out, \
            open(os.path.join(out_dir, 'module-raw-stderr.txt'), 'wb') as err:
        status = subprocess.call([python, '-m', MODULE, args_path], stdout=out, stderr=err, env=env, timeout=60)
    with open(os.path.join(out_dir, 'module-raw-stdout.txt')) as handle:
        result = json.loads(handle.read())
    return status, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--password-file', required=True)
    parser.add_argument('--wrong-password', required=True)
    parser.add_argument('--username', required=True)
    parser.add_argument('--search-dir', required=True)
    parser.add_argument('--collections', required=True)
    parser.add_argument('--module-args-dir', required=True)
    parser.add_argument('--module-host', required=True)
    parser.add_argument('--module-port', type=int, required=True)
    parser.add_argument('--ca-file', required=True)
    parser.add_argument('--server-name', required=True)
    options = parser.parse_args()

    with open(options.password_file) as handle:
        password = handle.read().strip()
    secrets = {'password': forms(options.username, password), 'wrong_password': forms(options.username, options.wrong_password)}

    status, result = run_module_raw(sys.executable, options.collections, {
        'host': options.module_host, 'port': options.module_port, 'server_name': options.server_name,
        'ca_path': options.ca_file, 'tls': 'required', 'tls_verify': True, 'helo_name': 'contoso.test',
        'mail_from': options.username, 'rcpt_to': ['kate@fabrikam.test'], 'name': 'secrets_raw',
        'auth': {'username': options.username, 'password': password},
        # the whole result and the facts: the transcript (which names the user) and everything else is searched
        'detail': 'full', 'facts': True,
    }, options.module_args_dir, options.search_dir)
    problems = []
    if status != 0 or not result.get('passed'):
        problems.append('the raw module run did not pass (exit %s): %s' % (status, result.get('msg')))

    # Positive control: the same search finds the password where it is.
    with open(options.password_file, 'rb') as handle:
        control = handle.read().count(secrets['password']['raw'])
    print('positive control: %s holds the password %d time(s)' % (options.password_file, control))
    if control < 1:
        problems.append('the search does not find the password in its own file')

    searched = 0
    total = 0
    for folder, _dirs, files in os.walk(options.search_dir):
        for name in sorted(files):
            path = os.path.join(folder, name)
            with open(path, 'rb') as handle:
                data = handle.read()
            searched += 1
            counts = dict(('%s/%s' % (secret, form), data.count(value))
                          for secret, values in sorted(secrets.items()) for form, value in sorted(values.items()))
            found = sum(counts.values())
            total += found
            user_mentions = data.count(options.username.encode('utf-8'))
            print('%-28s %8d bytes  secrets found: %d  (user name present %d times)' % (name, len(data), found, user_mentions))
            if name in ('ansible-playbook-vvv.txt', 'module-raw-stdout.txt') and not user_mentions:
                # These hold the whole session; without the user name they would prove nothing.
                problems.append('%s does not even hold the user name: the capture is broken' % name)
            if found:
                problems.append('%s: %s' % (name, ', '.join('%s x%d' % item for item in counts.items() if item[1])))
    print('searched %d files for %d forms of 2 passwords: %d found' % (searched, sum(len(v) for v in secrets.values()), total))
    if searched < 16:
        problems.append('only %d files were searched; the outputs are missing' % searched)
    for problem in problems:
        print('FAIL: %s' % problem)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
