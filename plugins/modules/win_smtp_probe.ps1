#!powershell
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic
#AnsibleRequires -CSharpUtil ansible_collections.mailops.mailflow.plugins.module_utils.SmtpDialogue

# Runs SMTP dialogues from this host with the C# engine (module_utils/SmtpDialogue.cs) and returns one raw dialogue
# record per target. The controller has checked every option and rendered the message before this runs; the
# result, the diagnosis and the verdict are built there by the Python code of the Linux path.

$spec = @{
    options = @{
        targets = @{ type = 'list'; elements = 'dict'; required = $true }
        concurrency = @{ type = 'int'; default = 8 }
        auth = @{
            type = 'dict'
            options = @{
                username = @{ type = 'str'; required = $true }
                password = @{ type = 'str'; required = $true; no_log = $true }
                mechanism = @{ type = 'str'; default = 'auto'; choices = @('auto', 'plain', 'login') }
            }
        }
    }
    supports_check_mode = $true
}
$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)

if ($module.Params.concurrency -lt 1) {
    $module.FailJson("concurrency: must be 1 or more, got $($module.Params.concurrency)")
}

$targets = [System.Collections.ArrayList]::new()
$index = 0
foreach ($target in $module.Params.targets) {
    if ($target.Keys -contains 'auth' -and $null -ne $target['auth']) {
        # Only the auth option is no_log: a password inside a target would show in the module invocation.
        $module.FailJson("targets[$index]: pass credentials in the auth option, not inside a target")
    }
    if (-not ($target.Keys -contains 'host') -or [string]::IsNullOrEmpty([string]$target['host'])) {
        $module.FailJson("targets[$index]: host is required")
    }
    if ($module.CheckMode -and $target['send_message']) {
        # Check mode never sends a message (the controller already says so; this is the host's own guard).
        $target['send_message'] = $false
        if ($target['quit_after'] -eq 'data') {
            $target['quit_after'] = 'rcpt'
        }
    }
    if ($null -ne $module.Params.auth) {
        $target['auth'] = $module.Params.auth
    }
    [void]$targets.Add($target)
    $index++
}

$records = [ansible_collections.mailops.mailflow.plugins.module_utils.SmtpDialogue.Engine]::RunMany($targets, $module.Params.concurrency)
$module.Result.changed = $false
$module.Result.results = $records
$module.ExitJson()
