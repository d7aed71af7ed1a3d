# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report and baseline filters; each filter is documented in the .yml file of its name next to this one."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.mailflow.plugins.plugin_utils import _baseline, _report


def _translate_errors(function):
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except _report.ReportError as exc:
            raise AnsibleFilterError(f'{function.__name__}: {exc}') from exc
    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper


@_translate_errors
def report_checks(facts_by_host, hosts=None, select=None):
    """Host name -> ansible_facts.mailflow, to a flat list of check records."""
    return _report.check_records(facts_by_host, hosts=hosts, select=select)


@_translate_errors
def report_summary(records, hosts=None):
    """Check records to counts, verdict and the one summary line."""
    return _report.summarize(records, hosts=hosts)


@_translate_errors
def report_matrix(records, hosts=None):
    """Check records to the hosts x checks matrix."""
    return _report.build_matrix(records, hosts=hosts)


@_translate_errors
def report_document(records, hosts=None, title=None):
    """Check records to the JSON report document."""
    return _report.report_document(records, hosts=hosts, title=title)


@_translate_errors
def report_markdown(records, hosts=None, title=None, layout='auto'):
    """Check records to the Markdown summary."""
    return _report.render_markdown(records, hosts=hosts, title=title, layout=layout)


@_translate_errors
def report_junit(records, hosts=None, name='mailops.mailflow'):
    """Check records to JUnit XML."""
    return _report.render_junit(records, hosts=hosts, name=name)


@_translate_errors
def report_html(records, hosts=None, title=None, layout='auto'):
    """Check records to one self-contained HTML page."""
    return _report.render_html(records, hosts=hosts, title=title, layout=layout)


@_translate_errors
def baseline_snapshot(facts_by_host, hosts=None, select=None):
    """Host name -> ansible_facts.mailflow, to a baseline snapshot."""
    return _baseline.build_snapshot(facts_by_host, hosts=hosts, select=select)


@_translate_errors
def baseline_diff(baseline, current, fail_on_removed=False, latency_growth_s=_baseline.LATENCY_GROWTH_S,
                  latency_growth_factor=_baseline.LATENCY_GROWTH_FACTOR):
    """A saved baseline and the current snapshot, to their differences."""
    return _baseline.compare(baseline, current, fail_on_removed=fail_on_removed, latency_growth_s=latency_growth_s,
                             latency_growth_factor=latency_growth_factor)


@_translate_errors
def baseline_markdown(diff, title=None):
    """A baseline diff to Markdown."""
    return _baseline.render_markdown(diff, title=title)


class FilterModule:
    """mailops.mailflow report and baseline filters."""

    def filters(self):
        return {
            'report_checks': report_checks,
            'report_summary': report_summary,
            'report_matrix': report_matrix,
            'report_document': report_document,
            'report_markdown': report_markdown,
            'report_junit': report_junit,
            'report_html': report_html,
            'baseline_snapshot': baseline_snapshot,
            'baseline_diff': baseline_diff,
            'baseline_markdown': baseline_markdown,
        }
