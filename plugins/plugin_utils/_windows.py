# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Windows path of smtp_probe, mx_lookup and mx_probe (issue 14), run by their action plugins.

A host whose connection uses a PowerShell shell cannot run the Python modules. There the action
plugin checks the task's options on the controller with the module's own argument spec and the
same Python checks (so bad input fails the same way, before any connection), lets the host do
only the I/O (win_mx_lookup: Resolve-DnsName; win_smtp_probe: the C# dialogue engine), and builds
the result, the facts and the verdict with the Python code of the Linux path.
"""

from __future__ import annotations

import base64
import time

from ansible.module_utils.common.arg_spec import ModuleArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values

from ansible_collections.mailops.mailflow.plugins.module_utils._dns.resolve_dnsname import resolve_on_host
from ansible_collections.mailops.mailflow.plugins.module_utils._dns.validate import normalize_domain, normalize_domains
from ansible_collections.mailops.mailflow.plugins.module_utils._outcome import failure_message, smtp_summary
from ansible_collections.mailops.mailflow.plugins.module_utils._route.engine import RouteOptionError, RouteProbe, dns_options
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.detail import route_output, smtp_output
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.message import dot_stuff, is_ascii
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.options import ProbeOptionError, check_wire_text, validate_options
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.result import build_result
from ansible_collections.mailops.mailflow.plugins.modules import egress_identity as egress_identity_module
from ansible_collections.mailops.mailflow.plugins.modules import mx_lookup as mx_lookup_module
from ansible_collections.mailops.mailflow.plugins.modules import mx_probe as mx_probe_module
from ansible_collections.mailops.mailflow.plugins.modules import smtp_probe as smtp_probe_module

COLLECTION = 'mailops.mailflow'
POWERSHELL_FAMILY = 'powershell'
# Resolve-DnsName has no port parameter: it always asks port 53.
WINDOWS_DNS_PORT = 53
# The module-level constraints of each module's AnsibleModule(...) call.
_DOMAIN_CONSTRAINTS = dict(mutually_exclusive=[('domain', 'domains'), ('domains', 'name')], required_one_of=[('domain', 'domains')])


class WindowsTaskFailed(Exception):
    """The task fails with ``fields`` (msg, option, diagnosis, ...) as its result."""

    def __init__(self, **fields):
        super().__init__(fields.get('msg'))
        self.fields = fields


def uses_powershell(connection):
    """Whether the target runs PowerShell modules: its shell plugin is of the PowerShell family, or is cmd
    (Windows over SSH), which ansible-core also marks as Windows and sends PowerShell modules to."""
    shell = getattr(connection, '_shell', None)
    return getattr(shell, 'SHELL_FAMILY', None) == POWERSHELL_FAMILY or getattr(shell, '_IS_WINDOWS', False) is True


def _spec_of(module_name):
    if module_name == 'egress_identity':
        return egress_identity_module.ARGUMENT_SPEC, {}
    if module_name == 'smtp_probe':
        return smtp_probe_module.argument_spec(), {}
    if module_name == 'mx_probe':
        return mx_probe_module.argument_spec(), _DOMAIN_CONSTRAINTS
    return dict(mx_lookup_module.ARGUMENT_SPEC, fail_on_failure=dict(type='bool', default=True)), _DOMAIN_CONSTRAINTS


def validated_params(module_name, task_name, args):
    """(params, no_log values) as AnsibleModule would give them to the module, or WindowsTaskFailed with its message."""
    spec, constraints = _spec_of(module_name)
    validator = ModuleArgumentSpecValidator(spec, **constraints)
    result = validator.validate(dict(args))
    if result.error_messages:
        message = result.errors.msg
        if type(result.errors[0]).__name__ == 'UnsupportedError':
            message = f'Unsupported parameters for ({task_name}) module: {message}'
        raise WindowsTaskFailed(msg=message)
    return result.validated_parameters, result._no_log_values


class _ParamsHolder:
    """What a module's helper functions use of AnsibleModule: params and fail_json."""

    def __init__(self, params):
        self.params = params

    def fail_json(self, **fields):
        raise WindowsTaskFailed(**fields)


def _host_side_path(options, option):
    """Take out a path that names a file on the Windows host, after the checks that need no file system.

    The Python checks test that the file exists, which only the host can tell.
    """
    value = options.get(option)
    if value in (None, '') or str(options.get('tls') or 'starttls').lower() == 'none':
        return None
    check_wire_text(value, option)
    options[option] = None
    return value


# key -> (eight_bit, utf8): the message variants the C# engine may pick once it knows the server's capabilities.
MESSAGE_VARIANTS = {'plain': (False, False), 'eight_bit': (True, False), 'utf8': (False, True), 'eight_bit_utf8': (True, True)}


def engine_options(options):
    """A ProbeOptions (validate_options' result) -> the JSON-compatible options the C# engine takes.

    Beyond the options: the message rendered per variant (8BITMIME and SMTPUTF8 are known only after EHLO,
    and MIME is built in Python only), dot-stuffed and base64-encoded, and ``expect`` as [kind, value] pairs.
    """
    values = dict(options)
    values['expect'] = dict((step, [list(matcher) for matcher in matchers]) for step, matchers in (options['expect'] or {}).items())
    if options['send_message'] and options['quit_after'] not in ('mail', 'rcpt'):
        body = options['content']['body']
        can_8bit = body is not None and not is_ascii(body)
        can_utf8 = not all(is_ascii(address) for address in [options['mail_from'] or ''] + list(options['rcpt_to']))
        messages = {}
        for key, (eight_bit, utf8) in MESSAGE_VARIANTS.items():
            if (eight_bit and not can_8bit) or (utf8 and not can_utf8):
                continue
            raw = options.message_template.render(eight_bit=eight_bit, utf8=utf8, domain=options['helo_name'])
            messages[key] = {'wire_b64': base64.b64encode(dot_stuff(raw)).decode('ascii'), 'size': len(raw),
                             'eight_bit': b'Content-Transfer-Encoding: 8bit' in raw}
        values['messages'] = messages
    return values


def probe_targets(options_list, host_paths):
    """The win_smtp_probe targets for validated probe options, with the paths that name files on the host."""
    targets = []
    for options in options_list:
        target = engine_options(options)
        target.update(host_paths)
        targets.append(target)
    return targets


class WindowsPath:
    """The Windows path of one task; ``run(module_name, args)`` returns the task result."""

    def __init__(self, action, task_vars):
        self.action = action
        self.task_vars = task_vars
        self.check_mode = bool(action._task.check_mode)

    def _host_module(self, name, args):
        result = self.action._execute_module(module_name=f'{COLLECTION}.{name}', module_args=args,
                                             task_vars=self.task_vars)
        if result.get('failed') or result.get('unreachable'):
            raise WindowsTaskFailed(**dict((key, value) for key, value in result.items() if key != 'invocation'))
        return result

    def run(self, module_name, args):
        try:
            params, no_log_values = validated_params(module_name, self.action._task.action, args)
        except WindowsTaskFailed as failure:
            return dict(failure.fields, failed=True)
        try:
            result = getattr(self, '_' + module_name)(params)
        except WindowsTaskFailed as failure:
            result = dict(failure.fields, failed=True)
        return remove_values(result, no_log_values)

    # --- mx_lookup -------------------------------------------------------------------------

    def _ask_host(self, options):
        def ask(questions):
            args = {'questions': [{'name': name, 'type': rdtype} for name, rdtype in questions],
                    'nameservers': list(options.nameservers or []), 'tcp': options.tcp, 'lifetime': options.lifetime}
            return self._host_module('win_mx_lookup', args).get('answers') or []
        return ask

    @staticmethod
    def _check_dns_port(option, port):
        if port != WINDOWS_DNS_PORT:
            raise WindowsTaskFailed(msg=f'{option}: Windows hosts ask DNS with Resolve-DnsName, which always uses port 53; '
                                        f'got {port}', option=option)

    def _resolve(self, domains, options):
        started = time.monotonic()
        records = resolve_on_host(domains, options, self._ask_host(options))
        elapsed_ms = round((time.monotonic() - started) * 1000.0, 1)
        for record in records:
            record['elapsed_ms'] = elapsed_ms
        return records

    def _mx_lookup(self, params):
        fail_on_failure = params.pop('fail_on_failure')
        holder = _ParamsHolder(params)
        options = mx_lookup_module._validated(holder)
        self._check_dns_port('port', options.port)
        expected = params['expect_exchangers']
        labels = params['labels']
        if params['domain'] is not None:
            records = self._resolve([normalize_domain(params['domain'])], options)
            record = mx_lookup_module.judged(records[0], expected, labels)
            facts_entries = {params['name'] or record['domain']: record}
            result = dict(record)
        else:
            records = [mx_lookup_module.judged(record, expected, labels)
                       for record in self._resolve(normalize_domains(params['domains']), options)]
            facts_entries = dict((record['domain'], record) for record in records)
            result = dict(results=records, passed=all(record['passed'] for record in records), labels=labels)
        result['changed'] = False
        result['ansible_facts'] = {'mailflow': {'mx': facts_entries}}
        return self._judge('mx_lookup', result, fail_on_failure)

    @staticmethod
    def _judge(module_name, result, fail_on_failure):
        """The rule of the Linux modules: a check that did not pass fails the task unless fail_on_failure is false."""
        failure = failure_message(module_name, result) if fail_on_failure else None
        if failure:
            result['failed'] = True
            result['msg'] = failure
        return result

    # --- smtp_probe ------------------------------------------------------------------------

    def _check_mode(self, options, what):
        """Check mode never sends a message; the same adjustment as the Linux modules."""
        if not (self.check_mode and options['send_message']):
            return None
        options['send_message'] = False
        if options['quit_after'] == 'data':
            options['quit_after'] = 'rcpt'
        return f'check mode: send_message was forced to false, {what} stopped before DATA'

    def _probe_on_host(self, options_list, host_paths, max_in_flight):
        """Raw dialogue records from the host's C# engine, one per options, in order."""
        targets = probe_targets(options_list, host_paths)
        args = {'targets': targets, 'concurrency': max_in_flight}
        # One auth for every target, as its own option: win_smtp_probe marks it no_log (a target dict cannot be).
        auth = [target.pop('auth', None) for target in targets][0]
        if auth:
            args['auth'] = auth
        raws = self._host_module('win_smtp_probe', args).get('results') or []
        if len(raws) != len(options_list):
            raise WindowsTaskFailed(msg=f'win_smtp_probe returned {len(raws)} results for {len(options_list)} targets')
        return raws

    @staticmethod
    def _build_result(options, raw):
        # The builder of the Linux path: one catalog, one schema (issue 14).
        return build_result(options, raw)

    def _smtp_probe(self, params):
        fail_on_failure = params.pop('fail_on_failure')
        name = params.pop('name')
        transcript_path = params.pop('transcript_path')
        labels = params.pop('labels')
        detail = params.pop('detail')
        store_facts = params.pop('facts')
        if name is not None and not name.strip():
            raise WindowsTaskFailed(msg='name: must not be empty')
        if transcript_path:
            raise WindowsTaskFailed(msg='transcript_path: not supported on Windows hosts; the transcript is in the '
                                        'result (transcript)', option='transcript_path')
        check_mode_note = self._check_mode(params, 'the dialogue')
        host_paths = {}
        try:
            ca_path = _host_side_path(params, 'ca_path')
            options = validate_options(params)
        except ProbeOptionError as exc:
            raise WindowsTaskFailed(msg=str(exc), option=exc.option) from None
        if ca_path:
            host_paths['ca_path'] = ca_path
        raw = self._probe_on_host([options], host_paths, 1)[0]
        result = self._build_result(options, raw)
        result['labels'] = labels
        host = options['host']
        label = '{}:{}'.format(f'[{host}]' if ':' in host else host, options['port'])
        if check_mode_note:
            result['check_mode_note'] = check_mode_note
        failure = failure_message('smtp_probe', result) if fail_on_failure else None
        summary = smtp_summary(result)
        result, facts = smtp_output(result, name or label, detail, store_facts)
        warnings = result.pop('warnings', [])
        result.update(changed=bool(result.get('message_accepted')), msg=failure or summary)
        if facts:
            result['ansible_facts'] = facts
        if warnings:
            result['warnings'] = warnings
        if failure:
            result['failed'] = True
        return result

    # --- mx_probe --------------------------------------------------------------------------

    def _mx_probe(self, params):
        name = params['name']
        if name is not None and (not name.strip() or any(ord(char) < 32 for char in name)):
            raise WindowsTaskFailed(msg='name: must be a non-empty key without control characters', option='name')
        if params['transcript_path']:
            raise WindowsTaskFailed(msg='transcript_path: not supported on Windows hosts; each probe\'s transcript is in '
                                        'the result (probes[].transcript)', option='transcript_path')
        smtp_options = dict((key, value) for key, value in params.items() if key not in mx_probe_module.ROUTE_ONLY_OPTIONS)
        check_mode_note = self._check_mode(smtp_options, 'every dialogue')
        domains = [params['domain']] if params['domain'] is not None else params['domains']
        host_paths = {}
        try:
            ca_path = _host_side_path(smtp_options, 'ca_path')
            mx_options = dns_options(params['nameservers'], params['dns_port'], params['dns_timeout'], params['dns_lifetime'],
                                     params['dns_tcp'], params['ip_version'], params['implicit_mx'])
            route = RouteProbe(domains, smtp_options, mx_options, mode=params['probe'], concurrency=params['concurrency'],
                               port=params['port'])
        except (RouteOptionError, ProbeOptionError) as exc:
            option = exc.option
            message = str(exc)
            if option == 'domains' and params['domain'] is not None:
                option, message = 'domain', 'domain' + message[len('domains[0]'):]
            raise WindowsTaskFailed(msg=message, option=option) from None
        self._check_dns_port('dns_port', mx_options.port)
        if ca_path:
            host_paths['ca_path'] = ca_path

        unique_domains = sorted(set(route.domains), key=route.domains.index)
        records = dict((record['domain'], record) for record in self._resolve(unique_domains, mx_options))
        work = route.start(records)
        while work:
            raws = self._probe_on_host([options for _domain, _index, options in work], host_paths, route.concurrency)
            following = []
            for (domain, index, options), raw in zip(work, raws):
                following.extend(route.probed(domain, index, self._build_result(options, raw)))
            work = following
        results = route.results()

        changed = any(probe.get('message_accepted') for result in results for probe in result['probes'])
        for result in results:
            result['labels'] = params['labels']
            result['passed'] = bool(result['verdict']['deliverable'])
        failure_output = mx_probe_module.route_module_output(results, params, check_mode_note)
        failure = failure_message('mx_probe', failure_output) if params['fail_on_failure'] else None
        key = (name or results[0]['domain']) if params['domain'] is not None else None
        shown, facts = route_output(results, params['detail'], params['facts'], key)
        output = mx_probe_module.route_module_output(shown, params, check_mode_note, summary=failure or failure_output['msg'])
        if route.warnings:
            output['warnings'] = list(route.warnings)
        output['changed'] = changed
        if facts:
            output['ansible_facts'] = facts
        if failure:
            output['failed'] = True
        return output

    # --- egress_identity -----------------------------------------------------------------

    def _egress_identity(self, params):
        # Questions about public records (PTR, A/AAAA, SPF): the controller asks them, with the task's nameservers.
        result = egress_identity_module.egress_task(params)
        for entry in [result] + list(((result.get('ansible_facts') or {}).get('mailflow') or {}).get('egress', {}).values()):
            entry['asked_from'] = 'controller'
        return result


def run_on_windows(action, module_name, args, task_vars):
    """The task result of ``module_name`` on a PowerShell host (see the module docstring)."""
    return WindowsPath(action, task_vars).run(module_name, args)
