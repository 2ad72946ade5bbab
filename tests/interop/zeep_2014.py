#!/usr/bin/env python3
"""Interop check for the 2014 contract: Python zeep, loaded with the 2014 WSDL as IZ Gateway
publishes it (a file given on the command line, not izport's own WSDL), calls both operations
of a running izport at /soap/2014. The WSDL's binding has a WS-Addressing policy, so zeep sends
wsa:Action, wsa:MessageID and wsa:To with every call by itself.

  1. ConnectivityTest echoes its EchoBack;
  2. SubmitSingleMessage with good credentials returns an ACK accepting the VXU;
  3. SubmitSingleMessage with a wrong password raises a fault whose detail holds
     {urn:cdc:iisb:2014}SecurityFault;
  4. the replies carry wsa:RelatesTo naming the request's wsa:MessageID.

The published WSDL imports its schema from a server path; the transport below serves that
import from the schema file beside the WSDL.

Usage:
  zeep_2014.py --wsdl FILE --address http://127.0.0.1:PORT/soap/2014 \\
      --username U --password P --facility F --vxu FILE
"""

import argparse
import os
import re
import sys

import zeep
import zeep.exceptions
import zeep.plugins
import zeep.transports

NS = "urn:cdc:iisb:2014"
WSA_NS = "http://www.w3.org/2005/08/addressing"
ECHO = "hello 2014 from zeep"


class LocalSchemaTransport(zeep.transports.Transport):
    """Serves the WSDL's schema import (a server-relative URL) from the directory of the WSDL."""

    def __init__(self, directory):
        super().__init__()
        self.directory = directory

    def load(self, url):
        name = url.rsplit("/", 1)[-1]
        if name.endswith(".xsd"):
            path = os.path.join(self.directory, name)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    return f.read()
        return super().load(url)


class CheckFailed(Exception):
    pass


def read_vxu(path):
    with open(path, "rb") as f:
        text = f.read().decode("utf-8-sig")
    return "\r".join(s for s in re.split(r"\r\n|\r|\n", text) if s.strip())


def relates_to_sent(history):
    sent = history.last_sent["envelope"].find(f".//{{{WSA_NS}}}MessageID")
    got = history.last_received["envelope"].find(f".//{{{WSA_NS}}}RelatesTo")
    if sent is None or got is None or got.text != sent.text:
        raise CheckFailed(
            f"RelatesTo {None if got is None else got.text!r}, "
            f"sent MessageID {None if sent is None else sent.text!r}"
        )
    return got.text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--wsdl", required=True, help="the 2014 WSDL file (cdc-iis.wsdl)")
    parser.add_argument("--address", required=True, help="izport's /soap/2014 URL")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--facility", required=True)
    parser.add_argument("--vxu", required=True)
    args = parser.parse_args()

    history = zeep.plugins.HistoryPlugin()
    try:
        client = zeep.Client(
            args.wsdl,
            transport=LocalSchemaTransport(os.path.dirname(os.path.abspath(args.wsdl))),
            plugins=[history],
        )
        service = client.create_service(f"{{{NS}}}IISBindingSoap12", args.address)
    except Exception as exc:
        print(f"FAIL load WSDL {args.wsdl}: {type(exc).__name__}: {exc}")
        return 1
    print(f"ok   load WSDL {args.wsdl}, service at {args.address}")
    vxu = read_vxu(args.vxu)
    control_id = vxu.split("\r", 1)[0].split("|")[9]

    def connectivity():
        result = service.ConnectivityTest(EchoBack=ECHO)
        if result != ECHO:
            raise CheckFailed(f"EchoBack {result!r}, expected {ECHO!r}")
        return f"EchoBack {result!r}, RelatesTo {relates_to_sent(history)}"

    def submit():
        result = service.SubmitSingleMessage(
            Username=args.username,
            Password=args.password,
            FacilityID=args.facility,
            Hl7Message=vxu,
        )
        if not isinstance(result, str) or not re.search(
            "MSA\\|AA\\|" + re.escape(control_id) + "(?:[|\r\n]|$)", result
        ):
            raise CheckFailed(f"no MSA|AA|{control_id} in {result!r:.300}")
        return f"ACK accepts {control_id}, RelatesTo {relates_to_sent(history)}"

    def security_fault():
        try:
            result = service.SubmitSingleMessage(
                Username=args.username,
                Password=args.password + "-wrong",
                FacilityID=args.facility,
                Hl7Message=vxu,
            )
        except zeep.exceptions.Fault as fault:
            detail = fault.detail
            tag = f"{{{NS}}}SecurityFault"
            found = None if detail is None else (
                detail if detail.tag == tag else detail.find(f".//{tag}")
            )
            if found is None:
                raise CheckFailed(f"no {tag} in the fault detail (reason {fault.message!r})")
            return f"SecurityFault (reason {fault.message!r})"
        raise CheckFailed(f"expected a SecurityFault, got {result!r:.200}")

    failures = 0
    checks = [
        ("ConnectivityTest", connectivity),
        ("SubmitSingleMessage, good credentials", submit),
        ("SubmitSingleMessage, wrong password", security_fault),
    ]
    for name, run in checks:
        try:
            outcome = run()
        except Exception as exc:
            failures += 1
            print(f"FAIL {name}: {type(exc).__name__}: {exc}")
        else:
            print(f"ok   {name}: {outcome}")
    print(f"zeep 2014: {len(checks) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
