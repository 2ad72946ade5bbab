#!/usr/bin/env python3
"""Maintenance drill with Python zeep, as an EHR vendor would rehearse it.

The WSDL is loaded while the service is up. Then the operator starts maintenance with the
izport command line (the running server picks the window up from the database), and:

  1. submitSingleMessage fails in zeep with an HTTP 503 whose body carries the sentence the
     registry's notices quote, and a Retry-After header. zeep reads the well-formed HTML page as
     XML and raises a generic zeep.exceptions.Fault ("Unknown fault occured"); with
     `serve --maintenance-page soap` the Fault's message is the sentence itself. Either way the
     status, Retry-After and body are what a client can act on, so they are what is checked;
  2. after `izport maintenance stop`, the same message, resent, is accepted (MSA|AA).

Usage:
  zeep_maintenance.py --wsdl-url URL --izport BIN --database-url URL \\
      --username U --password P --facility F --vxu FILE
"""

import argparse
import subprocess
import sys
import time

import requests
import zeep
import zeep.exceptions
import zeep.transports

SENTENCE = (
    "The server is temporarily unable to service your request due to maintenance downtime "
    "or capacity problems. Please try again later."
)


def izport(args, *command):
    subprocess.run([args.izport, "--database-url", args.database_url, *command], check=True,
                   stdout=subprocess.DEVNULL)


def read_vxu(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return "\r".join(line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line)


class RecordingTransport(zeep.transports.Transport):
    """A stock zeep transport that remembers the last HTTP response."""

    last = None

    def post(self, address, message, headers):
        response = super().post(address, message, headers)
        self.last = response
        return response


def main():
    parser = argparse.ArgumentParser()
    for name in ("--wsdl-url", "--izport", "--database-url", "--username", "--password",
                 "--facility", "--vxu"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()

    transport = RecordingTransport(session=requests.Session())
    client = zeep.Client(args.wsdl_url, transport=transport)
    message = read_vxu(args.vxu)
    control_id = message.split("\r")[0].split("|")[9]
    failures = 0

    izport(args, "maintenance", "start", "--until", "+1h", "--reason", "zeep drill")
    try:
        deadline = time.time() + 10
        while True:
            try:
                client.service.submitSingleMessage(args.username, args.password, args.facility,
                                                   message)
            except (zeep.exceptions.TransportError, zeep.exceptions.Fault) as e:
                last = transport.last
                status = last.status_code if last is not None else None
                body = last.text if last is not None else ""
                retry = last.headers.get("Retry-After") if last is not None else None
                if status == 503 and SENTENCE in body and retry:
                    print(f"ok   during maintenance: HTTP 503, Retry-After {retry}s, the body quotes "
                          f"the notice; zeep raised {type(e).__name__}: {e}")
                else:
                    print(f"FAIL during maintenance: status {status}, Retry-After {retry!r}, "
                          f"body {body[:200]!r}, zeep raised {type(e).__name__}: {e}")
                    failures += 1
                break
            else:
                if time.time() > deadline:
                    print("FAIL during maintenance: the server kept accepting messages")
                    failures += 1
                    break
                time.sleep(0.2)  # the server has not polled the new window yet
    finally:
        izport(args, "maintenance", "stop")

    deadline = time.time() + 10
    while True:
        try:
            ack = client.service.submitSingleMessage(args.username, args.password, args.facility,
                                                     message)
        except (zeep.exceptions.TransportError, zeep.exceptions.Fault):
            if time.time() > deadline:
                print("FAIL after maintenance: still refused")
                failures += 1
                break
            time.sleep(0.2)
            continue
        if f"MSA|AA|{control_id}" in ack:
            print("ok   after maintenance: the resent message is accepted")
        else:
            print(f"FAIL after maintenance: unexpected ACK {ack[:200]!r}")
            failures += 1
        break

    print(f"zeep maintenance: {2 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
