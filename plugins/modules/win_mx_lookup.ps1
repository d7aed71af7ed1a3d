#!powershell
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic

# Asks the host's resolver (or -Server) the DNS questions it is given and returns the raw records with the Windows
# error code of each. The MX logic (order, groups, null and implicit MX, warnings, statuses) runs in Python on the
# controller (plugins/module_utils/_dns/resolve_dnsname.py), so it is the same as on Linux hosts.

$spec = @{
    options = @{
        questions = @{
            type = 'list'
            elements = 'dict'
            required = $true
            options = @{
                name = @{ type = 'str'; required = $true }
                type = @{ type = 'str'; required = $true; choices = @('MX', 'A', 'AAAA') }
            }
        }
        nameservers = @{ type = 'list'; elements = 'str'; default = @() }
        tcp = @{ type = 'bool'; default = $false }
        lifetime = @{ type = 'float'; default = 5.0 }
        max_in_flight = @{ type = 'int'; default = 32 }
    }
    supports_check_mode = $true
}
$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)

# Runs in its own runspace, so that a question that outlives the lifetime can be left behind.
$askScript = {
    param([string]$Name, [string]$Type, [string[]]$Servers, [bool]$TcpOnly)

    function Get-Field($Record, [string]$Field) {
        $property = $Record.PSObject.Properties[$Field]
        if ($property) { $property.Value } else { $null }
    }

    # The DnsClient error names, for an exception that carries no Win32 error code.
    $codesByName = @{
        DNS_ERROR_RCODE_FORMAT_ERROR = 9001
        DNS_ERROR_RCODE_SERVER_FAILURE = 9002
        DNS_ERROR_RCODE_NAME_ERROR = 9003
        DNS_ERROR_RCODE_NOT_IMPLEMENTED = 9004
        DNS_ERROR_RCODE_REFUSED = 9005
        DNS_INFO_NO_RECORDS = 9501
        DNS_ERROR_BAD_PACKET = 9502
        DNS_ERROR_NO_PACKET = 9503
        DNS_ERROR_RECORD_DOES_NOT_EXIST = 9701
        DNS_ERROR_NO_DNS_SERVERS = 9852
        ERROR_TIMEOUT = 1460
        WSAETIMEDOUT = 10060
    }

    # The trailing dot makes the name absolute: no search suffix or devolution is tried.
    $query = @{ Name = "$Name."; Type = $Type; DnsOnly = $true; NoHostsFile = $true; ErrorAction = 'Stop' }
    if ($Servers) { $query.Server = $Servers }
    if ($TcpOnly) { $query.TcpOnly = $true }
    try {
        $records = @(Resolve-DnsName @query | ForEach-Object {
                @{
                    Name = [string](Get-Field $_ 'Name')
                    Type = [int](Get-Field $_ 'Type')
                    TTL = [int](Get-Field $_ 'TTL')
                    Section = [int](Get-Field $_ 'Section')
                    NameExchange = Get-Field $_ 'NameExchange'
                    Preference = Get-Field $_ 'Preference'
                    IPAddress = Get-Field $_ 'IPAddress'
                    NameHost = Get-Field $_ 'NameHost'
                }
            })
        @{ records = $records; error_code = $null; error_message = $null }
    }
    catch {
        $exception = $_.Exception
        $code = $null
        if ($exception -is [System.ComponentModel.Win32Exception]) {
            $code = $exception.NativeErrorCode
        }
        if (-not $code) {
            $errorName = ([string]$_.FullyQualifiedErrorId).Split(',')[0]
            if ($codesByName.ContainsKey($errorName)) { $code = $codesByName[$errorName] }
        }
        @{ records = @(); error_code = $code; error_message = $exception.Message }
    }
}

$questions = @($module.Params.questions)
$servers = [string[]]@($module.Params.nameservers)
$lifetimeMs = [int]($module.Params.lifetime * 1000)
$pool = [RunspaceFactory]::CreateRunspacePool(1, [Math]::Max(1, [Math]::Min($module.Params.max_in_flight, $questions.Count)))
$pool.Open()
try {
    $pending = foreach ($question in $questions) {
        $shell = [PowerShell]::Create()
        $shell.RunspacePool = $pool
        [void]$shell.AddScript($askScript).AddArgument($question.name).AddArgument($question.type).AddArgument($servers).AddArgument($module.Params.tcp)
        @{ question = $question; shell = $shell; handle = $shell.BeginInvoke(); clock = [Diagnostics.Stopwatch]::StartNew() }
    }
    $answers = foreach ($entry in @($pending)) {
        $remaining = [Math]::Max(0, $lifetimeMs - [int]$entry.clock.ElapsedMilliseconds)
        $answer = @{ name = $entry.question.name; type = $entry.question.type; records = @(); error_code = $null; error_message = $null }
        if ($entry.handle.AsyncWaitHandle.WaitOne($remaining)) {
            $output = @($entry.shell.EndInvoke($entry.handle))
            if ($output.Count -gt 0) {
                $answer.records = @($output[-1].records)
                $answer.error_code = $output[-1].error_code
                $answer.error_message = $output[-1].error_message
            }
            elseif ($entry.shell.Streams.Error.Count -gt 0) {
                $answer.error_message = [string]$entry.shell.Streams.Error[0]
            }
            $entry.shell.Dispose()
        }
        else {
            # ERROR_TIMEOUT, as Resolve-DnsName reports its own timeout; the runspace is left to finish alone.
            $answer.error_code = 1460
            $answer.error_message = "no answer within the lifetime of $($module.Params.lifetime) s"
            [void]$entry.shell.BeginStop($null, $null)
        }
        $answer.elapsed_ms = [Math]::Round($entry.clock.Elapsed.TotalMilliseconds, 1)
        $answer
    }
}
finally {
    # A timed-out question may still hold its runspace; closing in the background does not wait for it.
    [void]$pool.BeginClose($null, $null)
}

$module.Result.answers = @($answers)
$module.Result.changed = $false
$module.ExitJson()
