// Interop check: drive a running izport with Mono's WCF (System.ServiceModel), the
// .NET client stack, through a ChannelFactory over a hand-written [ServiceContract]
// that follows the CDC 2011 WSDL (urn:cdc:iisb:2011, IIS_PortType).
//
// Four bindings, each calling both operations and a wrong password:
//   WSHttpBinding                 SecurityMode.None: SOAP 1.2 with WS-Addressing 1.0
//   SOAP 1.2 + WS-Addressing 1.0  CustomBinding(MessageVersion.Soap12WSAddressing10)
//   SOAP 1.2                      CustomBinding(MessageVersion.Soap12), no addressing
//   SOAP 1.1                      BasicHttpBinding
//
//   1. connectivityTest echoes the text it is sent (with WS-Addressing, the reply's wsa:RelatesTo
//      names the request's wsa:MessageID and wsa:Action is the operation's response action);
//   2. submitSingleMessage with good credentials returns an HL7 ACK accepting the VXU
//      (MSA|AA|<MSH-10>);
//   3. submitSingleMessage with a wrong password throws FaultException<SecurityFault>
//      whose detail has Code 10 (the typed fault contract), with the fault's reason text.
//
// One line per check, the last counts them; exit status 1 if any failed.
//
// Usage: mono WcfCheck.exe --address http://127.0.0.1:PORT/soap --username U \
//            --password P --facility F --vxu FILE

using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.Serialization;
using System.ServiceModel;
using System.ServiceModel.Channels;
using System.ServiceModel.Description;
using System.ServiceModel.Dispatcher;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml;

namespace Izport.Interop
{
    // The fault detail element is {urn:cdc:iisb:2011}SecurityFault (of the WSDL's SecurityFaultType):
    // Mono's WCF picks the fault contract whose serializer reads that root element, so the data
    // contract is named after the element, not the type.
    [DataContract(Name = "SecurityFault", Namespace = "urn:cdc:iisb:2011")]
    public class SecurityFault
    {
        [DataMember(Name = "Code", Order = 0)]
        public long Code;

        [DataMember(Name = "Reason", Order = 1)]
        public string Reason;

        [DataMember(Name = "Detail", Order = 2)]
        public string Detail;
    }

    [ServiceContract(Name = "IIS_PortType", Namespace = "urn:cdc:iisb:2011")]
    public interface IIisPort
    {
        [OperationContract(
            Name = "connectivityTest",
            Action = "urn:cdc:iisb:2011:connectivityTest",
            ReplyAction = "urn:cdc:iisb:2011:connectivityTestResponse")]
        [return: MessageParameter(Name = "return")]
        string ConnectivityTest(string echoBack);

        [OperationContract(
            Name = "submitSingleMessage",
            Action = "urn:cdc:iisb:2011:submitSingleMessage",
            ReplyAction = "urn:cdc:iisb:2011:submitSingleMessageResponse")]
        [FaultContract(typeof(SecurityFault), Name = "SecurityFault", Namespace = "urn:cdc:iisb:2011")]
        [return: MessageParameter(Name = "return")]
        string SubmitSingleMessage(string username, string password, string facilityID, string hl7Message);
    }

    // Records the WS-Addressing headers of the last request and reply (Mono's client leaves
    // OperationContext.IncomingMessageHeaders empty, so a message inspector reads them).
    public class AddressingRecorder : IEndpointBehavior, IClientMessageInspector
    {
        UniqueId sentId;
        UniqueId relatesTo;
        string replyAction;

        public void Reset()
        {
            sentId = null;
            relatesTo = null;
            replyAction = null;
        }

        // With addressing: the reply names the request (and has the expected action, when one is
        // given); without: the request carried no MessageID. Returns what was seen, as text.
        public string Check(bool addressing, string wantAction)
        {
            if (!addressing)
            {
                if (sentId != null) throw new CheckFailed("a wsa:MessageID was sent without addressing");
                return "";
            }
            if (sentId == null) throw new CheckFailed("the request carried no wsa:MessageID");
            if (relatesTo == null || relatesTo != sentId)
                throw new CheckFailed("reply wsa:RelatesTo is " + relatesTo + ", expected " + sentId);
            if (wantAction != null && replyAction != wantAction)
                throw new CheckFailed("reply wsa:Action is " + replyAction + ", expected " + wantAction);
            return "; wsa:RelatesTo " + relatesTo + ", wsa:Action " + replyAction;
        }

        // For a fault: Mono's client calls no message inspector on a fault reply, so only the
        // request's side can be seen.
        public string CheckSent(bool addressing)
        {
            if (!addressing) return Check(false, null);
            if (sentId == null) throw new CheckFailed("the request carried no wsa:MessageID");
            return "; sent wsa:MessageID " + sentId + " (Mono shows no message inspector a fault reply)";
        }

        public object BeforeSendRequest(ref Message request, IClientChannel channel)
        {
            sentId = request.Headers.MessageId;
            return null;
        }

        public void AfterReceiveReply(ref Message reply, object correlationState)
        {
            relatesTo = reply.Headers.RelatesTo;
            replyAction = reply.Headers.Action;
        }

        public void AddBindingParameters(ServiceEndpoint endpoint, BindingParameterCollection parameters) { }

        public void ApplyClientBehavior(ServiceEndpoint endpoint, ClientRuntime runtime)
        {
            runtime.MessageInspectors.Add(this);
        }

        public void ApplyDispatchBehavior(ServiceEndpoint endpoint, EndpointDispatcher dispatcher) { }

        public void Validate(ServiceEndpoint endpoint) { }
    }

    public class CheckFailed : Exception
    {
        public CheckFailed(string message) : base(message) { }
    }

    public static class WcfCheck
    {
        const string EchoText = "hello from Mono WCF";

        static string Shorten(string text)
        {
            if (text == null) return "null";
            string shown = text.Replace("\r", "\\r");
            return shown.Length <= 300 ? shown : shown.Substring(0, 300) + "...";
        }

        static string ReadVxu(string path)
        {
            string text = File.ReadAllText(path, new UTF8Encoding(false)).TrimStart('\uFEFF');
            var segments = new List<string>();
            foreach (string s in Regex.Split(text, "\r\n|\r|\n"))
            {
                if (s.Trim().Length > 0) segments.Add(s);
            }
            if (segments.Count == 0 || !segments[0].StartsWith("MSH"))
                throw new CheckFailed(path + " does not start with an MSH segment");
            return string.Join("\r", segments);
        }

        static string Msh10(string message)
        {
            string msh = message.Split('\r')[0];
            if (msh.Length < 4) throw new CheckFailed("the MSH segment is too short to hold MSH-10");
            string[] fields = msh.Split(msh[3]);
            // fields[0] is "MSH" and fields[1] is MSH-2, so MSH-n is fields[n - 1].
            if (fields.Length < 10 || fields[9].Length == 0)
                throw new CheckFailed("the VXU has no MSH-10 (message control ID)");
            return fields[9];
        }

        static Binding Soap12Binding(MessageVersion version)
        {
            return new CustomBinding(
                new TextMessageEncodingBindingElement(version, Encoding.UTF8),
                new HttpTransportBindingElement { MaxReceivedMessageSize = 1 << 20 });
        }

        public static int Main(string[] argv)
        {
            var args = new Dictionary<string, string>();
            for (int i = 0; i + 1 < argv.Length; i += 2)
            {
                if (!argv[i].StartsWith("--")) break;
                args[argv[i].Substring(2)] = argv[i + 1];
            }
            foreach (string name in new[] { "address", "username", "password", "facility", "vxu" })
            {
                if (!args.ContainsKey(name))
                {
                    Console.WriteLine("FAIL arguments: --" + name + " is required");
                    Console.WriteLine("usage: WcfCheck.exe --address URL --username U --password P --facility F --vxu FILE");
                    return 2;
                }
            }

            string vxu, controlId;
            try
            {
                vxu = ReadVxu(args["vxu"]);
                controlId = Msh10(vxu);
            }
            catch (Exception e)
            {
                Console.WriteLine("FAIL read VXU " + args["vxu"] + ": " + e.Message);
                return 1;
            }
            Console.WriteLine("ok   Mono " + MonoVersion() + ", System.ServiceModel "
                + typeof(ChannelFactory).Assembly.GetName().Version + ", address " + args["address"]);

            var bindings = new List<KeyValuePair<string, Binding>>
            {
                new KeyValuePair<string, Binding>("SOAP 1.2 + WS-Addressing 1.0 (WSHttpBinding, no security)", new WSHttpBinding(SecurityMode.None)),
                new KeyValuePair<string, Binding>("SOAP 1.2 + WS-Addressing 1.0", Soap12Binding(MessageVersion.Soap12WSAddressing10)),
                new KeyValuePair<string, Binding>("SOAP 1.2", Soap12Binding(MessageVersion.Soap12)),
                new KeyValuePair<string, Binding>("SOAP 1.1 (BasicHttpBinding)", new BasicHttpBinding()),
            };

            int passed = 0, failed = 0;
            foreach (var pair in bindings)
            {
                var factory = new ChannelFactory<IIisPort>(pair.Value, new EndpointAddress(args["address"]));
                var recorder = new AddressingRecorder();
                factory.Endpoint.Behaviors.Add(recorder);
                bool addressing = pair.Value.MessageVersion.Addressing != AddressingVersion.None;
                IIisPort port = factory.CreateChannel();
                var checks = new List<KeyValuePair<string, Func<string>>>
                {
                    new KeyValuePair<string, Func<string>>("connectivityTest", () =>
                    {
                        recorder.Reset();
                        string result = port.ConnectivityTest(EchoText);
                        if (result == null || !result.Contains(EchoText))
                            throw new CheckFailed("the return does not contain '" + EchoText + "': " + Shorten(result));
                        return "return contains '" + EchoText + "'" + recorder.Check(addressing, "urn:cdc:iisb:2011:connectivityTestResponse");
                    }),
                    new KeyValuePair<string, Func<string>>("submitSingleMessage, good credentials", () =>
                    {
                        string result = port.SubmitSingleMessage(args["username"], args["password"], args["facility"], vxu);
                        if (result == null || !result.StartsWith("MSH|"))
                            throw new CheckFailed("the return does not start with 'MSH|': " + Shorten(result));
                        if (!Regex.IsMatch(result, "MSA\\|AA\\|" + Regex.Escape(controlId) + "(?:[|\r\n]|$)"))
                            throw new CheckFailed("the return has no 'MSA|AA|" + controlId + "' segment: " + Shorten(result));
                        return "ACK accepts message " + controlId + recorder.Check(addressing, "urn:cdc:iisb:2011:submitSingleMessageResponse");
                    }),
                    new KeyValuePair<string, Func<string>>("submitSingleMessage, wrong password", () =>
                    {
                        string result;
                        recorder.Reset();
                        try
                        {
                            result = port.SubmitSingleMessage(args["username"], args["password"] + "-not-the-password", args["facility"], vxu);
                        }
                        catch (FaultException<SecurityFault> fault)
                        {
                            if (fault.Detail == null)
                                throw new CheckFailed("FaultException<SecurityFault> without detail: " + fault.Message);
                            if (fault.Detail.Code != 10)
                                throw new CheckFailed("SecurityFault Code is " + fault.Detail.Code + ", expected 10");
                            return "FaultException<SecurityFault> code " + fault.Detail.Code + " (fault code "
                                + fault.Code.Name + ", reason: '" + fault.Message + "', detail: '" + fault.Detail.Detail + "')"
                                + recorder.CheckSent(addressing);
                        }
                        catch (FaultException fault)
                        {
                            throw new CheckFailed("a FaultException without the typed SecurityFault detail (action "
                                + fault.Action + ", code " + fault.Code.Name + "): " + fault.Message);
                        }
                        throw new CheckFailed("expected a SecurityFault for a wrong password, got a normal return: " + Shorten(result));
                    }),
                };
                foreach (var check in checks)
                {
                    string name = pair.Key + " " + check.Key;
                    try
                    {
                        Console.WriteLine("ok   " + name + ": " + check.Value());
                        passed++;
                    }
                    catch (CheckFailed e)
                    {
                        Console.WriteLine("FAIL " + name + ": " + e.Message);
                        failed++;
                    }
                    catch (Exception e)
                    {
                        Console.WriteLine("FAIL " + name + ": " + e.GetType().Name + ": " + e.Message);
                        failed++;
                    }
                }
                try
                {
                    ((IClientChannel)port).Close();
                    factory.Close();
                }
                catch (Exception)
                {
                    ((IClientChannel)port).Abort();
                    factory.Abort();
                }
            }
            Console.WriteLine("mono-wcf: " + passed + " passed, " + failed + " failed");
            return failed == 0 ? 0 : 1;
        }

        static string MonoVersion()
        {
            Type runtime = Type.GetType("Mono.Runtime");
            if (runtime == null) return "(not Mono)";
            var method = runtime.GetMethod("GetDisplayName",
                System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static);
            return method == null ? "(unknown)" : (string)method.Invoke(null, null);
        }
    }
}
