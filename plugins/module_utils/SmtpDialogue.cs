// Copyright (c) mailops.mailflow contributors
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
//
// The SMTP dialogue of smtp_probe for Windows hosts: the I/O half only. It returns the raw dialogue
// record (reply lines, timings, transport conditions, the certificate's DER); the controller turns
// that into the smtp_probe result with the same Python code as the Linux path. It mirrors
// plugins/module_utils/_smtp/dialogue.py step for step, so both engines send the same commands.
// C# 5, System and System.Core only: Windows PowerShell 5.1's Add-Type, .NET Framework 4.5+, PowerShell 7.

using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;

namespace ansible_collections.mailops.mailflow.plugins.module_utils.SmtpDialogue
{
    /// <summary>Entry points: one probe, or several at once on a bounded number of threads.</summary>
    public static class Engine
    {
        public const string Version = "1";

        /// <summary>Run one probe; options use smtp_probe's names (validated by the controller).</summary>
        public static IDictionary Run(IDictionary options)
        {
            Prepare();
            return new Probe(options).Run();
        }

        private static readonly object PrepareLock = new object();
        private static bool prepared;

        /// <summary>Initialise the runtime's TLS and certificate providers once, on one thread: Mono creates them
        /// lazily and deadlocks when several threads do it at the same time (seen with RunMany).</summary>
        private static void Prepare()
        {
            lock (PrepareLock)
            {
                if (prepared)
                {
                    return;
                }
                prepared = true;
                try
                {
                    new SslStream(new MemoryStream(), false).Dispose();
                }
                catch (Exception)
                {
                }
                try
                {
                    new X509Certificate2(new byte[] { 0x30, 0x00 }).Reset();
                }
                catch (Exception)
                {
                    // Not a certificate: the provider behind the constructor is what had to be created.
                }
                try
                {
                    new X509Chain().Reset();
                }
                catch (Exception)
                {
                }
            }
        }

        /// <summary>Run one probe per options dictionary, at most <paramref name="concurrency"/> at a time.
        /// The records come back in the order of <paramref name="targets"/>.</summary>
        public static IList RunMany(IList targets, int concurrency)
        {
            Prepare();
            int count = targets.Count;
            object[] records = new object[count];
            int workers = Math.Max(1, Math.Min(concurrency, count));
            int next = -1;
            ThreadStart work = delegate
            {
                while (true)
                {
                    int index = Interlocked.Increment(ref next);
                    if (index >= count)
                    {
                        return;
                    }
                    try
                    {
                        records[index] = Run((IDictionary)Values.Unwrap(targets[index]));
                    }
                    catch (Exception exc)
                    {
                        // A defect in the engine must not take the other probes down with it.
                        Hashtable failed = new Hashtable();
                        failed["engine_error"] = exc.GetType().Name + ": " + exc.Message;
                        records[index] = failed;
                    }
                }
            };
            List<Thread> threads = new List<Thread>();
            for (int i = 0; i < workers - 1; i++)
            {
                Thread thread = new Thread(work);
                thread.IsBackground = true;
                thread.Start();
                threads.Add(thread);
            }
            work();
            foreach (Thread thread in threads)
            {
                thread.Join();
            }
            return new ArrayList(records);
        }
    }

    /// <summary>Condition names of plugins/module_utils/_diagnosis/errors.py.</summary>
    internal static class Conditions
    {
        public const string ConnectionRefused = "connection_refused";
        public const string ConnectTimeout = "connect_timeout";
        public const string NoRoute = "no_route";
        public const string NetworkUnreachable = "network_unreachable";
        public const string AddressUnavailable = "address_unavailable";
        public const string HostUnresolved = "host_unresolved";
        public const string ConnectionClosed = "connection_closed";
        public const string ConnectionReset = "connection_reset";
        public const string CommandTimeout = "command_timeout";
        public const string DeadlineExceeded = "deadline_exceeded";
        public const string ReplyLineTooLong = "reply_line_too_long";
        public const string ReplyTooManyLines = "reply_too_many_lines";
        public const string ReplyTooLarge = "reply_too_large";
        public const string ReplyMalformed = "reply_malformed";
        public const string StarttlsNotOffered = "starttls_not_offered";
        public const string TlsHandshakeFailed = "tls_handshake_failed";
        public const string TlsCertExpired = "tls_cert_expired";
        public const string TlsCertNotYetValid = "tls_cert_not_yet_valid";
        public const string TlsCertSelfSigned = "tls_cert_self_signed";
        public const string TlsCertUnknownCa = "tls_cert_unknown_ca";
        public const string TlsCertNameMismatch = "tls_cert_name_mismatch";
        public const string TlsCertInvalid = "tls_cert_invalid";
        public const string TlsCertExpiresSoon = "tls_cert_expires_soon";
        public const string AuthNotOffered = "auth_not_offered";
        public const string AuthMechanismUnsupported = "auth_mechanism_unsupported";
    }

    /// <summary>Reading the options dictionary: PowerShell may hand over wrapped values.</summary>
    internal static class Values
    {
        public static object Unwrap(object value)
        {
            if (value == null)
            {
                return null;
            }
            Type type = value.GetType();
            if (type.FullName == "System.Management.Automation.PSObject")
            {
                return Unwrap(type.GetProperty("BaseObject").GetValue(value, null));
            }
            return value;
        }

        public static object Get(IDictionary options, string key)
        {
            if (options == null || !options.Contains(key))
            {
                return null;
            }
            return Unwrap(options[key]);
        }

        public static string Str(IDictionary options, string key)
        {
            object value = Get(options, key);
            return value == null ? null : Convert.ToString(value, CultureInfo.InvariantCulture);
        }

        public static bool Bool(IDictionary options, string key)
        {
            object value = Get(options, key);
            if (value == null)
            {
                return false;
            }
            if (value is bool)
            {
                return (bool)value;
            }
            string text = Convert.ToString(value, CultureInfo.InvariantCulture).ToLowerInvariant();
            return text == "true" || text == "yes" || text == "1" || text == "on";
        }

        public static double Number(IDictionary options, string key, double fallback)
        {
            object value = Get(options, key);
            if (value == null)
            {
                return fallback;
            }
            return Convert.ToDouble(value, CultureInfo.InvariantCulture);
        }

        public static int? Integer(IDictionary options, string key)
        {
            object value = Get(options, key);
            if (value == null)
            {
                return null;
            }
            return Convert.ToInt32(value, CultureInfo.InvariantCulture);
        }

        public static IDictionary Dict(IDictionary options, string key)
        {
            return Get(options, key) as IDictionary;
        }

        public static List<string> Strings(IDictionary options, string key)
        {
            List<string> items = new List<string>();
            object value = Get(options, key);
            if (value == null)
            {
                return items;
            }
            if (value is string)
            {
                items.Add((string)value);
                return items;
            }
            IEnumerable list = value as IEnumerable;
            if (list != null)
            {
                foreach (object item in list)
                {
                    object plain = Unwrap(item);
                    if (plain != null)
                    {
                        items.Add(Convert.ToString(plain, CultureInfo.InvariantCulture));
                    }
                }
            }
            return items;
        }

        public static string Py(double value)
        {
            // Python's '%.1f' and '%.2f' use '.' whatever the host's culture.
            return value.ToString("0.0", CultureInfo.InvariantCulture);
        }
    }

    internal sealed class TransportException : Exception
    {
        public readonly string Condition;
        // A TLS handshake that failed on what the server sent (not a timeout or a dropped connection).
        public readonly bool Answered;

        public TransportException(string condition, string message) : this(condition, message, false)
        {
        }

        public TransportException(string condition, string message, bool answered) : base(message)
        {
            Condition = condition;
            Answered = answered;
        }
    }

    internal sealed class ReplyException : Exception
    {
        public readonly string Condition;
        public readonly List<string> Lines;

        public ReplyException(string condition, string message, List<string> lines) : base(message)
        {
            Condition = condition;
            Lines = lines ?? new List<string>();
        }
    }

    internal sealed class VerifyException : Exception
    {
        public readonly string Condition;

        public VerifyException(string condition, string message) : base(message)
        {
            Condition = condition;
        }
    }

    /// <summary>The session cannot go on: the failure is already recorded as a step.</summary>
    internal sealed class AbortException : Exception
    {
    }

    internal static class Monotonic
    {
        public static double Now()
        {
            return Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;
        }
    }

    /// <summary>Monotonic start and overall deadline of one probe (connection.py Clock).</summary>
    internal sealed class Clock
    {
        public readonly double Start;
        public readonly double DeadlineAt;

        public Clock(double deadline)
        {
            Start = Monotonic.Now();
            DeadlineAt = Start + deadline;
        }

        public double ElapsedMs()
        {
            return (Monotonic.Now() - Start) * 1000.0;
        }

        /// <summary>The absolute limit of an operation allowed <paramref name="timeout"/> seconds, and the
        /// condition named when it runs out.</summary>
        public double Window(double timeout, string condition, out string limitCondition)
        {
            double limit = Monotonic.Now() + timeout;
            if (DeadlineAt <= limit)
            {
                limitCondition = Conditions.DeadlineExceeded;
                return DeadlineAt;
            }
            limitCondition = condition;
            return limit;
        }
    }

    /// <summary>One complete reply (reply.py Reply).</summary>
    internal sealed class Reply
    {
        private static readonly Regex EnhancedPattern = new Regex(@"^([245])\.(\d{1,3})\.(\d{1,3})(?=[ \t]|$)", RegexOptions.CultureInvariant);

        public readonly int Code;
        public readonly List<string> Lines;
        public readonly bool BareLf;
        private List<string> texts;
        private string enhanced;

        public Reply(int code, List<string> lines, bool bareLf)
        {
            Code = code;
            Lines = lines;
            BareLf = bareLf;
        }

        public int Class
        {
            get { return Code / 100; }
        }

        public List<string> Texts
        {
            get
            {
                Split();
                return texts;
            }
        }

        public string Enhanced
        {
            get
            {
                Split();
                return enhanced;
            }
        }

        public string Text
        {
            get { return string.Join("\n", Texts.ToArray()); }
        }

        private void Split()
        {
            if (texts != null)
            {
                return;
            }
            List<string> found = new List<string>();
            foreach (string line in Lines)
            {
                found.Add(line.Length > 4 ? line.Substring(4) : "");
            }
            string first = found[0];
            if (first.Length > 0 && "245".IndexOf(first[0]) >= 0)
            {
                Match match = EnhancedPattern.Match(first);
                if (match.Success)
                {
                    enhanced = match.Value;
                    found[0] = first.Substring(match.Length).TrimStart(' ', '\t');
                }
            }
            if (enhanced != null)
            {
                for (int i = 1; i < found.Count; i++)
                {
                    if (found[i].StartsWith(enhanced, StringComparison.Ordinal))
                    {
                        found[i] = found[i].Substring(enhanced.Length).TrimStart(' ', '\t');
                    }
                }
            }
            texts = found;
        }
    }

    /// <summary>reply.py ReplyLimits: how much one reply may hold before reading stops.</summary>
    internal sealed class ReplyLimits
    {
        public int MaxLine = 4096;
        public int MaxLines = 500;
        public int MaxBytes = 64 * 1024;
    }

    /// <summary>Reads replies line by line with hard limits, keeping leftover bytes (pipelining).
    /// Same checks and conditions as reply.py ReplyReader.</summary>
    internal sealed class ReplyReader
    {
        public const int RecvSize = 16384;
        private readonly Connection conn;
        private readonly ReplyLimits limits;
        private byte[] buffer = new byte[RecvSize * 2];
        private int length;
        private readonly byte[] chunk = new byte[RecvSize];

        public ReplyReader(Connection conn, ReplyLimits limits)
        {
            this.conn = conn;
            this.limits = limits;
        }

        public int Pending
        {
            get { return length; }
        }

        public byte[] DiscardPending()
        {
            byte[] data = new byte[Math.Min(length, 256)];
            Array.Copy(buffer, data, data.Length);
            length = 0;
            return data;
        }

        private void Drop(int count)
        {
            count = Math.Min(count, length);
            Array.Copy(buffer, count, buffer, 0, length - count);
            length -= count;
        }

        private void Append(int count)
        {
            if (length + count > buffer.Length)
            {
                byte[] bigger = new byte[Math.Max(buffer.Length * 2, length + count)];
                Array.Copy(buffer, bigger, length);
                buffer = bigger;
            }
            Array.Copy(chunk, 0, buffer, length, count);
            length += count;
        }

        private static string Decode(byte[] data, int start, int count)
        {
            return Encoding.UTF8.GetString(data, start, count);
        }

        private static List<string> Sample(List<byte[]> rawLines)
        {
            // Bounded sample for the transcript: the first lines only.
            List<string> lines = new List<string>();
            for (int i = 0; i < rawLines.Count && i < 20; i++)
            {
                lines.Add(Decode(rawLines[i], 0, Math.Min(rawLines[i].Length, 512)));
            }
            return lines;
        }

        private static bool ValidCode(byte[] raw)
        {
            return raw.Length >= 3 && raw[0] >= (byte)'2' && raw[0] <= (byte)'5' && raw[1] >= (byte)'0' && raw[1] <= (byte)'9'
                && raw[2] >= (byte)'0' && raw[2] <= (byte)'9';
        }

        private static string Repr(byte[] raw)
        {
            return "'" + Decode(raw, 0, Math.Min(raw.Length, 64)) + "'";
        }

        /// <summary>Validate one line against the reply so far; returns whether it ends the reply.</summary>
        private static bool CheckLine(byte[] raw, ref string code, List<byte[]> rawLines)
        {
            string head = raw.Length >= 3 ? Encoding.ASCII.GetString(raw, 0, 3) : null;
            if (head == null || head != code)
            {
                if (!ValidCode(raw))
                {
                    throw new ReplyException(Conditions.ReplyMalformed, "invalid reply code in line " + Repr(raw), Sample(rawLines));
                }
                if (code != null)
                {
                    throw new ReplyException(Conditions.ReplyMalformed, string.Format("reply code changed from {0} to {1} in a multi-line reply", code, head), Sample(rawLines));
                }
            }
            code = head;
            if (raw.Length == 3 || raw[3] == (byte)' ')
            {
                return true;
            }
            if (raw[3] == (byte)'-')
            {
                return false;
            }
            throw new ReplyException(Conditions.ReplyMalformed, "invalid separator after the reply code in line " + Repr(raw), Sample(rawLines));
        }

        private int Receive()
        {
            return conn.Recv(chunk, RecvSize);
        }

        public Reply ReadReply()
        {
            List<byte[]> rawLines = new List<byte[]>();
            string code = null;
            int consumed = 0;
            int scanFrom = 0;
            bool bareLf = false;
            while (true)
            {
                int newline = Array.IndexOf(buffer, (byte)'\n', consumed + scanFrom, length - consumed - scanFrom);
                if (newline < 0)
                {
                    int partial = length - consumed;
                    if (partial > limits.MaxLine)
                    {
                        Drop(length);
                        throw new ReplyException(Conditions.ReplyLineTooLong, string.Format("a reply line exceeded {0} bytes", limits.MaxLine), Sample(rawLines));
                    }
                    if (length > limits.MaxBytes)
                    {
                        Drop(length);
                        throw new ReplyException(Conditions.ReplyTooLarge, string.Format("the reply exceeded {0} bytes", limits.MaxBytes), Sample(rawLines));
                    }
                    scanFrom = partial;
                    int received = Receive();
                    if (received <= 0)
                    {
                        Drop(length);
                        string message = rawLines.Count > 0 || partial > 0
                            ? "the server closed the connection in the middle of a reply" : "the server closed the connection";
                        throw new ReplyException(Conditions.ConnectionClosed, message, Sample(rawLines));
                    }
                    Append(received);
                    continue;
                }
                scanFrom = 0;
                int end = newline;
                if (end > consumed && buffer[end - 1] == (byte)'\r')
                {
                    end -= 1;
                }
                else
                {
                    bareLf = true;
                }
                if (end - consumed > limits.MaxLine)
                {
                    Drop(newline + 1);
                    throw new ReplyException(Conditions.ReplyLineTooLong, string.Format("a reply line exceeded {0} bytes", limits.MaxLine), Sample(rawLines));
                }
                byte[] raw = new byte[end - consumed];
                Array.Copy(buffer, consumed, raw, 0, raw.Length);
                bool isLast;
                try
                {
                    isLast = CheckLine(raw, ref code, rawLines);
                }
                catch (ReplyException)
                {
                    Drop(newline + 1);
                    throw;
                }
                consumed = newline + 1;
                rawLines.Add(raw);
                if (consumed > limits.MaxBytes)
                {
                    Drop(consumed);
                    throw new ReplyException(Conditions.ReplyTooLarge, string.Format("the reply exceeded {0} bytes", limits.MaxBytes), Sample(rawLines));
                }
                if (isLast)
                {
                    Drop(consumed);
                    return Build(int.Parse(code, CultureInfo.InvariantCulture), rawLines, bareLf);
                }
                if (rawLines.Count >= limits.MaxLines)
                {
                    Drop(consumed);
                    throw new ReplyException(Conditions.ReplyTooManyLines, string.Format("the reply exceeded {0} lines", limits.MaxLines), Sample(rawLines));
                }
            }
        }

        private static Reply Build(int code, List<byte[]> rawLines, bool bareLf)
        {
            List<string> lines = new List<string>();
            foreach (byte[] raw in rawLines)
            {
                lines.Add(Decode(raw, 0, raw.Length));
            }
            return new Reply(code, lines, bareLf);
        }
    }

    /// <summary>Outcome of certificate verification inside the TLS handshake.</summary>
    internal sealed class TlsSession
    {
        public bool Verify;
        public string ServerName;
        public List<X509Certificate2> Authorities;
        public byte[] CertificateDer;
        public string VerifyCondition;
        public string VerifyMessage;
    }

    /// <summary>One connected socket (plain or TLS) with timed send and receive (connection.py Connection).
    /// Every blocking call gets min(operation timeout, time left before the deadline).</summary>
    internal sealed class Connection
    {
        private readonly Clock clock;
        private readonly double commandTimeout;
        private Socket socket;
        private NetworkStream network;
        private Stream stream;
        private SslStream tls;
        private double limitAt = -1;
        private string limitCondition = Conditions.CommandTimeout;
        public bool Tls;
        // The watchdog closes the socket when an operation outlives its time window: Mono's SslStream reads
        // asynchronously underneath, where socket timeouts do not apply.
        private readonly object guard = new object();
        private Timer watchdog;
        private bool watching;
        private bool expired;
        private double watchLimit;

        public Connection(Socket socket, Clock clock, double commandTimeout)
        {
            this.socket = socket;
            this.clock = clock;
            this.commandTimeout = commandTimeout;
            network = new NetworkStream(socket, false);
            stream = network;
        }

        public SslStream Secure
        {
            get { return tls; }
        }

        public void Begin()
        {
            limitAt = clock.Window(commandTimeout, Conditions.CommandTimeout, out limitCondition);
        }

        private double Remaining()
        {
            if (limitAt < 0)
            {
                Begin();
            }
            double remaining = limitAt - Monotonic.Now();
            if (remaining <= 0)
            {
                throw TimeoutError();
            }
            return remaining;
        }

        private TransportException TimeoutError()
        {
            if (limitCondition == Conditions.DeadlineExceeded)
            {
                return new TransportException(Conditions.DeadlineExceeded, "the overall deadline ran out");
            }
            return new TransportException(Conditions.CommandTimeout, "no complete reply within command_timeout (" + Values.Py(commandTimeout) + " s)");
        }

        private void Watch(double limit)
        {
            lock (guard)
            {
                watching = true;
                expired = false;
                watchLimit = limit;
                int due = Milliseconds(limit - Monotonic.Now());
                if (watchdog == null)
                {
                    watchdog = new Timer(Expire, null, due, Timeout.Infinite);
                }
                else
                {
                    watchdog.Change(due, Timeout.Infinite);
                }
            }
        }

        private void Unwatch()
        {
            lock (guard)
            {
                watching = false;
                if (watchdog != null)
                {
                    watchdog.Change(Timeout.Infinite, Timeout.Infinite);
                }
            }
        }

        private void Expire(object state)
        {
            Socket current;
            lock (guard)
            {
                if (!watching || watchdog == null)
                {
                    return;
                }
                double early = watchLimit - Monotonic.Now();
                if (early > 0.001)
                {
                    watchdog.Change(Milliseconds(early), Timeout.Infinite);
                    return;
                }
                expired = true;
                current = socket;
            }
            // Outside the lock: the interrupted reader takes it on its way out.
            if (current != null)
            {
                try
                {
                    current.Close();
                }
                catch (Exception)
                {
                }
            }
        }

        private static int Milliseconds(double seconds)
        {
            // 0 means "no timeout" to a socket.
            return (int)Math.Max(1, Math.Min(int.MaxValue, Math.Ceiling(seconds * 1000.0)));
        }

        private bool TimedOut(Exception exc)
        {
            if (expired)
            {
                return true;
            }
            for (Exception inner = exc; inner != null; inner = inner.InnerException)
            {
                SocketException socketError = inner as SocketException;
                if (socketError != null && (socketError.SocketErrorCode == SocketError.TimedOut || socketError.SocketErrorCode == SocketError.WouldBlock))
                {
                    return true;
                }
            }
            return limitAt >= 0 && Monotonic.Now() >= limitAt - 0.005;
        }

        private static bool WasReset(Exception exc)
        {
            for (Exception inner = exc; inner != null; inner = inner.InnerException)
            {
                SocketException socketError = inner as SocketException;
                if (socketError != null && (socketError.SocketErrorCode == SocketError.ConnectionReset || socketError.SocketErrorCode == SocketError.ConnectionAborted
                    || socketError.SocketErrorCode == SocketError.Shutdown))
                {
                    return true;
                }
            }
            return false;
        }

        private static string Reason(Exception exc)
        {
            for (Exception inner = exc; inner != null; inner = inner.InnerException)
            {
                SocketException socketError = inner as SocketException;
                if (socketError != null)
                {
                    return Net.Describe(socketError);
                }
            }
            return exc.Message;
        }

        public void Send(byte[] data)
        {
            try
            {
                double remaining = Remaining();
                if (socket == null)
                {
                    throw new TransportException(Conditions.ConnectionReset, "sending failed: connection closed");
                }
                socket.SendTimeout = Milliseconds(remaining);
                Watch(limitAt);
                try
                {
                    stream.Write(data, 0, data.Length);
                    stream.Flush();
                }
                finally
                {
                    Unwatch();
                }
            }
            catch (TransportException)
            {
                throw;
            }
            catch (Exception exc)
            {
                // Mono's SslStream wraps socket errors in AggregateException: every runtime error here is transport.
                if (!(exc is OutOfMemoryException || exc is ThreadAbortException))
                {
                    if (expired || (TimedOut(exc) && !WasReset(exc)))
                    {
                        throw TimeoutError();
                    }
                    if (WasReset(exc))
                    {
                        throw new TransportException(Conditions.ConnectionReset, "the server reset the connection: " + Reason(exc));
                    }
                    throw new TransportException(Conditions.ConnectionReset, "sending failed: " + Reason(exc));
                }
                throw;
            }
        }

        public int Recv(byte[] into, int size)
        {
            try
            {
                double remaining = Remaining();
                if (socket == null)
                {
                    return 0;
                }
                socket.ReceiveTimeout = Milliseconds(remaining);
                Watch(limitAt);
                try
                {
                    int count = stream.Read(into, 0, size);
                    if (expired)
                    {
                        throw TimeoutError();
                    }
                    return count;
                }
                finally
                {
                    Unwatch();
                }
            }
            catch (TransportException)
            {
                throw;
            }
            catch (Exception exc)
            {
                // Mono's SslStream wraps socket errors in AggregateException: every runtime error here is transport.
                if (!(exc is OutOfMemoryException || exc is ThreadAbortException))
                {
                    if (expired)
                    {
                        throw TimeoutError();
                    }
                    if (WasReset(exc))
                    {
                        throw new TransportException(Conditions.ConnectionReset, "the server reset the connection: " + Reason(exc));
                    }
                    if (TimedOut(exc))
                    {
                        throw TimeoutError();
                    }
                    if (socket == null || exc is ObjectDisposedException)
                    {
                        return 0;
                    }
                    throw new TransportException(Conditions.ConnectionReset, "reading failed: " + Reason(exc));
                }
                throw;
            }
        }

        /// <summary>TLS over the socket within <paramref name="timeout"/> (capped by the deadline). Throws
        /// VerifyException when the certificate failed verification, TransportException otherwise; the
        /// connection is closed when the handshake fails.</summary>
        public void StartTls(TlsSession session, double timeout)
        {
            string condition;
            double limit = clock.Window(timeout, Conditions.CommandTimeout, out condition);
            double remaining = limit - Monotonic.Now();
            if (remaining <= 0)
            {
                Close();
                throw new TransportException(condition, "no time left for the TLS handshake");
            }
            SslStream secure = new SslStream(network, false, delegate(object sender, X509Certificate certificate, X509Chain chain, SslPolicyErrors errors)
            {
                return Verification.Check(session, certificate, chain, errors);
            });
            try
            {
                socket.ReceiveTimeout = Milliseconds(remaining);
                socket.SendTimeout = Milliseconds(remaining);
                Watch(limit);
                try
                {
                    secure.AuthenticateAsClient(session.ServerName, null, Protocols(), false);
                }
                finally
                {
                    Unwatch();
                }
                if (expired)
                {
                    throw new IOException("the handshake outlived its time window");
                }
            }
            catch (Exception exc)
            {
                Close();
                if (session.VerifyCondition != null)
                {
                    throw new VerifyException(session.VerifyCondition, session.VerifyMessage);
                }
                bool late = expired || Monotonic.Now() >= limit - 0.005;
                if (late || (TimedOutOnly(exc)))
                {
                    if (condition == Conditions.DeadlineExceeded)
                    {
                        throw new TransportException(condition, "the overall deadline ran out during the TLS handshake");
                    }
                    throw new TransportException(Conditions.TlsHandshakeFailed, "the TLS handshake did not finish within " + Values.Py(timeout) + " s");
                }
                if (!(exc is OutOfMemoryException || exc is ThreadAbortException))
                {
                    if (SocketFailure(exc) != null)
                    {
                        throw new TransportException(Conditions.TlsHandshakeFailed, "the connection failed during the TLS handshake: " + Net.Describe(SocketFailure(exc)));
                    }
                    throw new TransportException(Conditions.TlsHandshakeFailed, "TLS handshake failed: " + Innermost(exc), true);
                }
                throw;
            }
            tls = secure;
            stream = secure;
            Tls = true;
        }

        private static SocketException SocketFailure(Exception exc)
        {
            for (Exception inner = exc; inner != null; inner = inner.InnerException)
            {
                SocketException socketError = inner as SocketException;
                if (socketError != null)
                {
                    return socketError;
                }
            }
            return null;
        }

        private static bool TimedOutOnly(Exception exc)
        {
            for (Exception inner = exc; inner != null; inner = inner.InnerException)
            {
                SocketException socketError = inner as SocketException;
                if (socketError != null)
                {
                    return socketError.SocketErrorCode == SocketError.TimedOut || socketError.SocketErrorCode == SocketError.WouldBlock;
                }
            }
            return false;
        }

        private static string Innermost(Exception exc)
        {
            List<string> messages = new List<string>();
            for (Exception inner = exc; inner != null; inner = inner.InnerException)
            {
                if (!messages.Contains(inner.Message))
                {
                    messages.Add(inner.Message);
                }
            }
            // One line: Mono appends the native source location on a new line.
            return string.Join(": ", messages.ToArray()).Split('\n')[0].Trim();
        }

        private static SslProtocols Protocols()
        {
            // .NET Framework 4.5/4.6 default to TLS 1.0 only: ask for 1.2 (and 1.3 where the runtime knows it).
            SslProtocols protocols = SslProtocols.Tls | SslProtocols.Tls11 | SslProtocols.Tls12;
            if (Type.GetType("Mono.Runtime") == null && Enum.IsDefined(typeof(SslProtocols), 12288))
            {
                protocols |= (SslProtocols)12288;
            }
            return protocols;
        }

        public string LocalAddress()
        {
            try
            {
                IPEndPoint local = socket == null ? null : socket.LocalEndPoint as IPEndPoint;
                return local == null ? null : Net.Text(local.Address);
            }
            catch (Exception)
            {
                return null;
            }
        }

        public void Close()
        {
            Socket closing;
            lock (guard)
            {
                closing = socket;
                socket = null;
                watching = false;
                if (watchdog != null)
                {
                    watchdog.Dispose();
                    watchdog = null;
                }
            }
            if (closing == null)
            {
                return;
            }
            // The socket first: disposing an SslStream may try to write close_notify to a peer that no longer reads.
            try
            {
                closing.Close();
            }
            catch (Exception)
            {
            }
            try
            {
                if (tls != null)
                {
                    tls.Dispose();
                }
            }
            catch (Exception)
            {
            }
        }
    }

    /// <summary>Certificate verification: the same condition names and messages as the Python path
    /// (OpenSSL's order: an untrusted chain first, then the name, then the validity dates).</summary>
    internal static class Verification
    {
        public static bool Check(TlsSession session, X509Certificate certificate, X509Chain chain, SslPolicyErrors errors)
        {
            if (certificate == null)
            {
                if (!session.Verify)
                {
                    return true;
                }
                session.VerifyCondition = Conditions.TlsCertInvalid;
                session.VerifyMessage = "the server sent no certificate";
                return false;
            }
            session.CertificateDer = certificate.GetRawCertData();
            if (!session.Verify)
            {
                return true;
            }
            string condition;
            string message;
            X509Certificate2 leaf = new X509Certificate2(session.CertificateDer);
            Classify(session, leaf, chain, errors, out condition, out message);
            if (condition == null)
            {
                return true;
            }
            session.VerifyCondition = condition;
            session.VerifyMessage = message;
            return false;
        }

        private static void Classify(TlsSession session, X509Certificate2 leaf, X509Chain chain, SslPolicyErrors errors, out string condition, out string message)
        {
            condition = null;
            message = null;
            bool trusted;
            try
            {
                trusted = Trusted(session, leaf, chain, errors);
            }
            catch (Exception exc)
            {
                if (!(exc is CryptographicException || exc is NotSupportedException || exc is ArgumentException))
                {
                    throw;
                }
                // A key the runtime cannot decode (Mono's chain code and EC keys): the chain cannot be trusted.
                trusted = false;
            }
            if (!trusted)
            {
                if (SameBytes(leaf.SubjectName.RawData, leaf.IssuerName.RawData))
                {
                    condition = Conditions.TlsCertSelfSigned;
                    message = "self-signed certificate";
                }
                else
                {
                    condition = Conditions.TlsCertUnknownCa;
                    message = "unable to get local issuer certificate";
                }
                return;
            }
            IPAddress literal;
            string name = session.ServerName;
            if (IPAddress.TryParse(name, out literal))
            {
                if (!Names.MatchesAddress(leaf, literal))
                {
                    condition = Conditions.TlsCertNameMismatch;
                    message = "IP address mismatch, certificate is not valid for '" + name + "'.";
                    return;
                }
            }
            else if (!Names.MatchesHost(leaf, name))
            {
                condition = Conditions.TlsCertNameMismatch;
                message = "Hostname mismatch, certificate is not valid for '" + name + "'.";
                return;
            }
            DateTime now = DateTime.UtcNow;
            if (now > leaf.NotAfter.ToUniversalTime())
            {
                condition = Conditions.TlsCertExpired;
                message = "certificate has expired";
            }
            else if (now < leaf.NotBefore.ToUniversalTime())
            {
                condition = Conditions.TlsCertNotYetValid;
                message = "certificate is not yet valid";
            }
        }

        private static bool SameBytes(byte[] left, byte[] right)
        {
            if (left.Length != right.Length)
            {
                return false;
            }
            for (int i = 0; i < left.Length; i++)
            {
                if (left[i] != right[i])
                {
                    return false;
                }
            }
            return true;
        }

        /// <summary>Whether the chain ends in a trusted root. With ca_path, only those authorities are
        /// trusted (as Python's cafile); without it, the host's store as SslStream saw it.</summary>
        private static bool Trusted(TlsSession session, X509Certificate2 leaf, X509Chain presented, SslPolicyErrors errors)
        {
            if ((errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
            {
                return false;
            }
            if (session.Authorities != null)
            {
                return ChainsTo(leaf, presented, session.Authorities);
            }
            if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) == 0)
            {
                return true;
            }
            if (presented == null || presented.ChainStatus == null || presented.ChainStatus.Length == 0)
            {
                return false;
            }
            foreach (X509ChainStatus status in presented.ChainStatus)
            {
                // Dates are judged after the name, as OpenSSL does; revocation is not checked by either engine.
                X509ChainStatusFlags flag = status.Status;
                if (flag != X509ChainStatusFlags.NotTimeValid && flag != X509ChainStatusFlags.NotTimeNested && flag != X509ChainStatusFlags.NoError
                    && flag != X509ChainStatusFlags.RevocationStatusUnknown && flag != X509ChainStatusFlags.OfflineRevocation)
                {
                    return false;
                }
            }
            return true;
        }

        private static bool ChainsTo(X509Certificate2 leaf, X509Chain presented, List<X509Certificate2> authorities)
        {
            HashSet<string> wanted = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (X509Certificate2 authority in authorities)
            {
                wanted.Add(authority.Thumbprint);
            }
            if (wanted.Contains(leaf.Thumbprint))
            {
                return true;
            }
            X509Chain chain = new X509Chain();
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.VerificationFlags = X509VerificationFlags.AllowUnknownCertificateAuthority | X509VerificationFlags.IgnoreNotTimeValid
                | X509VerificationFlags.IgnoreNotTimeNested | X509VerificationFlags.IgnoreCtlNotTimeValid;
            foreach (X509Certificate2 authority in authorities)
            {
                chain.ChainPolicy.ExtraStore.Add(authority);
            }
            if (presented != null)
            {
                foreach (X509ChainElement element in presented.ChainElements)
                {
                    chain.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }
            try
            {
                chain.Build(leaf);
            }
            catch (CryptographicException)
            {
                return false;
            }
            if (chain.ChainElements.Count < 2)
            {
                return false;
            }
            foreach (X509ChainStatus status in chain.ChainStatus)
            {
                X509ChainStatusFlags flag = status.Status;
                if ((flag & (X509ChainStatusFlags.NotSignatureValid | X509ChainStatusFlags.PartialChain | X509ChainStatusFlags.Cyclic
                    | X509ChainStatusFlags.InvalidBasicConstraints)) != 0)
                {
                    return false;
                }
            }
            X509Certificate2 root = chain.ChainElements[chain.ChainElements.Count - 1].Certificate;
            return wanted.Contains(root.Thumbprint);
        }

        /// <summary>Certificates of a PEM or DER file, or of every such file in a directory.</summary>
        public static List<X509Certificate2> LoadAuthorities(string path)
        {
            List<X509Certificate2> found = new List<X509Certificate2>();
            if (string.IsNullOrEmpty(path))
            {
                return null;
            }
            if (Directory.Exists(path))
            {
                foreach (string file in Directory.GetFiles(path))
                {
                    try
                    {
                        found.AddRange(FromFile(file));
                    }
                    catch (Exception)
                    {
                        // capath directories hold other files too (hash links, CRLs).
                    }
                }
                return found;
            }
            found.AddRange(FromFile(path));
            return found;
        }

        private static List<X509Certificate2> FromFile(string file)
        {
            List<X509Certificate2> found = new List<X509Certificate2>();
            byte[] content = File.ReadAllBytes(file);
            string text = Encoding.ASCII.GetString(content);
            const string Begin = "-----BEGIN CERTIFICATE-----";
            const string End = "-----END CERTIFICATE-----";
            int at = text.IndexOf(Begin, StringComparison.Ordinal);
            if (at < 0)
            {
                found.Add(new X509Certificate2(content));
                return found;
            }
            while (at >= 0)
            {
                int stop = text.IndexOf(End, at, StringComparison.Ordinal);
                if (stop < 0)
                {
                    break;
                }
                string body = text.Substring(at + Begin.Length, stop - at - Begin.Length);
                found.Add(new X509Certificate2(Convert.FromBase64String(body.Replace("\r", "").Replace("\n", "").Trim())));
                at = text.IndexOf(Begin, stop, StringComparison.Ordinal);
            }
            return found;
        }
    }

    /// <summary>Host name checks as OpenSSL does them for Python: dNSName SANs (a wildcard only as the
    /// whole left-most label), iPAddress SANs for address literals, the CN only without dNSName SANs.</summary>
    internal static class Names
    {
        private const string SanOid = "2.5.29.17";

        private static void Sans(X509Certificate2 certificate, List<string> dns, List<byte[]> addresses)
        {
            foreach (X509Extension extension in certificate.Extensions)
            {
                if (extension.Oid == null || extension.Oid.Value != SanOid)
                {
                    continue;
                }
                byte[] data = extension.RawData;
                int pos = 0;
                int end;
                if (!Der.Element(data, ref pos, data.Length, out end) || data[0] != 0x30)
                {
                    return;
                }
                int inner = pos;
                while (inner < end)
                {
                    byte tag = data[inner];
                    int valueEnd;
                    int valueStart = inner;
                    if (!Der.Element(data, ref valueStart, end, out valueEnd))
                    {
                        return;
                    }
                    byte[] value = new byte[valueEnd - valueStart];
                    Array.Copy(data, valueStart, value, 0, value.Length);
                    if (tag == 0x82)
                    {
                        dns.Add(Encoding.ASCII.GetString(value));
                    }
                    else if (tag == 0x87)
                    {
                        addresses.Add(value);
                    }
                    inner = valueEnd;
                }
            }
        }

        public static bool MatchesHost(X509Certificate2 certificate, string host)
        {
            List<string> dns = new List<string>();
            List<byte[]> addresses = new List<byte[]>();
            Sans(certificate, dns, addresses);
            string wanted = host.TrimEnd('.').ToLowerInvariant();
            if (dns.Count == 0)
            {
                string common = certificate.GetNameInfo(X509NameType.SimpleName, false);
                return common != null && Matches(common.ToLowerInvariant(), wanted);
            }
            foreach (string name in dns)
            {
                if (Matches(name.TrimEnd('.').ToLowerInvariant(), wanted))
                {
                    return true;
                }
            }
            return false;
        }

        private static bool Matches(string pattern, string host)
        {
            if (pattern == host)
            {
                return true;
            }
            if (!pattern.StartsWith("*.", StringComparison.Ordinal))
            {
                return false;
            }
            int dot = host.IndexOf('.');
            return dot > 0 && host.Substring(dot) == pattern.Substring(1) && pattern.Substring(1).IndexOf('.', 1) > 0;
        }

        public static bool MatchesAddress(X509Certificate2 certificate, IPAddress address)
        {
            List<string> dns = new List<string>();
            List<byte[]> addresses = new List<byte[]>();
            Sans(certificate, dns, addresses);
            byte[] wanted = address.GetAddressBytes();
            foreach (byte[] candidate in addresses)
            {
                if (candidate.Length == wanted.Length)
                {
                    bool same = true;
                    for (int i = 0; i < wanted.Length; i++)
                    {
                        same = same && candidate[i] == wanted[i];
                    }
                    if (same)
                    {
                        return true;
                    }
                }
            }
            return false;
        }
    }

    internal static class Der
    {
        /// <summary>Read the header of the element at <paramref name="pos"/>: moves pos to its content and
        /// sets end; false when it does not fit in <paramref name="limit"/>.</summary>
        public static bool Element(byte[] data, ref int pos, int limit, out int end)
        {
            end = 0;
            if (pos + 2 > limit)
            {
                return false;
            }
            int length = data[pos + 1];
            pos += 2;
            if ((length & 0x80) != 0)
            {
                int count = length & 0x7f;
                if (count == 0 || count > 4 || pos + count > limit)
                {
                    return false;
                }
                length = 0;
                for (int i = 0; i < count; i++)
                {
                    length = (length << 8) | data[pos + i];
                }
                pos += count;
            }
            if (length < 0 || pos + length > limit)
            {
                return false;
            }
            end = pos + length;
            return true;
        }
    }

    internal static class Net
    {
        public static string Text(IPAddress address)
        {
            if (IsMapped(address))
            {
                byte[] bytes = address.GetAddressBytes();
                return string.Format("{0}.{1}.{2}.{3}", bytes[12], bytes[13], bytes[14], bytes[15]);
            }
            string text = address.ToString();
            int scope = text.IndexOf('%');
            return scope > 0 ? text.Substring(0, scope) : text;
        }

        /// <summary>An IPv4 address in IPv6 form (::ffff:a.b.c.d); IPAddress.IsIPv4MappedToIPv6Address is not in Mono's 4.5 profile.</summary>
        public static bool IsMapped(IPAddress address)
        {
            if (address.AddressFamily != AddressFamily.InterNetworkV6)
            {
                return false;
            }
            byte[] bytes = address.GetAddressBytes();
            for (int i = 0; i < 10; i++)
            {
                if (bytes[i] != 0)
                {
                    return false;
                }
            }
            return bytes[10] == 0xff && bytes[11] == 0xff;
        }

        /// <summary>The strerror text Linux gives, which the Python path reports.</summary>
        public static string Describe(SocketException exc)
        {
            switch (exc.SocketErrorCode)
            {
                case SocketError.ConnectionRefused:
                    return "Connection refused";
                case SocketError.HostUnreachable:
                    return "No route to host";
                case SocketError.NetworkUnreachable:
                    return "Network is unreachable";
                case SocketError.AddressNotAvailable:
                    return "Cannot assign requested address";
                case SocketError.TimedOut:
                    return "Connection timed out";
                case SocketError.ConnectionReset:
                    return "Connection reset by peer";
                case SocketError.AccessDenied:
                    return "Permission denied";
                case SocketError.AddressFamilyNotSupported:
                    return "Address family not supported by protocol";
                case SocketError.Shutdown:
                case SocketError.ConnectionAborted:
                    return "Broken pipe";
                default:
                    return exc.Message;
            }
        }

        public static string ConditionOf(SocketError error)
        {
            switch (error)
            {
                case SocketError.ConnectionRefused:
                    return Conditions.ConnectionRefused;
                case SocketError.HostUnreachable:
                    return Conditions.NoRoute;
                case SocketError.NetworkUnreachable:
                case SocketError.AddressFamilyNotSupported:
                    return Conditions.NetworkUnreachable;
                case SocketError.AddressNotAvailable:
                    return Conditions.AddressUnavailable;
                case SocketError.ConnectionReset:
                    return Conditions.ConnectionReset;
                case SocketError.TimedOut:
                    return Conditions.ConnectTimeout;
                default:
                    // A local firewall rule shows up as access denied: refused, as in connection.py.
                    return Conditions.ConnectionRefused;
            }
        }
    }

    /// <summary>A command: its wire bytes and its redacted display text.</summary>
    internal sealed class Command
    {
        public readonly string Name;
        public readonly byte[] Wire;
        public readonly string Display;
        public readonly List<string> TranscriptLines;

        public Command(string name, byte[] wire, string display, List<string> transcriptLines)
        {
            Name = name;
            Wire = wire;
            Display = display;
            TranscriptLines = transcriptLines;
        }

        public static Command Of(string name, string text)
        {
            return Of(name, text, text);
        }

        public static Command Of(string name, string text, string display)
        {
            return new Command(name, Encoding.UTF8.GetBytes(text + "\r\n"), display, null);
        }
    }

    /// <summary>Removes secrets (and their base64 forms) from text (transcript.py Redactor).</summary>
    internal sealed class Redactor
    {
        public const string Mask = "********";
        private readonly List<string> secrets = new List<string>();

        public bool Any
        {
            get { return secrets.Count > 0; }
        }

        public void Add(string secret)
        {
            if (string.IsNullOrEmpty(secret))
            {
                return;
            }
            foreach (string form in new string[] { secret, Convert.ToBase64String(Encoding.UTF8.GetBytes(secret)) })
            {
                if (form.Length > 0 && !secrets.Contains(form))
                {
                    secrets.Add(form);
                }
            }
            secrets.Sort(delegate(string left, string right) { return right.Length.CompareTo(left.Length); });
        }

        public string Apply(string text)
        {
            if (text == null || secrets.Count == 0)
            {
                return text;
            }
            foreach (string secret in secrets)
            {
                if (text.IndexOf(secret, StringComparison.Ordinal) >= 0)
                {
                    text = text.Replace(secret, Mask);
                }
            }
            return text;
        }
    }

    /// <summary>Telnet-style lines: "<- " received, "-> " sent, "-- " events; bounded (transcript.py).</summary>
    internal sealed class Transcript
    {
        public const int MaxLines = 5000;
        private readonly List<string> lines = new List<string>();
        private readonly Redactor redactor;
        private int dropped;

        public Transcript(Redactor redactor)
        {
            this.redactor = redactor;
        }

        private void Add(string prefix, IEnumerable<string> items)
        {
            foreach (string item in items)
            {
                if (lines.Count >= MaxLines)
                {
                    dropped++;
                    continue;
                }
                lines.Add(redactor.Apply(prefix + item));
            }
        }

        public void Sent(IEnumerable<string> items)
        {
            Add("-> ", items);
        }

        public void Received(IEnumerable<string> items)
        {
            Add("<- ", items);
        }

        public void Event(string text)
        {
            Add("-- ", new string[] { text });
        }

        public ArrayList AsList()
        {
            ArrayList all = new ArrayList(lines);
            if (dropped > 0)
            {
                all.Add(string.Format("-- {0} more lines not kept", dropped));
            }
            return all;
        }
    }

    /// <summary>EHLO capabilities the dialogue acts on (capabilities.py parse_ehlo).</summary>
    internal sealed class Capabilities
    {
        public bool Starttls;
        public bool Pipelining;
        public bool Dsn;
        public bool SmtpUtf8;
        public bool EightBitMime;
        public long? Size;
        public List<string> Auth = new List<string>();

        public static Capabilities Parse(List<string> texts)
        {
            Capabilities caps = new Capabilities();
            for (int i = 1; i < texts.Count; i++)
            {
                string[] parts = texts[i].Split((char[])null, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 0)
                {
                    continue;
                }
                string keyword = parts[0].ToUpperInvariant();
                switch (keyword)
                {
                    case "PIPELINING":
                        caps.Pipelining = true;
                        continue;
                    case "STARTTLS":
                        caps.Starttls = true;
                        continue;
                    case "DSN":
                        caps.Dsn = true;
                        continue;
                    case "SMTPUTF8":
                        caps.SmtpUtf8 = true;
                        continue;
                    case "8BITMIME":
                        caps.EightBitMime = true;
                        continue;
                }
                if (keyword == "SIZE")
                {
                    long limit;
                    string value = parts.Length > 1 ? parts[1] : "";
                    caps.Size = value.Length > 0 && value.Length <= 20 && IsDigits(value) && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out limit) ? limit : 0;
                }
                else if (keyword == "AUTH" || keyword.StartsWith("AUTH=", StringComparison.Ordinal))
                {
                    List<string> mechanisms = new List<string>();
                    if (keyword != "AUTH")
                    {
                        mechanisms.Add(keyword.Substring(5));
                    }
                    for (int j = 1; j < parts.Length; j++)
                    {
                        mechanisms.Add(parts[j]);
                    }
                    foreach (string mechanism in mechanisms)
                    {
                        string upper = mechanism.ToUpperInvariant();
                        if (upper.Length > 0 && !caps.Auth.Contains(upper))
                        {
                            caps.Auth.Add(upper);
                        }
                    }
                }
            }
            return caps;
        }

        private static bool IsDigits(string value)
        {
            foreach (char c in value)
            {
                if (c < '0' || c > '9')
                {
                    return false;
                }
            }
            return true;
        }
    }

    /// <summary>The user's `expect` for a step (expect.py): needed here only where it changes what is sent
    /// (a rejected EHLO the user expected is not followed by HELO).</summary>
    internal static class Expectations
    {
        private static readonly Regex Enhanced = new Regex(@"^[245]\.\d{1,3}\.\d{1,3}$", RegexOptions.CultureInvariant);
        private static readonly Regex EnhancedPrefix = new Regex(@"^[245]\.\d{1,3}$", RegexOptions.CultureInvariant);
        private static readonly Regex ClassPattern = new Regex(@"^([2-5])(?:xx)?$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase);

        public static bool IsExplicit(IDictionary expect, string step)
        {
            return expect != null && expect.Contains(step);
        }

        public static bool StepOk(IDictionary expect, string step, int code, string enhanced)
        {
            IEnumerable matchers = Values.Get(expect, step) as IEnumerable;
            if (matchers == null || Values.Get(expect, step) is string)
            {
                matchers = new object[] { Values.Get(expect, step) };
            }
            foreach (object item in matchers)
            {
                if (Matches(Values.Unwrap(item), code, enhanced))
                {
                    return true;
                }
            }
            return false;
        }

        private static bool Matches(object matcher, int code, string enhanced)
        {
            string kind;
            string wanted;
            IList pair = matcher as IList;
            if (pair != null && pair.Count == 2)
            {
                // Normalised by the controller: [kind, value].
                kind = Convert.ToString(Values.Unwrap(pair[0]), CultureInfo.InvariantCulture);
                wanted = Convert.ToString(Values.Unwrap(pair[1]), CultureInfo.InvariantCulture);
            }
            else
            {
                Normalise(Convert.ToString(matcher, CultureInfo.InvariantCulture).Trim(), out kind, out wanted);
            }
            switch (kind)
            {
                case "code":
                    return code.ToString(CultureInfo.InvariantCulture) == wanted;
                case "class":
                    return (code / 100).ToString(CultureInfo.InvariantCulture) == wanted;
                case "enhanced":
                    return enhanced == wanted;
                case "enhanced_prefix":
                    return enhanced != null && enhanced.StartsWith(wanted, StringComparison.Ordinal);
                default:
                    // A condition never matches a step that got a reply.
                    return false;
            }
        }

        private static void Normalise(string text, out string kind, out string wanted)
        {
            Match match = ClassPattern.Match(text);
            if (text.Length == 3 && "2345".IndexOf(text[0]) >= 0 && char.IsDigit(text[1]) && char.IsDigit(text[2]))
            {
                kind = "code";
                wanted = text;
            }
            else if (match.Success)
            {
                kind = "class";
                wanted = match.Groups[1].Value;
            }
            else if (Enhanced.IsMatch(text))
            {
                kind = "enhanced";
                wanted = text;
            }
            else if (EnhancedPrefix.IsMatch(text))
            {
                kind = "enhanced_prefix";
                wanted = text + ".";
            }
            else
            {
                kind = "condition";
                wanted = text.ToLowerInvariant();
            }
        }
    }

    /// <summary>One SMTP conversation with one server (dialogue.py SmtpProbe), recorded as raw steps.</summary>
    internal sealed class Probe
    {
        private static readonly Command Rset = Command.Of("rset", "RSET");
        private static readonly Command Quit = Command.Of("quit", "QUIT");
        private static readonly Command Data = Command.Of("data", "DATA");

        private readonly IDictionary options;
        private readonly string host;
        private readonly int port;
        private readonly string tlsMode;
        private readonly bool tlsVerify;
        private readonly string quitAfter;
        private readonly IDictionary auth;
        private readonly IDictionary dsn;
        private readonly IDictionary expect;
        private readonly double connectTimeout;
        private readonly double commandTimeout;
        private readonly double deadline;
        private readonly ReplyLimits limits = new ReplyLimits();
        private readonly Redactor redactor = new Redactor();
        private readonly Transcript transcript;
        private readonly ArrayList steps = new ArrayList();
        private readonly Hashtable target = new Hashtable();
        private readonly Hashtable tls = new Hashtable();
        private List<X509Certificate2> authorities;
        private bool authoritiesLoaded;
        private Capabilities caps = new Capabilities();
        private Clock clock;
        private Connection conn;
        private ReplyReader reader;
        private bool quitSent;
        private bool closed;
        private string ehloName;
        private bool certificateReadable;

        public Probe(IDictionary options)
        {
            this.options = options;
            host = Values.Str(options, "host");
            port = Values.Integer(options, "port") ?? 25;
            tlsMode = (Values.Str(options, "tls") ?? "starttls").ToLowerInvariant();
            tlsVerify = Values.Bool(options, "tls_verify");
            string stop = Values.Str(options, "quit_after");
            quitAfter = stop == null ? null : stop.ToLowerInvariant();
            auth = Values.Dict(options, "auth");
            if (auth != null && Values.Str(auth, "username") == null)
            {
                auth = null;
            }
            dsn = Values.Dict(options, "dsn");
            if (dsn != null && dsn.Count == 0)
            {
                dsn = null;
            }
            expect = Values.Dict(options, "expect");
            connectTimeout = Values.Number(options, "connect_timeout", 10.0);
            commandTimeout = Values.Number(options, "command_timeout", 30.0);
            deadline = Values.Number(options, "deadline", 60.0);
            if (auth != null)
            {
                string user = Values.Str(auth, "username");
                string password = Values.Str(auth, "password") ?? "";
                redactor.Add(password);
                redactor.Add(PlainBlob(user, password));
            }
            transcript = new Transcript(redactor);
            target["host"] = host;
            target["port"] = port;
            target["address"] = null;
            target["ip_version"] = null;
            target["source_address"] = null;
            tls["used"] = false;
            tls["version"] = null;
            tls["cipher"] = null;
            tls["bits"] = null;
            tls["server_name"] = null;
            tls["verify_error"] = null;
            tls["verify_message"] = null;
            tls["certificate_der"] = null;
        }

        private static string PlainBlob(string user, string password)
        {
            byte[] userBytes = Encoding.UTF8.GetBytes(user);
            byte[] passwordBytes = Encoding.UTF8.GetBytes(password);
            byte[] blob = new byte[userBytes.Length + passwordBytes.Length + 2];
            Array.Copy(userBytes, 0, blob, 1, userBytes.Length);
            Array.Copy(passwordBytes, 0, blob, userBytes.Length + 2, passwordBytes.Length);
            return Convert.ToBase64String(blob);
        }

        // --- public ------------------------------------------------------------------------------

        public IDictionary Run()
        {
            clock = new Clock(deadline);
            try
            {
                Dialogue();
                SendQuit();
            }
            catch (AbortException)
            {
            }
            finally
            {
                if (conn != null)
                {
                    conn.Close();
                }
            }
            return Record();
        }

        // --- recording ---------------------------------------------------------------------------

        private static double Round(double milliseconds)
        {
            return Math.Round(milliseconds, 3);
        }

        /// <summary>Record one step of the raw record; <paramref name="waited"/>: the server's own time for the reply.</summary>
        private Hashtable Store(string name, string command, Reply reply, double? started, string condition, string message, double? waited)
        {
            double elapsed = started.HasValue ? Monotonic.Now() - started.Value : 0.0;
            Hashtable step = new Hashtable();
            step["name"] = name;
            step["command"] = command;
            step["lines"] = reply == null ? null : new ArrayList(reply.Lines);
            step["elapsed_ms"] = Round(elapsed * 1000.0);
            step["waited_ms"] = Round((waited ?? elapsed) * 1000.0);
            step["error"] = condition;
            step["error_message"] = message;
            step["bare_lf"] = reply != null && reply.BareLf;
            step["unrequested"] = false;
            steps.Add(step);
            return step;
        }

        private Hashtable StoreNow(string name, string command, Reply reply, double? started, string condition, string message)
        {
            return Store(name, command, reply, started, condition, message, null);
        }

        // --- wire --------------------------------------------------------------------------------

        /// <summary>Send commands in one write (a pipelined group, or one command), read one reply each and
        /// record each as a step. A transport or protocol failure is recorded on the step it hit (later ones as
        /// unanswered) and raises AbortException.</summary>
        private List<Reply> Exchange(List<Command> commands)
        {
            List<string> sent = new List<string>();
            int size = 0;
            foreach (Command command in commands)
            {
                if (command.TranscriptLines != null)
                {
                    sent.AddRange(command.TranscriptLines);
                }
                else
                {
                    sent.Add(command.Display);
                }
                size += command.Wire.Length;
            }
            transcript.Sent(sent);
            byte[] wire = new byte[size];
            int offset = 0;
            foreach (Command command in commands)
            {
                Array.Copy(command.Wire, 0, wire, offset, command.Wire.Length);
                offset += command.Wire.Length;
            }
            double started = Monotonic.Now();
            conn.Begin();
            try
            {
                conn.Send(wire);
            }
            catch (TransportException exc)
            {
                SendFailed(commands, started, exc);
            }
            if (commands[commands.Count - 1].Name == "quit")
            {
                quitSent = true;
            }
            List<Reply> replies = new List<Reply>();
            double previous = started;
            int last = commands.Count - 1;
            for (int index = 0; index < commands.Count; index++)
            {
                Command command = commands[index];
                if (index > 0)
                {
                    conn.Begin();
                }
                Reply reply = null;
                try
                {
                    reply = reader.ReadReply();
                }
                catch (ReplyException exc)
                {
                    ReadFailed(commands, index, started, exc.Condition, exc.Message, exc.Lines);
                }
                catch (TransportException exc)
                {
                    TransportException closedOrReset = ResetAsClose(exc);
                    ReadFailed(commands, index, started, closedOrReset.Condition, closedOrReset.Message, null);
                }
                double arrived = Monotonic.Now();
                transcript.Received(reply.Lines);
                // In a group the server's own time for a reply is since the previous reply arrived.
                Hashtable step = Store(command.Name, command.Display, reply, started, null, null, arrived - previous);
                if (index < last && reader.Pending > 0)
                {
                    // It came in one read with the next reply: the server held it, so its wait is the next one's.
                    step["held"] = true;
                }
                else
                {
                    previous = arrived;
                }
                replies.Add(reply);
                if (reply.Code == 421 && command.Name != "quit")
                {
                    Closing(commands, index, started);
                }
            }
            if (reader.Pending > 0)
            {
                Unrequested();
            }
            return replies;
        }

        private Reply ExchangeOne(Command command)
        {
            return Exchange(new List<Command> { command })[0];
        }

        private void SendFailed(List<Command> commands, double started, TransportException exc)
        {
            exc = ResetAsClose(exc);
            transcript.Event(exc.Message);
            bool quiet = (exc.Condition == Conditions.ConnectionClosed || exc.Condition == Conditions.ConnectionReset)
                && commands.Count == 1 && commands[0].Name == "quit";
            foreach (Command command in commands)
            {
                StoreNow(command.Name, command.Display, null, started, quiet ? null : exc.Condition, exc.Message);
            }
            closed = true;
            throw new AbortException();
        }

        /// <summary>A 421 reply (RFC 5321 3.8): the server is closing the channel.</summary>
        private void Closing(List<Command> commands, int index, double started)
        {
            transcript.Event("the server is closing the connection (421)");
            for (int i = index + 1; i < commands.Count; i++)
            {
                StoreNow(commands[i].Name, commands[i].Display, null, started, Conditions.ConnectionClosed, "not answered: the server closed the session with 421");
            }
            closed = true;
            throw new AbortException();
        }

        /// <summary>A reset before any byte of the reply is our write meeting a socket the server already
        /// closed: whether the kernel reports end of stream or a reset is a race, so both mean "closed".</summary>
        private TransportException ResetAsClose(TransportException exc)
        {
            if (exc.Condition == Conditions.ConnectionReset && (reader == null || reader.Pending == 0))
            {
                return new TransportException(Conditions.ConnectionClosed, "the server closed the connection (" + exc.Message + ")");
            }
            return exc;
        }

        /// <summary>Bytes after the last reply that nobody asked for: kept in the transcript, marked on the step.</summary>
        private void Unrequested()
        {
            byte[] extra = reader.DiscardPending();
            transcript.Received(new string[] { Encoding.UTF8.GetString(extra).TrimEnd('\r', '\n') });
            ((Hashtable)steps[steps.Count - 1])["unrequested"] = true;
        }

        private void ReadFailed(List<Command> commands, int index, double started, string condition, string message, List<string> lines)
        {
            if (lines != null && lines.Count > 0)
            {
                transcript.Received(lines);
            }
            transcript.Event(message);
            Command command = commands[index];
            closed = true;
            if (command.Name == "quit" && (condition == Conditions.ConnectionClosed || condition == Conditions.ConnectionReset))
            {
                // Closing without 221 is common and harmless.
                StoreNow("quit", command.Display, null, started, null, message);
                throw new AbortException();
            }
            StoreNow(command.Name, command.Display, null, started, condition, message);
            for (int i = index + 1; i < commands.Count; i++)
            {
                StoreNow(commands[i].Name, commands[i].Display, null, started, condition, "not answered: the session ended earlier");
            }
            closed = true;
            throw new AbortException();
        }

        /// <summary>Read a reply nobody asked for by a command (the banner).</summary>
        private Reply ReadAlone(string name)
        {
            double started = Monotonic.Now();
            conn.Begin();
            Reply reply = null;
            try
            {
                reply = reader.ReadReply();
            }
            catch (ReplyException exc)
            {
                ReadFailed(new List<Command> { new Command(name, new byte[0], null, null) }, 0, started, exc.Condition, exc.Message, exc.Lines);
            }
            catch (TransportException exc)
            {
                ReadFailed(new List<Command> { new Command(name, new byte[0], null, null) }, 0, started, exc.Condition, exc.Message, null);
            }
            transcript.Received(reply.Lines);
            StoreNow(name, null, reply, started, null, null);
            if (reply.Code == 421)
            {
                closed = true;
                throw new AbortException();
            }
            if (reader.Pending > 0)
            {
                Unrequested();
            }
            return reply;
        }

        /// <summary>A step that failed before anything was sent (STARTTLS required but not offered).</summary>
        private void SyntheticFailure(string name, string condition, string message)
        {
            transcript.Event(message);
            StoreNow(name, null, null, null, condition, message);
        }

        // --- dialogue ----------------------------------------------------------------------------

        private bool StopAfter(string step)
        {
            return quitAfter == step;
        }

        private void Dialogue()
        {
            Connect(true, false);
            if (StopAfter("connect"))
            {
                transcript.Event("quit_after connect: closing without waiting for the banner");
                quitSent = true;
                return;
            }
            if (!GreetingAndHello())
            {
                return;
            }
            if (StopAfter("ehlo"))
            {
                return;
            }
            if ((tlsMode == "starttls" || tlsMode == "required") && !conn.Tls)
            {
                if (!StartTls())
                {
                    return;
                }
            }
            if (StopAfter("starttls"))
            {
                return;
            }
            if (auth != null)
            {
                if (!Authenticate())
                {
                    return;
                }
            }
            if (StopAfter("auth"))
            {
                return;
            }
            Transaction();
        }

        private bool GreetingAndHello()
        {
            Reply reply = ReadAlone("banner");
            if (reply.Class != 2 || StopAfter("banner"))
            {
                return false;
            }
            return Hello("ehlo");
        }

        private AddressFamily FamilyOf(string address)
        {
            return IPAddress.Parse(address).AddressFamily;
        }

        /// <summary>Candidate addresses in the resolver's order, without duplicates (connection.py resolve).</summary>
        private List<IPAddress> Resolve()
        {
            string version = (Values.Str(options, "ip_version") ?? "auto").ToLowerInvariant();
            AddressFamily family = version == "4" ? AddressFamily.InterNetwork : version == "6" ? AddressFamily.InterNetworkV6 : AddressFamily.Unspecified;
            string source = Values.Str(options, "source_address");
            List<string> given = Values.Strings(options, "addresses");
            if (!string.IsNullOrEmpty(source))
            {
                AddressFamily sourceFamily = FamilyOf(source);
                if (family != AddressFamily.Unspecified && family != sourceFamily)
                {
                    throw new TransportException(Conditions.AddressUnavailable, string.Format("source_address {0} is not an IPv{1} address", source, version));
                }
                family = sourceFamily;
            }
            List<IPAddress> found = new List<IPAddress>();
            IPAddress literal;
            if (given.Count == 0 && IPAddress.TryParse(host, out literal) && host.IndexOf('%') < 0 && (host.IndexOf(':') >= 0 || host.Split('.').Length == 4))
            {
                if (family != AddressFamily.Unspecified && family != literal.AddressFamily)
                {
                    throw new TransportException(Conditions.HostUnresolved, string.Format("cannot resolve {0}: Address family for hostname not supported", host));
                }
                found.Add(literal);
                return found;
            }
            List<IPAddress> infos = new List<IPAddress>();
            try
            {
                if (given.Count > 0)
                {
                    foreach (string address in given)
                    {
                        infos.Add(IPAddress.Parse(address));
                    }
                }
                else
                {
                    infos.AddRange(Dns.GetHostAddresses(host));
                }
            }
            catch (SocketException exc)
            {
                throw new TransportException(Conditions.HostUnresolved, string.Format("cannot resolve {0}: {1}", host, exc.Message));
            }
            catch (ArgumentException exc)
            {
                throw new TransportException(Conditions.HostUnresolved, string.Format("cannot resolve {0}: {1}", host, exc.Message));
            }
            HashSet<string> seen = new HashSet<string>();
            foreach (IPAddress address in infos)
            {
                if (family != AddressFamily.Unspecified && address.AddressFamily != family)
                {
                    continue;
                }
                if (address.AddressFamily != AddressFamily.InterNetwork && address.AddressFamily != AddressFamily.InterNetworkV6)
                {
                    continue;
                }
                if (seen.Add(address.ToString()))
                {
                    found.Add(address);
                }
            }
            if (found.Count == 0)
            {
                string wanted = family != AddressFamily.Unspecified ? "IPv" + version + " " : "";
                throw new TransportException(Conditions.HostUnresolved, string.Format("no {0}address to connect to for {1}", wanted, host));
            }
            return found;
        }

        private static Socket OpenSocket(IPAddress address, int port, string source, double timeout)
        {
            Socket socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                if (!string.IsNullOrEmpty(source))
                {
                    try
                    {
                        socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
                    }
                    catch (SocketException exc)
                    {
                        throw new TransportException(Conditions.AddressUnavailable, string.Format("cannot use source address {0}: {1}", source, Net.Describe(exc)));
                    }
                }
                IAsyncResult pending = socket.BeginConnect(new IPEndPoint(address, port), null, null);
                if (!pending.AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(timeout)))
                {
                    throw new TransportException(Conditions.ConnectTimeout, string.Format("no answer from {0} within {1} s", Net.Text(address), Values.Py(timeout)));
                }
                try
                {
                    socket.EndConnect(pending);
                }
                catch (SocketException exc)
                {
                    throw new TransportException(Net.ConditionOf(exc.SocketErrorCode), string.Format("{0} port {1}: {2}", Net.Text(address), port, Net.Describe(exc)));
                }
                socket.NoDelay = true;
                return socket;
            }
            catch (Exception)
            {
                socket.Close();
                throw;
            }
        }

        private sealed class ConnectFailed : Exception
        {
            public readonly ArrayList Attempts;
            public readonly string Condition;

            public ConnectFailed(ArrayList attempts, string condition, string message) : base(message)
            {
                Attempts = attempts;
                Condition = condition;
            }
        }

        private static Hashtable Attempt(string address, string condition, string message, double elapsedMs)
        {
            Hashtable attempt = new Hashtable();
            attempt["address"] = address;
            attempt["error"] = condition;
            attempt["message"] = message;
            attempt["elapsed_ms"] = elapsedMs;
            return attempt;
        }

        /// <summary>Try each address in order, like an MTA (connection.py connect_any).</summary>
        private Socket ConnectAny(List<IPAddress> candidates, string source, out IPAddress connected, out ArrayList attempts)
        {
            attempts = new ArrayList();
            connected = null;
            foreach (IPAddress address in candidates)
            {
                string condition;
                double limit = clock.Window(connectTimeout, Conditions.ConnectTimeout, out condition);
                double started = Monotonic.Now();
                double remaining = limit - started;
                string text = Net.Text(address);
                if (remaining <= 0)
                {
                    attempts.Add(Attempt(text, Conditions.DeadlineExceeded, "the overall deadline ran out before connecting", 0.0));
                    break;
                }
                try
                {
                    Socket socket = OpenSocket(address, port, source, remaining);
                    attempts.Add(Attempt(text, null, null, Round((Monotonic.Now() - started) * 1000.0)));
                    connected = address;
                    return socket;
                }
                catch (TransportException exc)
                {
                    string failed = exc.Condition;
                    string message = exc.Message;
                    if (failed == Conditions.ConnectTimeout && condition == Conditions.DeadlineExceeded)
                    {
                        failed = Conditions.DeadlineExceeded;
                        message = "the overall deadline ran out while connecting to " + text;
                    }
                    attempts.Add(Attempt(text, failed, message, Round((Monotonic.Now() - started) * 1000.0)));
                    if (failed == Conditions.DeadlineExceeded)
                    {
                        break;
                    }
                }
            }
            if (attempts.Count == 0)
            {
                throw new ConnectFailed(attempts, Conditions.HostUnresolved, "no address to connect to");
            }
            Hashtable lastAttempt = (Hashtable)attempts[attempts.Count - 1];
            throw new ConnectFailed(attempts, (string)lastAttempt["error"], (string)lastAttempt["message"]);
        }

        /// <summary>Open the connection (and the implicit TLS session). <paramref name="permissive"/>: a
        /// handshake that checks nothing and only reads the certificate.</summary>
        private void Connect(bool verify, bool permissive)
        {
            double started = Monotonic.Now();
            string command = string.Format("OPEN {0} {1}", host, port);
            string source = Values.Str(options, "source_address");
            Socket socket;
            IPAddress address;
            ArrayList attempts;
            try
            {
                socket = ConnectAny(Resolve(), source, out address, out attempts);
            }
            catch (TransportException exc)
            {
                transcript.Event(exc.Message);
                StoreNow("connect", command, null, started, exc.Condition, exc.Message);
                throw new AbortException();
            }
            catch (ConnectFailed exc)
            {
                foreach (Hashtable attempt in exc.Attempts)
                {
                    transcript.Event(string.Format("connecting to {0} failed: {1}", attempt["address"], attempt["message"]));
                }
                StoreNow("connect", command, null, started, exc.Condition, exc.Message)["attempts"] = exc.Attempts;
                throw new AbortException();
            }
            if (conn != null)
            {
                conn.Close();
            }
            conn = new Connection(socket, clock, commandTimeout);
            reader = new ReplyReader(conn, limits);
            quitSent = false;
            closed = false;
            string local = conn.LocalAddress();
            target["address"] = Net.Text(address);
            target["ip_version"] = address.AddressFamily == AddressFamily.InterNetworkV6 && !Net.IsMapped(address) ? 6 : 4;
            target["source_address"] = local;
            EhloName(local);
            transcript.Event(string.Format("connected to {0} port {1} from {2}", Net.Text(address), port, local ?? "None"));
            string condition = null;
            string message = null;
            if (tlsMode == "implicit")
            {
                command += " (implicit TLS)";
                string outcome = Handshake(verify, permissive, out condition, out message);
                if (outcome != "ok")
                {
                    StoreNow("connect", command, null, started, condition, message)["attempts"] = attempts;
                    if (outcome == "verify")
                    {
                        AfterVerifyFailure(true);
                        return;
                    }
                    AfterHandshakeFailure(true, permissive);
                    throw new AbortException();
                }
            }
            StoreNow("connect", command, null, started, condition, message)["attempts"] = attempts;
        }

        private static readonly Regex HostName = new Regex(@"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))+$", RegexOptions.CultureInvariant);

        /// <summary>A dotted host name that is not a local name (options.py _usable_fqdn), else null.</summary>
        private static string UsableFqdn(string name)
        {
            if (string.IsNullOrEmpty(name))
            {
                return null;
            }
            name = name.TrimEnd('.');
            string lowered = name.ToLowerInvariant();
            IPAddress ignored;
            if (lowered.IndexOf('.') < 0 || lowered == "localhost" || lowered == "localhost.localdomain" || lowered.StartsWith("localhost.", StringComparison.Ordinal)
                || lowered.EndsWith(".localhost", StringComparison.Ordinal) || lowered.EndsWith(".localdomain", StringComparison.Ordinal)
                || IPAddress.TryParse(lowered, out ignored) || !HostName.IsMatch(name))
            {
                return null;
            }
            return name;
        }

        private static IEnumerable<string> FqdnCandidates()
        {
            string host = null;
            string domain = null;
            try
            {
                IPGlobalProperties properties = IPGlobalProperties.GetIPGlobalProperties();
                host = properties.HostName;
                domain = properties.DomainName;
            }
            catch (Exception)
            {
            }
            if (!string.IsNullOrEmpty(host) && !string.IsNullOrEmpty(domain))
            {
                // Windows: the computer name plus its primary DNS suffix (Mono on Linux says "(none)": not a name).
                yield return host + "." + domain;
            }
            yield return host;
            string canonical = null;
            try
            {
                canonical = Dns.GetHostEntry(Dns.GetHostName()).HostName;
            }
            catch (Exception)
            {
            }
            yield return canonical;
        }

        /// <summary>The EHLO name: helo_name, else this host's fully qualified name, else an address literal
        /// of the local address (RFC 5321 4.1.4; never "localhost"), as options.py ehlo_name.</summary>
        private void EhloName(string local)
        {
            string given = Values.Str(options, "helo_name");
            if (!string.IsNullOrEmpty(given))
            {
                ehloName = given;
                return;
            }
            foreach (string candidate in FqdnCandidates())
            {
                string usable = UsableFqdn(candidate);
                if (usable != null)
                {
                    ehloName = usable;
                    return;
                }
            }
            IPAddress address;
            if (local != null && IPAddress.TryParse(local, out address))
            {
                ehloName = address.AddressFamily == AddressFamily.InterNetworkV6 ? "[IPv6:" + local + "]" : "[" + local + "]";
            }
            else
            {
                ehloName = "[127.0.0.1]";
            }
        }

        private bool Hello(string name)
        {
            Reply reply = ExchangeOne(Command.Of(name, "EHLO " + ehloName));
            if (reply.Class == 2)
            {
                caps = Capabilities.Parse(reply.Texts);
                return true;
            }
            if (name != "ehlo" || reply.Class != 5 || (Expectations.IsExplicit(expect, "ehlo") && Expectations.StepOk(expect, "ehlo", reply.Code, reply.Enhanced)))
            {
                return false;
            }
            // The guide's note: a server without ESMTP rejects EHLO; say HELO instead.
            Reply heloReply = ExchangeOne(Command.Of("helo", "HELO " + ehloName));
            if (heloReply.Class != 2)
            {
                return false;
            }
            caps = new Capabilities();
            return true;
        }

        // --- TLS ---------------------------------------------------------------------------------

        /// <summary>Run the TLS handshake; returns ok, verify or failed.</summary>
        private string Handshake(bool verify, bool permissive, out string condition, out string message)
        {
            condition = null;
            message = null;
            string serverName = Values.Str(options, "server_name");
            if (string.IsNullOrEmpty(serverName))
            {
                serverName = host;
            }
            tls["server_name"] = serverName;
            TlsSession session = new TlsSession();
            session.Verify = verify;
            session.ServerName = serverName;
            if (verify)
            {
                try
                {
                    if (!authoritiesLoaded)
                    {
                        authorities = Verification.LoadAuthorities(Values.Str(options, "ca_path"));
                        authoritiesLoaded = true;
                    }
                }
                catch (Exception exc)
                {
                    conn.Close();
                    closed = true;
                    condition = Conditions.TlsHandshakeFailed;
                    message = "cannot start TLS: cannot read ca_path: " + exc.Message;
                    transcript.Event(message);
                    return "failed";
                }
                session.Authorities = authorities;
            }
            try
            {
                conn.StartTls(session, commandTimeout);
            }
            catch (VerifyException exc)
            {
                // Unlike Python's ssl module, SslStream shows the certificate of a failed verification: keep it.
                KeepCertificate(session);
                condition = exc.Condition;
                message = exc.Message;
                transcript.Event("TLS certificate verification failed: " + message);
                tls["verify_error"] = condition;
                tls["verify_message"] = message;
                return "verify";
            }
            catch (TransportException exc)
            {
                KeepCertificate(session);
                condition = exc.Condition;
                message = exc.Message;
                transcript.Event(message);
                closed = true;
                certificateReadable = exc.Answered;
                return "failed";
            }
            KeepCertificate(session);
            if (permissive)
            {
                // The permissive handshake only reads the certificate: this session is not used.
                transcript.Event("TLS handshake without checks done: certificate read");
                return "ok";
            }
            reader = new ReplyReader(conn, limits);
            SslStream secure = conn.Secure;
            tls["version"] = ProtocolName(secure.SslProtocol);
            string cipher = CipherName(secure);
            tls["cipher"] = cipher;
            tls["bits"] = secure.CipherStrength > 0 ? (object)secure.CipherStrength : null;
            tls["used"] = true;
            transcript.Event(string.Format("TLS established: {0} {1}{2}", tls["version"] ?? "None", cipher ?? "None", verify ? ", certificate verified" : ""));
            ExpiresSoon(session.CertificateDer);
            return "ok";
        }

        /// <summary>The certificate expires sooner than tls_min_days: said in the transcript (the controller
        /// sets the condition on the step).</summary>
        private void ExpiresSoon(byte[] der)
        {
            int? wanted = Values.Integer(options, "tls_min_days");
            if (!wanted.HasValue || der == null)
            {
                return;
            }
            DateTime notAfter;
            try
            {
                notAfter = new X509Certificate2(der).NotAfter.ToUniversalTime();
            }
            catch (CryptographicException)
            {
                return;
            }
            int daysLeft = (int)Math.Floor((notAfter - DateTime.UtcNow).TotalSeconds / 86400.0);
            if (daysLeft >= wanted.Value)
            {
                return;
            }
            transcript.Event(string.Format("the certificate expires in {0} days (not after {1}), fewer than tls_min_days ({2})",
                daysLeft, notAfter.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture), wanted.Value));
        }

        private void KeepCertificate(TlsSession session)
        {
            if (session.CertificateDer != null)
            {
                tls["certificate_der"] = Convert.ToBase64String(session.CertificateDer);
            }
        }

        private static string ProtocolName(SslProtocols protocol)
        {
            switch ((int)protocol)
            {
                case 12288:
                    return "TLSv1.3";
                case 3072:
                    return "TLSv1.2";
                case 768:
                    return "TLSv1.1";
                case 192:
                    return "TLSv1";
                case 48:
                    return "SSLv3";
                default:
                    return null;
            }
        }

        /// <summary>The negotiated cipher suite where the runtime names it (.NET Core 3+), else the bulk cipher;
        /// null when the runtime reports none (Mono reads CipherAlgorithm as None).</summary>
        private static string CipherName(SslStream secure)
        {
            try
            {
                System.Reflection.PropertyInfo suite = typeof(SslStream).GetProperty("NegotiatedCipherSuite");
                if (suite != null)
                {
                    object value = suite.GetValue(secure, null);
                    if (value != null)
                    {
                        return value.ToString();
                    }
                }
            }
            catch (Exception)
            {
            }
            CipherAlgorithmType algorithm = secure.CipherAlgorithm;
            if (algorithm == CipherAlgorithmType.None || algorithm == CipherAlgorithmType.Null)
            {
                return null;
            }
            return algorithm.ToString();
        }

        /// <summary>Reconnect without verification: to read the certificate (tls_verify: true, then stop),
        /// or to go on like an opportunistic MTA (tls_verify: false).</summary>
        private void AfterVerifyFailure(bool implicitTls)
        {
            conn.Close();
            transcript.Event("reconnecting without certificate verification to "
                + (tlsVerify ? "read the certificate" : "continue the dialogue (tls_verify: false)"));
            if (tlsVerify)
            {
                try
                {
                    ReconnectUnverified(implicitTls, true, false);
                    if (!implicitTls)
                    {
                        SendQuit();
                    }
                }
                catch (AbortException)
                {
                }
                closed = true;
                throw new AbortException();
            }
            ReconnectUnverified(implicitTls, false, false);
        }

        /// <summary>The handshake failed (not the verification): read the certificate the server sent on a
        /// second connection with a handshake that checks nothing, so the result can show it.</summary>
        private void AfterHandshakeFailure(bool implicitTls, bool permissive)
        {
            if (permissive || !certificateReadable || tls["certificate_der"] != null)
            {
                return;
            }
            conn.Close();
            transcript.Event("reconnecting to read the certificate with a handshake that checks nothing");
            try
            {
                ReconnectUnverified(implicitTls, true, true);
                if (!implicitTls)
                {
                    SendQuit();
                }
            }
            catch (AbortException)
            {
            }
            closed = true;
        }

        private void ReconnectUnverified(bool implicitTls, bool readOnly, bool permissive)
        {
            Connect(false, permissive);
            if (implicitTls)
            {
                return;
            }
            Reply reply = ReadAlone("banner");
            if (reply.Class != 2 || !Hello("ehlo"))
            {
                throw new AbortException();
            }
            if (!caps.Starttls)
            {
                SyntheticFailure("starttls", Conditions.StarttlsNotOffered, "STARTTLS was not offered on the second connection");
                throw new AbortException();
            }
            double started = Monotonic.Now();
            Reply starttls = ExchangeOne(Command.Of("starttls", "STARTTLS"));
            if (starttls.Class != 2)
            {
                throw new AbortException();
            }
            string condition;
            string message;
            string outcome = Handshake(false, permissive, out condition, out message);
            HandshakeDone(started);
            if (outcome != "ok")
            {
                FailLast(condition, message);
                throw new AbortException();
            }
            if (permissive)
            {
                // Nothing more can be said over a session that was not checked: close it.
                conn.Close();
                closed = true;
                throw new AbortException();
            }
            if (!readOnly && !Hello("ehlo_tls"))
            {
                throw new AbortException();
            }
        }

        /// <summary>The STARTTLS step's time includes the handshake.</summary>
        private void HandshakeDone(double started)
        {
            Hashtable step = (Hashtable)steps[steps.Count - 1];
            step["elapsed_ms"] = step["waited_ms"] = Round((Monotonic.Now() - started) * 1000.0);
        }

        private void FailLast(string condition, string message)
        {
            Hashtable step = (Hashtable)steps[steps.Count - 1];
            step["error"] = condition;
            step["error_message"] = message;
        }

        private bool StartTls()
        {
            if (!caps.Starttls)
            {
                if (tlsMode == "required")
                {
                    SyntheticFailure("starttls", Conditions.StarttlsNotOffered, "the server did not offer STARTTLS and tls is required");
                    return false;
                }
                if (auth != null)
                {
                    // Credentials never cross the network in clear text unless tls: none says so.
                    SyntheticFailure("starttls", Conditions.StarttlsNotOffered, "the server did not offer STARTTLS; credentials are not "
                        + "sent unencrypted (set tls: none to allow plain-text AUTH)");
                    return false;
                }
                return true;
            }
            double started = Monotonic.Now();
            // Bytes after the reply are discarded by Exchange: read after the handshake, they would pass as
            // protected by TLS (CVE-2011-0411 style).
            Reply reply = ExchangeOne(Command.Of("starttls", "STARTTLS"));
            if (reply.Class != 2)
            {
                return false;
            }
            string condition;
            string message;
            string outcome = Handshake(true, false, out condition, out message);
            HandshakeDone(started);
            if (outcome != "ok")
            {
                FailLast(condition, message);
            }
            if (outcome == "verify")
            {
                AfterVerifyFailure(false);
                return true;
            }
            if (outcome == "failed")
            {
                AfterHandshakeFailure(false, false);
                throw new AbortException();
            }
            return Hello("ehlo_tls");
        }

        // --- AUTH --------------------------------------------------------------------------------

        private bool Authenticate()
        {
            List<string> offered = caps.Auth;
            if (offered.Count == 0)
            {
                SyntheticFailure("auth", Conditions.AuthNotOffered, "the server offered no AUTH mechanism"
                    + (conn.Tls ? "" : " (many servers offer AUTH only after STARTTLS)"));
                return false;
            }
            string wanted = (Values.Str(auth, "mechanism") ?? "auto").ToUpperInvariant();
            string mechanism;
            if (wanted == "AUTO")
            {
                mechanism = offered.Contains("PLAIN") ? "PLAIN" : (offered.Contains("LOGIN") ? "LOGIN" : null);
            }
            else
            {
                mechanism = offered.Contains(wanted) ? wanted : null;
            }
            if (mechanism == null)
            {
                SyntheticFailure("auth", Conditions.AuthMechanismUnsupported, string.Format("the server offers {0}, not {1}",
                    string.Join(", ", offered.ToArray()), wanted == "AUTO" ? "PLAIN or LOGIN" : wanted));
                return false;
            }
            string username = Values.Str(auth, "username");
            string password = Values.Str(auth, "password") ?? "";
            Reply reply;
            if (mechanism == "PLAIN")
            {
                string blob = PlainBlob(username, password);
                reply = ExchangeOne(Command.Of("auth", "AUTH PLAIN " + blob, "AUTH PLAIN " + Redactor.Mask));
                if (reply.Code == 334)
                {
                    reply = ExchangeOne(Command.Of("auth", blob, Redactor.Mask));
                }
            }
            else
            {
                reply = ExchangeOne(Command.Of("auth", "AUTH LOGIN"));
                foreach (string secret in new string[] { username, password })
                {
                    if (reply.Code != 334)
                    {
                        break;
                    }
                    reply = ExchangeOne(Command.Of("auth", Convert.ToBase64String(Encoding.UTF8.GetBytes(secret)), Redactor.Mask));
                }
            }
            return reply.Class == 2;
        }

        // --- transaction -------------------------------------------------------------------------

        /// <summary>RFC 3461 4: xtext for ENVID and ORCPT (non-ASCII goes byte by byte as UTF-8).</summary>
        private static string Xtext(string value)
        {
            StringBuilder text = new StringBuilder();
            foreach (byte b in Encoding.UTF8.GetBytes(value))
            {
                if (b >= 33 && b <= 126 && b != 0x2b && b != 0x3d)
                {
                    text.Append((char)b);
                }
                else
                {
                    text.Append('+').Append(b.ToString("X2", CultureInfo.InvariantCulture));
                }
            }
            return text.ToString();
        }

        private static bool IsAscii(string text)
        {
            if (text == null)
            {
                return true;
            }
            foreach (char c in text)
            {
                if (c > 127)
                {
                    return false;
                }
            }
            return true;
        }

        private string MailParameters(long? messageSize, bool eightBit, bool utf8)
        {
            StringBuilder parameters = new StringBuilder();
            if (messageSize.HasValue && caps.Size.HasValue)
            {
                parameters.Append(" SIZE=").Append(messageSize.Value.ToString(CultureInfo.InvariantCulture));
            }
            if (eightBit)
            {
                parameters.Append(" BODY=8BITMIME");
            }
            if (utf8)
            {
                parameters.Append(" SMTPUTF8");
            }
            if (dsn != null && caps.Dsn)
            {
                string ret = Values.Str(dsn, "ret");
                string envid = Values.Str(dsn, "envid");
                if (!string.IsNullOrEmpty(ret))
                {
                    parameters.Append(" RET=").Append(ret.ToUpperInvariant());
                }
                if (!string.IsNullOrEmpty(envid))
                {
                    parameters.Append(" ENVID=").Append(Xtext(envid));
                }
            }
            return parameters.ToString();
        }

        private string RcptParameters(string recipient)
        {
            if (dsn == null || !caps.Dsn)
            {
                return "";
            }
            StringBuilder parameters = new StringBuilder();
            List<string> notify = Values.Strings(dsn, "notify");
            if (notify.Count > 0)
            {
                List<string> words = new List<string>();
                foreach (string word in notify)
                {
                    words.Add(word.ToUpperInvariant());
                }
                parameters.Append(" NOTIFY=").Append(string.Join(",", words.ToArray()));
            }
            if (Values.Bool(dsn, "orcpt"))
            {
                parameters.Append(" ORCPT=rfc822;").Append(Xtext(recipient));
            }
            return parameters.ToString();
        }

        /// <summary>The rendered message for what the server offers: `messages` holds one entry per
        /// variant, keyed "plain", "eight_bit", "utf8" and "eight_bit_utf8".</summary>
        private IDictionary MessageVariant(bool eightBit, bool utf8)
        {
            IDictionary messages = Values.Dict(options, "messages");
            string key = eightBit ? (utf8 ? "eight_bit_utf8" : "eight_bit") : (utf8 ? "utf8" : "plain");
            IDictionary variant = Values.Dict(messages, key);
            if (variant == null)
            {
                throw new ArgumentException("options.messages." + key + " is missing: the controller renders every message variant the server may ask for");
            }
            return variant;
        }

        private void Transaction()
        {
            string mailFrom = Values.Str(options, "mail_from") ?? "";
            List<string> recipients = Values.Strings(options, "rcpt_to");
            bool sending = Values.Bool(options, "send_message") && quitAfter != "mail" && quitAfter != "rcpt";
            bool needsUtf8 = !IsAscii(mailFrom);
            foreach (string recipient in recipients)
            {
                needsUtf8 = needsUtf8 || !IsAscii(recipient);
            }
            IDictionary content = Values.Dict(options, "content");
            bool bodyAscii = !sending || IsAscii(Values.Str(content, "body"));
            bool utf8 = needsUtf8 && caps.SmtpUtf8;

            byte[] wireMessage = null;
            string mailParameters;
            if (sending)
            {
                bool eightBit = caps.EightBitMime && !bodyAscii;
                IDictionary variant = MessageVariant(eightBit, utf8);
                wireMessage = Convert.FromBase64String(Values.Str(variant, "wire_b64"));
                long size = (long)Values.Number(variant, "size", wireMessage.Length);
                eightBit = eightBit && Values.Bool(variant, "eight_bit");
                mailParameters = MailParameters(size, eightBit, utf8);
            }
            else
            {
                mailParameters = MailParameters(null, false, utf8);
            }
            Command mail = Command.Of("mail", string.Format("MAIL FROM:<{0}>{1}", mailFrom, mailParameters));
            List<Command> rcpts = new List<Command>();
            if (quitAfter != "mail")
            {
                foreach (string recipient in recipients)
                {
                    rcpts.Add(Command.Of("rcpt", string.Format("RCPT TO:<{0}>{1}", recipient, RcptParameters(recipient))));
                }
            }
            string pipelining = (Values.Str(options, "pipelining") ?? "auto").ToLowerInvariant();
            bool pipelined = pipelining == "always" || (pipelining == "auto" && caps.Pipelining);

            Reply dataReply;
            bool anyAccepted = false;
            if (pipelined)
            {
                List<Command> group = new List<Command>();
                group.Add(mail);
                group.AddRange(rcpts);
                if (sending)
                {
                    group.Add(Data);
                }
                else
                {
                    group.Add(Rset);
                    group.Add(Quit);
                }
                List<Reply> replies = Exchange(group);
                for (int i = 1; i <= rcpts.Count; i++)
                {
                    anyAccepted = anyAccepted || replies[i].Class == 2;
                }
                if (!sending)
                {
                    return;
                }
                dataReply = replies[replies.Count - 1];
            }
            else
            {
                Reply mailReply = ExchangeOne(mail);
                if (mailReply.Class != 2)
                {
                    return;
                }
                foreach (Command rcpt in rcpts)
                {
                    anyAccepted = ExchangeOne(rcpt).Class == 2 || anyAccepted;
                }
                if (!sending || !anyAccepted)
                {
                    ExchangeOne(Rset);
                    return;
                }
                dataReply = ExchangeOne(Data);
            }
            if (dataReply.Code != 354)
            {
                return;
            }
            if (quitAfter == "data")
            {
                transcript.Event("quit_after data: closing without sending the message (no final dot, nothing is delivered)");
                conn.Close();
                closed = true;
                return;
            }
            if (!anyAccepted)
            {
                // RFC 2920 3.1: DATA was accepted although no recipient was; end it with a lone dot.
                ExchangeOne(new Command("message", Encoding.ASCII.GetBytes(".\r\n"), ".", null));
                return;
            }
            SendMessage(wireMessage, pipelined);
        }

        private void SendMessage(byte[] wire, bool pipelined)
        {
            string[] split = Encoding.UTF8.GetString(wire).Split(new string[] { "\r\n" }, StringSplitOptions.None);
            List<string> lines = new List<string>(split);
            lines.RemoveAt(lines.Count - 1);
            Command message = new Command("message", wire, string.Format("<message: {0} bytes, {1} lines>", wire.Length, lines.Count), lines);
            List<Command> group = new List<Command> { message };
            if (pipelined)
            {
                group.Add(Quit);
            }
            Exchange(group);
        }

        private void SendQuit()
        {
            if (quitSent || closed || conn == null)
            {
                return;
            }
            ExchangeOne(Quit);
            closed = true;
        }

        // --- record ------------------------------------------------------------------------------

        private IDictionary Record()
        {
            Hashtable raw = new Hashtable();
            raw["target"] = target;
            raw["steps"] = steps;
            raw["tls"] = tls;
            raw["transcript"] = transcript.AsList();
            raw["elapsed_ms"] = Round(clock.ElapsedMs());
            raw["ehlo_name"] = ehloName;
            raw["engine"] = "csharp";
            raw["engine_runtime"] = Runtime();
            if (redactor.Any)
            {
                // The safety net for servers that echo what they received.
                Scrub(raw);
            }
            return raw;
        }

        private static string Runtime()
        {
            Type mono = Type.GetType("Mono.Runtime");
            if (mono != null)
            {
                System.Reflection.MethodInfo display = mono.GetMethod("GetDisplayName", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static);
                return "Mono " + (display != null ? Convert.ToString(display.Invoke(null, null), CultureInfo.InvariantCulture) : Environment.Version.ToString());
            }
            return ".NET " + Environment.Version.ToString();
        }

        private void Scrub(IDictionary record)
        {
            List<object> keys = new List<object>();
            foreach (object key in record.Keys)
            {
                keys.Add(key);
            }
            foreach (object key in keys)
            {
                if ((string)key == "certificate_der")
                {
                    continue;
                }
                record[key] = ScrubValue(record[key]);
            }
        }

        private object ScrubValue(object value)
        {
            string text = value as string;
            if (text != null)
            {
                return redactor.Apply(text);
            }
            IDictionary dict = value as IDictionary;
            if (dict != null)
            {
                Scrub(dict);
                return dict;
            }
            IList list = value as IList;
            if (list != null)
            {
                for (int i = 0; i < list.Count; i++)
                {
                    list[i] = ScrubValue(list[i]);
                }
                return list;
            }
            return value;
        }
    }
}
