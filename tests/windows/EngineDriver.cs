// Copyright (c) mailops.mailflow contributors
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
//
// Test-only console driver for the C# engine (plugins/module_utils/SmtpDialogue.cs) under Mono: reads the
// options as JSON on stdin, prints the raw record as JSON on stdout. Input is one options object (Engine.Run)
// or {"targets": [options, ...], "concurrency": N} (Engine.RunMany, printed as {"results": [...]}).
// A small JSON reader/writer of its own, because System.Web.Extensions is not part of mono-runtime.

using System;
using System.Collections;
using System.Globalization;
using System.IO;
using System.Text;
using ansible_collections.mailops.mailflow.plugins.module_utils.SmtpDialogue;

namespace MailflowTests
{
    public static class EngineDriver
    {
        public static int Main(string[] args)
        {
            Console.InputEncoding = new UTF8Encoding(false);
            string input = new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false)).ReadToEnd();
            IDictionary request;
            try
            {
                request = (IDictionary)new JsonReader(input).ReadDocument();
            }
            catch (Exception exc)
            {
                Console.Error.WriteLine("engine-driver: the input is not a JSON object: " + exc.Message);
                return 2;
            }
            WarmUp();
            object output;
            if (request.Contains("targets"))
            {
                // win_smtp_probe's module args: the auth option goes into every target, as the module does.
                int concurrency = request.Contains("concurrency") && request["concurrency"] != null
                    ? Convert.ToInt32(request["concurrency"], CultureInfo.InvariantCulture) : 8;
                IList targets = (IList)request["targets"];
                if (request.Contains("auth") && request["auth"] != null)
                {
                    foreach (IDictionary target in targets)
                    {
                        target["auth"] = request["auth"];
                    }
                }
                Hashtable many = new Hashtable();
                many["results"] = Engine.RunMany(targets, concurrency);
                output = many;
            }
            else
            {
                output = Engine.Run(request);
            }
            StringBuilder text = new StringBuilder();
            JsonWriter.Write(text, output);
            Stream stdout = Console.OpenStandardOutput();
            byte[] bytes = Encoding.UTF8.GetBytes(text.ToString() + "\n");
            stdout.Write(bytes, 0, bytes.Length);
            stdout.Flush();
            return 0;
        }

        /// <summary>One scripted dialogue on loopback before the real ones, so Mono's JIT compiles the engine and
        /// the socket code now and not inside the first probe's timings (its connect time sets the automatic slow
        /// threshold, and a first reply would look slow). Windows precompiles the framework (NGen); under Mono
        /// everything is compiled on first use.</summary>
        private static void WarmUp()
        {
            System.Net.Sockets.TcpListener listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            listener.Start();
            try
            {
                System.Threading.Thread server = new System.Threading.Thread(delegate()
                {
                    try
                    {
                        using (System.Net.Sockets.Socket peer = listener.AcceptSocket())
                        {
                            System.Net.Sockets.NetworkStream stream = new System.Net.Sockets.NetworkStream(peer, true);
                            StreamReader reader = new StreamReader(stream, Encoding.ASCII);
                            byte[] banner = Encoding.ASCII.GetBytes("220 warm-up ESMTP\r\n");
                            stream.Write(banner, 0, banner.Length);
                            string line;
                            while ((line = reader.ReadLine()) != null)
                            {
                                bool quit = line.StartsWith("QUIT", StringComparison.OrdinalIgnoreCase);
                                byte[] reply = Encoding.ASCII.GetBytes(quit ? "221 2.0.0 bye\r\n"
                                    : line.StartsWith("EHLO", StringComparison.OrdinalIgnoreCase) ? "250-warm-up\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"
                                    : "250 2.0.0 ok\r\n");
                                stream.Write(reply, 0, reply.Length);
                                if (quit)
                                {
                                    break;
                                }
                            }
                        }
                    }
                    catch (Exception)
                    {
                    }
                });
                server.IsBackground = true;
                server.Start();
                Hashtable options = new Hashtable();
                options["host"] = "127.0.0.1";
                options["port"] = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
                options["helo_name"] = "warm-up.test";
                options["tls"] = "none";
                options["mail_from"] = "a@warm-up.test";
                options["rcpt_to"] = new ArrayList(new string[] { "b@warm-up.test" });
                options["connect_timeout"] = 2.0;
                options["command_timeout"] = 2.0;
                options["deadline"] = 5.0;
                Engine.Run(options);
                server.Join(2000);
            }
            finally
            {
                listener.Stop();
            }
        }
    }

    internal sealed class JsonReader
    {
        private readonly string text;
        private int pos;

        public JsonReader(string text)
        {
            this.text = text;
        }

        public object ReadDocument()
        {
            object value = ReadValue();
            SkipSpace();
            if (pos != text.Length)
            {
                throw new FormatException("trailing data at " + pos);
            }
            return value;
        }

        private void SkipSpace()
        {
            while (pos < text.Length && char.IsWhiteSpace(text[pos]))
            {
                pos++;
            }
        }

        private object ReadValue()
        {
            SkipSpace();
            if (pos >= text.Length)
            {
                throw new FormatException("unexpected end");
            }
            char c = text[pos];
            if (c == '{')
            {
                pos++;
                Hashtable table = new Hashtable();
                SkipSpace();
                if (text[pos] == '}')
                {
                    pos++;
                    return table;
                }
                while (true)
                {
                    SkipSpace();
                    string key = ReadString();
                    SkipSpace();
                    Expect(':');
                    table[key] = ReadValue();
                    SkipSpace();
                    if (text[pos] == ',')
                    {
                        pos++;
                        continue;
                    }
                    Expect('}');
                    return table;
                }
            }
            if (c == '[')
            {
                pos++;
                ArrayList list = new ArrayList();
                SkipSpace();
                if (text[pos] == ']')
                {
                    pos++;
                    return list;
                }
                while (true)
                {
                    list.Add(ReadValue());
                    SkipSpace();
                    if (text[pos] == ',')
                    {
                        pos++;
                        continue;
                    }
                    Expect(']');
                    return list;
                }
            }
            if (c == '"')
            {
                return ReadString();
            }
            if (Word("true"))
            {
                return true;
            }
            if (Word("false"))
            {
                return false;
            }
            if (Word("null"))
            {
                return null;
            }
            int start = pos;
            while (pos < text.Length && "+-0123456789.eE".IndexOf(text[pos]) >= 0)
            {
                pos++;
            }
            string number = text.Substring(start, pos - start);
            if (number.Length == 0)
            {
                throw new FormatException("unexpected character at " + start);
            }
            if (number.IndexOfAny(new char[] { '.', 'e', 'E' }) >= 0)
            {
                return double.Parse(number, CultureInfo.InvariantCulture);
            }
            return long.Parse(number, CultureInfo.InvariantCulture);
        }

        private bool Word(string word)
        {
            if (string.CompareOrdinal(text, pos, word, 0, word.Length) == 0)
            {
                pos += word.Length;
                return true;
            }
            return false;
        }

        private void Expect(char c)
        {
            if (pos >= text.Length || text[pos] != c)
            {
                throw new FormatException("expected '" + c + "' at " + pos);
            }
            pos++;
        }

        private string ReadString()
        {
            Expect('"');
            StringBuilder value = new StringBuilder();
            while (true)
            {
                char c = text[pos++];
                if (c == '"')
                {
                    return value.ToString();
                }
                if (c != '\\')
                {
                    value.Append(c);
                    continue;
                }
                char escaped = text[pos++];
                switch (escaped)
                {
                    case 'n':
                        value.Append('\n');
                        break;
                    case 'r':
                        value.Append('\r');
                        break;
                    case 't':
                        value.Append('\t');
                        break;
                    case 'b':
                        value.Append('\b');
                        break;
                    case 'f':
                        value.Append('\f');
                        break;
                    case 'u':
                        value.Append((char)int.Parse(text.Substring(pos, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        pos += 4;
                        break;
                    default:
                        value.Append(escaped);
                        break;
                }
            }
        }
    }

    internal static class JsonWriter
    {
        public static void Write(StringBuilder output, object value)
        {
            if (value == null)
            {
                output.Append("null");
            }
            else if (value is string)
            {
                WriteString(output, (string)value);
            }
            else if (value is bool)
            {
                output.Append((bool)value ? "true" : "false");
            }
            else if (value is double || value is float || value is decimal)
            {
                double number = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                output.Append(number.ToString("R", CultureInfo.InvariantCulture));
            }
            else if (value is int || value is long || value is short || value is byte || value is uint || value is ulong)
            {
                output.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
            }
            else if (value is IDictionary)
            {
                output.Append('{');
                bool first = true;
                foreach (DictionaryEntry entry in (IDictionary)value)
                {
                    if (!first)
                    {
                        output.Append(',');
                    }
                    first = false;
                    WriteString(output, Convert.ToString(entry.Key, CultureInfo.InvariantCulture));
                    output.Append(':');
                    Write(output, entry.Value);
                }
                output.Append('}');
            }
            else if (value is IEnumerable)
            {
                output.Append('[');
                bool first = true;
                foreach (object item in (IEnumerable)value)
                {
                    if (!first)
                    {
                        output.Append(',');
                    }
                    first = false;
                    Write(output, item);
                }
                output.Append(']');
            }
            else
            {
                WriteString(output, Convert.ToString(value, CultureInfo.InvariantCulture));
            }
        }

        private static void WriteString(StringBuilder output, string text)
        {
            output.Append('"');
            foreach (char c in text)
            {
                if (c == '"' || c == '\\')
                {
                    output.Append('\\').Append(c);
                }
                else if (c < 0x20 || c > 0x7e)
                {
                    output.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                }
                else
                {
                    output.Append(c);
                }
            }
            output.Append('"');
        }
    }
}
