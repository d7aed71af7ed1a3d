#!/usr/bin/env python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/awx.md's SMTP AUTH credential type against the roles it feeds.

    python check_awx_doc.py COLLECTION_ROOT

The input configuration's fields and the injector configuration are AWX objects that no test here can load into
an AWX; what can drift is checked: every field the injectors use is an input, the password is secret, and each
injected extra variable is an option of the roundtrip role, no_log when it carries the secret.
"""

import os
import re
import sys

import yaml


def blocks(text):
    return [yaml.safe_load(body) for body in re.findall(r'^```yaml\n(.*?)^```$', text, re.MULTILINE | re.DOTALL)]


def main():
    root = sys.argv[1]
    with open(os.path.join(root, 'docs/awx.md')) as handle:
        found = blocks(handle.read())
    inputs = [block for block in found if isinstance(block, dict) and 'fields' in block]
    injectors = [block for block in found if isinstance(block, dict) and 'extra_vars' in block]
    if len(inputs) != 1 or len(injectors) != 1:
        raise SystemExit('check_awx_doc.py: docs/awx.md needs one input and one injector configuration, found %d and %d'
                         % (len(inputs), len(injectors)))
    fields = dict((field['id'], field) for field in inputs[0]['fields'])
    secret = set(name for name, field in fields.items() if field.get('secret'))
    if secret != {'password'}:
        raise SystemExit('check_awx_doc.py: the secret fields are %r, expected the password only' % sorted(secret))
    with open(os.path.join(root, 'roles/roundtrip/meta/argument_specs.yml')) as handle:
        options = yaml.safe_load(handle)['argument_specs']['main']['options']
    problems = []
    for section in ('extra_vars', 'env'):
        for name, value in injectors[0][section].items():
            used = re.findall(r'{{\s*(\w+)\s*}}', value)
            problems += ['%s %s uses %s, not an input field' % (section, name, field) for field in used if field not in fields]
            if section != 'extra_vars':
                continue
            if name not in options:
                problems.append('extra var %s is not an option of the roundtrip role' % name)
            elif secret.intersection(used) and not options[name].get('no_log'):
                problems.append('extra var %s carries the password but is not no_log in the roundtrip role' % name)
    if problems:
        raise SystemExit('check_awx_doc.py: ' + '; '.join(problems))
    print('check_awx_doc.py: the credential type injects %s from %s (secret: password)'
          % (', '.join(sorted(injectors[0]['extra_vars'])), ', '.join(sorted(fields))))


if __name__ == '__main__':
    main()
