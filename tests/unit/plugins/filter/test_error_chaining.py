# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report and filter errors keep the jmespath error that explains them as __cause__; ansible-core then shows the
message once, in the task's error line."""

from __future__ import annotations

import jmespath
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.mailflow.plugins.filter import mailflow_report
from ansible_collections.mailops.mailflow.plugins.plugin_utils._report import ReportError, check_records


def test_bad_select_keeps_the_jmespath_error():
    with pytest.raises(ReportError) as caught:
        check_records({'mx1': {}}, select='[?role==')
    assert str(caught.value).startswith("invalid jmespath expression '[?role==': ")
    assert isinstance(caught.value.__cause__, jmespath.exceptions.JMESPathError)


def test_filter_error_chains_to_the_report_error():
    with pytest.raises(AnsibleFilterError) as caught:
        mailflow_report.report_checks({'mx1': {}}, select='[?role==')
    assert str(caught.value).startswith("report_checks: invalid jmespath expression '[?role==': ")
    assert isinstance(caught.value.__cause__, ReportError)
    assert isinstance(caught.value.__cause__.__cause__, jmespath.exceptions.JMESPathError)
