#!/usr/bin/env python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn the EXAMPLES of every module, lookup and filter plugin of mailops.mailflow into one playbook for the lab.

    python build_examples.py --config substitutions.yml --playbook examples.yml --manifest manifest.json

The EXAMPLES are read with ``ansible-doc --json`` (what a user reads), changed only as substitutions.yml says
(../setup_examples/examples_map.py applies its text and patterns, shared with docs_examples), and
each becomes one play of tasks, named ``[example K] <plugin>: <task name>``. The manifest lists every example
task, so that check_results.py can prove each one ran. Exit status 1 when a plugin has no EXAMPLES, an example is
not a list of tasks, or an entry of the map matched nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import yaml

from examples_map import ExampleMap

COLLECTION = 'mailops.mailflow'
PLUGIN_TYPES = ('module', 'lookup', 'filter')
SMTP_PROBE = COLLECTION + '.smtp_probe'


class DocError(Exception):
    pass


def ansible_doc(*args):
    process = subprocess.run(['ansible-doc', '--json'] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, check=False)
    if process.returncode != 0:
        raise DocError('ansible-doc %s: %s' % (' '.join(args), process.stderr.strip().splitlines()[0:1]))
    return json.loads(process.stdout)


def plugins():
    """(type, short name, EXAMPLES text or a DocError) of every plugin of the collection, by type then name."""
    found = []
    for plugin_type in PLUGIN_TYPES:
        names = sorted(ansible_doc('-t', plugin_type, '-l', COLLECTION))
        for name in names:
            try:
                examples = ansible_doc('-t', plugin_type, name)[name].get('examples') or ''
            except DocError as exc:
                examples = exc
            found.append((plugin_type, name.rsplit('.', 1)[-1], examples))
    return found


class PlainDumper(yaml.SafeDumper):
    """Writes every play's copy of the shared vars out in full, without YAML anchors."""

    def ignore_aliases(self, data):
        return True


def point_smtp_probe_at_the_lab(task, config, used):
    args = task.get(SMTP_PROBE)
    if not isinstance(args, dict) or args.get('host') not in config['smtp_hosts']:
        return
    name = args['host']
    used['smtp_hosts'].add(name)
    args['host'] = config['smtp_hosts'][name]
    args.setdefault('server_name', name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', required=True)
    parser.add_argument('--playbook', required=True)
    parser.add_argument('--manifest', required=True)
    args = parser.parse_args()
    with open(args.config) as handle:
        config = yaml.safe_load(handle)
    example_map = ExampleMap(config)
    unset = example_map.unset_variables()
    if unset:
        print('build_examples.py: set %s in the environment (substitutions.yml uses it)' % ', '.join(unset), file=sys.stderr)
        return 1

    problems = []
    used = {'smtp_hosts': set()}
    plays, manifest, not_run = [], [], []
    by_type = {}
    for plugin_type, name, examples in plugins():
        if name in config['not_runnable']:
            count = None if isinstance(examples, DocError) else len(yaml.safe_load(examples) or [])
            not_run.append({'type': plugin_type, 'plugin': name, 'examples': count, 'reason': config['not_runnable'][name]})
            continue
        if isinstance(examples, DocError):
            problems.append('%s %s: its documentation does not load: %s' % (plugin_type, name, examples))
            continue
        if not examples.strip():
            problems.append('%s %s has no EXAMPLES' % (plugin_type, name))
            continue
        tasks = yaml.safe_load(example_map.substitute(examples))
        if not isinstance(tasks, list) or not all(isinstance(task, dict) for task in tasks):
            problems.append('%s %s: EXAMPLES is not a list of tasks' % (plugin_type, name))
            continue
        for task in tasks:
            point_smtp_probe_at_the_lab(task, config, used)
            number = len(manifest) + 1
            label = '[example %d] %s %s: %s' % (number, plugin_type, name, task.get('name', '(unnamed)'))
            task['name'] = label
            manifest.append({'number': number, 'type': plugin_type, 'plugin': name, 'task': label})
        setup = [{'name': '[setup] start from empty facts', 'ansible.builtin.meta': 'clear_facts'}]
        if plugin_type == 'filter':
            for step in config['filter_setup']:
                step = dict(step, name='[setup] ' + step['name'])
                setup.append(step)
        play = {
            'name': 'EXAMPLES of %s %s.%s' % (plugin_type, COLLECTION, name),
            'hosts': 'testhost',
            'gather_facts': False,
            'vars': config['vars'],
            'module_defaults': config['module_defaults'],
            'tasks': setup + tasks,
        }
        by_type.setdefault(plugin_type, []).append((name, play))

    order = config['filter_order']
    filters = sorted(by_type.get('filter', []), key=lambda item: (order.index(item[0]) if item[0] in order else len(order), item[0]))
    for plugin_type in PLUGIN_TYPES:
        plays.extend(play for _name, play in (filters if plugin_type == 'filter' else by_type.get(plugin_type, [])))

    problems.extend(example_map.unused())
    for name in sorted(set(config['smtp_hosts']) - used['smtp_hosts']):
        problems.append('substitutions.yml smtp_hosts entry %r matched no example' % name)
    if problems:
        for problem in problems:
            print('build_examples.py: %s' % problem, file=sys.stderr)
        return 1

    with open(args.playbook, 'w') as handle:
        yaml.dump(plays, handle, Dumper=PlainDumper, sort_keys=False, width=120)
    with open(args.manifest, 'w') as handle:
        json.dump({'examples': manifest, 'plugins': len(plays), 'not_run': not_run}, handle, indent=1)
    print('build_examples.py: %d examples of %d plugins written to %s' % (len(manifest), len(plays), args.playbook))
    return 0


if __name__ == '__main__':
    sys.exit(main())
