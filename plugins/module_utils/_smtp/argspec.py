# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The smtp_probe argument spec, shared with modules that pass every smtp_probe option through (mx_probe).

Plain data: checks beyond types and choices live in ``options.validate_options``.
"""

from __future__ import annotations

from .options import AUTH_MECHANISMS, NOTIFY_VALUES, PIPELINING_MODES, QUIT_AFTER, RET_VALUES, TLS_MODES

# Options that shape the SMTP dialogue; everything here goes to validate_options under the same name.
SMTP_OPTIONS_ARGSPEC = dict(
    tls=dict(type='str', default='starttls', choices=list(TLS_MODES)),
    tls_verify=dict(type='bool', default=False),
    ca_path=dict(type='path'),
    server_name=dict(type='str'),
    helo_name=dict(type='str'),
    mail_from=dict(type='str'),
    rcpt_to=dict(type='list', elements='str', default=[]),
    dsn=dict(type='dict', options=dict(
        notify=dict(type='list', elements='str', choices=list(NOTIFY_VALUES)),
        ret=dict(type='str', choices=list(RET_VALUES)),
        envid=dict(type='str'),
        orcpt=dict(type='bool', default=False),
    )),
    auth=dict(type='dict', options=dict(
        username=dict(type='str', required=True),
        password=dict(type='str', required=True, no_log=True),
        mechanism=dict(type='str', default='auto', choices=list(AUTH_MECHANISMS)),
    )),
    send_message=dict(type='bool', default=False),
    content=dict(type='dict', options=dict(
        subject=dict(type='str'),
        body=dict(type='str'),
        headers=dict(type='dict', default={}),
        from_header=dict(type='str'),
        to_header=dict(type='str'),
    )),
    quit_after=dict(type='str', choices=list(QUIT_AFTER)),
    pipelining=dict(type='str', default='auto', choices=list(PIPELINING_MODES)),
    source_address=dict(type='str'),
    ip_version=dict(type='str', default='auto', choices=['auto', '4', '6']),
    # No default here: options.py shortens the default to fit a shorter deadline.
    connect_timeout=dict(type='float'),
    command_timeout=dict(type='float', default=30.0),
    deadline=dict(type='float', default=60.0),
    slow_threshold=dict(type='float'),
    expect=dict(type='dict', default={}),
)

SMTP_PROBE_ARGSPEC = dict(
    host=dict(type='str', required=True),
    port=dict(type='int', default=25),
    name=dict(type='str'),
    transcript_path=dict(type='path'),
    labels=dict(type='dict', default={}),
    tls_min_days=dict(type='int'),
    **SMTP_OPTIONS_ARGSPEC
)
