#!/usr/bin/env python3
"""Interop check: drive a running izport server with Python zeep, a SOAP client
written by nobody on this project.

The WSDL is fetched from the server and used as zeep sees it, with default
settings. The script runs three checks through each port of the WSDL (SOAP 1.2
and SOAP 1.1):

  1. connectivityTest echoes the text it is sent;
  2. submitSingleMessage with good credentials returns an HL7 ACK that accepts
     the VXU (MSA|AA|<MSH-10 of the VXU>);
  3. submitSingleMessage with a wrong password raises a SOAP fault whose detail
     holds {urn:cdc:iisb:2011}SecurityFault with Code 10.

and one more with zeep's WS-Addressing plugin on the SOAP 1.2 port: the reply
carries wsa:RelatesTo naming the request's wsa:MessageID and the operation's
response action.

It prints one line per check and exits with status 1 if any check fails.

Usage:
  zeep_check.py --wsdl-url http://127.0.0.1:PORT/soap?wsdl \\
      --username U --password P --facility F --vxu FILE
"""

import argparse
import re
import sys

import zeep
import zeep.exceptions
import zeep.plugins
import zeep.wsa

CDC_NS = "urn:cdc:iisb:2011"
WSA_NS = "http://www.w3.org/2005/08/addressing"
PORTS = [("SOAP 1.2", "client_Port_Soap12"), ("SOAP 1.1", "client_Port_Soap11")]
ECHO_TEXT = "hello from zeep"


class CheckFailed(Exception):
    """A check did not hold; the message says what was expected and seen."""


def shorten(value, limit=300):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def read_vxu(path):
    """The VXU in the file, segments joined with CR whatever the file used."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CheckFailed(f"{path} is not UTF-8: {exc}") from exc
    segments = [s for s in re.split(r"\r\n|\r|\n", text) if s.strip()]
    if not segments or not segments[0].startswith("MSH"):
        raise CheckFailed(f"{path} does not start with an MSH segment")
    return "\r".join(segments)


def msh10(message):
    """MSH-10 (message control ID) of an HL7 v2 message."""
    msh = message.split("\r", 1)[0]
    if len(msh) < 4:
        raise CheckFailed("the MSH segment is too short to hold MSH-10")
    separator = msh[3]
    fields = msh.split(separator)
    # fields[0] is "MSH" and fields[1] is MSH-2, so MSH-n is fields[n - 1].
    if len(fields) < 10 or not fields[9]:
        raise CheckFailed("the VXU has no MSH-10 (message control ID)")
    return fields[9]


def check_connectivity(service):
    result = service.connectivityTest(ECHO_TEXT)
    if not isinstance(result, str):
        raise CheckFailed(f"expected a string return, got {shorten(result)}")
    if ECHO_TEXT not in result:
        raise CheckFailed(
            f"the return does not contain {ECHO_TEXT!r}: {shorten(result)}"
        )
    return f"return contains {ECHO_TEXT!r}"


def check_submit(service, args, vxu):
    control_id = msh10(vxu)
    result = service.submitSingleMessage(
        username=args.username,
        password=args.password,
        facilityID=args.facility,
        hl7Message=vxu,
    )
    if not isinstance(result, str):
        raise CheckFailed(f"expected a string return, got {shorten(result)}")
    if not result.startswith("MSH|"):
        raise CheckFailed(f"the return does not start with 'MSH|': {shorten(result)}")
    pattern = "MSA\\|AA\\|" + re.escape(control_id) + "(?:[|\r\n]|$)"
    if not re.search(pattern, result):
        raise CheckFailed(
            f"the return has no 'MSA|AA|{control_id}' segment: {shorten(result)}"
        )
    return f"ACK accepts message {control_id}"


def check_security_fault(service, args, vxu):
    wrong = args.password + "-not-the-password"
    try:
        result = service.submitSingleMessage(
            username=args.username,
            password=wrong,
            facilityID=args.facility,
            hl7Message=vxu,
        )
    except zeep.exceptions.Fault as fault:
        detail = fault.detail
        if detail is None:
            raise CheckFailed(f"the fault has no detail (reason: {fault.message!r})")
        tag = f"{{{CDC_NS}}}SecurityFault"
        security = detail if detail.tag == tag else detail.find(f".//{tag}")
        if security is None:
            children = [child.tag for child in detail]
            raise CheckFailed(
                f"the fault detail holds {children}, not {tag} (reason: {fault.message!r})"
            )
        code = security.find(f"{{{CDC_NS}}}Code")
        code_text = (code.text or "").strip() if code is not None else None
        if code_text != "10":
            raise CheckFailed(f"SecurityFault Code is {code_text!r}, expected '10'")
        return f"SecurityFault code 10 (reason: {fault.message!r})"
    raise CheckFailed(
        f"expected a SecurityFault for a wrong password, got a normal return: {shorten(result)}"
    )


def check_addressing(wsdl_url):
    history = zeep.plugins.HistoryPlugin()
    client = zeep.Client(wsdl_url, plugins=[zeep.wsa.WsAddressingPlugin(), history])
    service = client.bind("client_Service", "client_Port_Soap12")
    result = service.connectivityTest(ECHO_TEXT)
    if ECHO_TEXT not in (result or ""):
        raise CheckFailed(f"the return does not contain {ECHO_TEXT!r}: {shorten(result)}")
    sent = history.last_sent["envelope"].find(f".//{{{WSA_NS}}}MessageID")
    if sent is None or not sent.text:
        raise CheckFailed("zeep's WS-Addressing plugin sent no MessageID")
    reply = history.last_received["envelope"]
    relates = reply.find(f".//{{{WSA_NS}}}RelatesTo")
    action = reply.find(f".//{{{WSA_NS}}}Action")
    if relates is None or relates.text != sent.text:
        got = None if relates is None else relates.text
        raise CheckFailed(f"reply RelatesTo is {got!r}, expected {sent.text!r}")
    want = CDC_NS + ":connectivityTestResponse"
    if action is None or action.text != want:
        got = None if action is None else action.text
        raise CheckFailed(f"reply Action is {got!r}, expected {want!r}")
    return f"RelatesTo {sent.text} and Action {want}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--wsdl-url", required=True, help="URL of the server's WSDL")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--facility", required=True, help="facilityID to send")
    parser.add_argument("--vxu", required=True, help="file holding one HL7 v2 VXU")
    args = parser.parse_args()

    try:
        client = zeep.Client(args.wsdl_url)
    except Exception as exc:  # any failure to load the WSDL ends the run
        print(f"FAIL load WSDL from {args.wsdl_url}: {type(exc).__name__}: {exc}")
        return 1
    print(f"ok   load WSDL from {args.wsdl_url}")

    try:
        vxu = read_vxu(args.vxu)
    except (OSError, CheckFailed) as exc:
        print(f"FAIL read VXU {args.vxu}: {exc}")
        return 1

    checks = []
    for label, port in PORTS:
        try:
            service = client.bind("client_Service", port)
        except Exception as exc:
            print(f"FAIL bind {port}: {type(exc).__name__}: {exc}")
            return 1
        checks += [
            (f"{label} connectivityTest", lambda s=service: check_connectivity(s)),
            (
                f"{label} submitSingleMessage, good credentials",
                lambda s=service: check_submit(s, args, vxu),
            ),
            (
                f"{label} submitSingleMessage, wrong password",
                lambda s=service: check_security_fault(s, args, vxu),
            ),
        ]
    checks.append(("SOAP 1.2 WS-Addressing reply", lambda: check_addressing(args.wsdl_url)))
    failures = 0
    for name, run in checks:
        try:
            outcome = run()
        except CheckFailed as exc:
            failures += 1
            print(f"FAIL {name}: {exc}")
        except zeep.exceptions.Fault as fault:
            failures += 1
            print(f"FAIL {name}: unexpected SOAP fault {fault.code}: {fault.message!r}")
        except Exception as exc:  # transport errors, bad XML and the like
            failures += 1
            print(f"FAIL {name}: {type(exc).__name__}: {exc}")
        else:
            print(f"ok   {name}: {outcome}")

    print(f"zeep: {len(checks) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
