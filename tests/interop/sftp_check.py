#!/usr/bin/env python3
"""The file door through SFTP clients nobody here wrote: paramiko, OpenSSH's `sftp -b`, and a
WinSCP-style `.filepart` upload; then a maintenance drill (a file uploaded during the window is
processed after it, without being sent again) and a `kill -9` in the middle of a file (a restart
finishes it, every message once).

It starts and stops `izport serve` itself (the kill needs the process), on the database the
caller prepared: an organization with a data exchange account (import code, password) and the
public key given with --key registered to it.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import paramiko

FOLDERS = ["Accepted", "DQA-Reports", "HL7-Dropoff", "Receive"]


def vxu(control_id, mrn, facility="FAC"):
    return "\r".join([
        f"MSH|^~\\&|EHR|{facility}|IZPORT|IZPORT|20240515093012-0500||VXU^V04^VXU_V04|{control_id}|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS",
        f"PID|1||{mrn}^^^EHR^MR||Doe^Jane^Q^^^^L|Mother^Mary^^^^^M|20230421|F",
        f"ORC|RE||D{control_id}^EHR",
        "RXA|0|1|20240515||08^Hep B, adolescent or pediatric^CVX|0.5|mL^milliliters^UCUM||00^New immunization record^NIP001||||||Z0860BB|20250810|MSD^Merck and Co., Inc.^MVX|||CP|A",
        "RXR|C28161^Intramuscular^NCIT|RT^Right Thigh^HL70163",
    ])


def batch(messages, control="F1"):
    lines = [f"FHS|^~\\&|EHR|CLINIC|IZPORT|IZPORT|20240601120000||X||{control}",
             "BHS|^~\\&|EHR|CLINIC|IZPORT|IZPORT|20240601120000||||B1"]
    for m in messages:
        lines.extend(m.split("\r"))
    lines += [f"BTS|{len(messages)}", "FTS|1"]
    return ("\r\n".join(lines) + "\r\n").encode()


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, args, log):
        self.args = args
        self.log = log
        self.proc = None

    def start(self):
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [self.args.izport, "--database-url", self.args.database_url, "serve",
             "--listen", f"127.0.0.1:{self.args.http_port}",
             "--sftp-listen", f"127.0.0.1:{self.args.sftp_port}",
             "--batch-quiet-seconds", "1", "--batch-lease-seconds", "3",
             "--maintenance-poll-ms", "200"],
            stdout=out, stderr=out)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.args.sftp_port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("izport did not start; see " + self.log)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)


def izport(args, *cmd):
    return subprocess.run([args.izport, "--database-url", args.database_url, *cmd],
                          check=True, capture_output=True, text=True).stdout


def connect(args):
    transport = paramiko.Transport(("127.0.0.1", args.sftp_port))
    transport.connect(username=args.import_code, password=args.password)
    return transport, paramiko.SFTPClient.from_transport(transport)


def wait_for(sftp, name, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if name in sftp.listdir("/DQA-Reports"):
            with sftp.open(f"/DQA-Reports/{name}") as f:
                return f.read().decode()
        time.sleep(0.2)
    raise SystemExit(f"FAILED: {name} did not appear in DQA-Reports")


def msa(ack):
    return [line.split("|") for line in ack.split("\r\n") if line.startswith("MSA|")]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--izport", required=True)
    p.add_argument("--database-url", required=True)
    p.add_argument("--import-code", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--key", required=True, help="private key registered to the account")
    p.add_argument("--work", default=None)
    args = p.parse_args()
    args.sftp_port = free_port()
    args.http_port = free_port()
    work = args.work or tempfile.mkdtemp()
    server = Server(args, os.path.join(work, "server.log"))
    server.start()
    code = args.import_code
    try:
        # --- paramiko: password login, the four folders, put() with its size check.
        transport, sftp = connect(args)
        check(sorted(sftp.listdir("/")) == FOLDERS, "paramiko sees exactly the four folders")
        local = os.path.join(work, f"{code}24153.hl7")
        with open(local, "wb") as f:
            f.write(batch([vxu("PM1", "MRNPM1"), vxu("PM2", "MRNPM2")]))
        attrs = sftp.put(local, f"/HL7-Dropoff/{code}24153.hl7", confirm=True)
        check(attrs.st_size == os.path.getsize(local), "paramiko put() confirms the size")
        ack = wait_for(sftp, f"{code}24153.hl7.ack")
        check([m[2] for m in msa(ack)] == ["PM1", "PM2"], "one ACK per message, in order")
        check(all(m[1] == "AA" for m in msa(ack)), "both accepted")
        check(f"{code}24153.hl7" in sftp.listdir("/Accepted"), "the upload moved to Accepted")
        # The data quality report beside the ACK, as JSON and HTML (.ci/run checks them with
        # dqa_check.py).
        for ext in ("dqa.json", "dqa.html"):
            name = f"{code}24153.hl7.{ext}"
            check(name in sftp.listdir("/DQA-Reports"), f"{name} is in DQA-Reports beside the ACK")
            sftp.get(f"/DQA-Reports/{name}", os.path.join(work, name))
        try:
            sftp.posix_rename("/HL7-Dropoff/a", "/HL7-Dropoff/b")
            check(False, "posix-rename is refused")
        except IOError:
            check(True, "posix-rename@openssh.com is refused cleanly")
        try:
            sftp.put(local, "/Accepted/other.hl7")
            check(False, "Accepted is read-only")
        except (IOError, PermissionError):
            check(True, "writing into Accepted is refused")

        # --- WinSCP style: .filepart, set the time, rename.
        with sftp.open(f"/HL7-Dropoff/{code}24154.hl7.filepart", "wb") as f:
            f.write(batch([vxu("WS1", "MRNWS1")], control="F2"))
        sftp.utime(f"/HL7-Dropoff/{code}24154.hl7.filepart", (1700000000, 1700000000))
        time.sleep(2)
        check(f"{code}24154.hl7.filepart" in sftp.listdir("/HL7-Dropoff"),
              "a .filepart is never picked up")
        sftp.rename(f"/HL7-Dropoff/{code}24154.hl7.filepart", f"/HL7-Dropoff/{code}24154.hl7")
        ack = wait_for(sftp, f"{code}24154.hl7.ack")
        check([m[2] for m in msa(ack)] == ["WS1"], "the renamed upload is processed once")

        # --- OpenSSH sftp -b with the registered key.
        script = os.path.join(work, "batch.sftp")
        payload = os.path.join(work, f"{code}24155.hl7")
        with open(payload, "wb") as f:
            f.write(batch([vxu("OS1", "MRNOS1")], control="F3"))
        with open(script, "w") as f:
            f.write(f"put {payload} /HL7-Dropoff/{code}24155.hl7\n"
                    "ls /HL7-Dropoff\n"
                    f"-put {payload} /Accepted/refused.hl7\n"
                    "cd ..\n"
                    "pwd\n")
        known = os.path.join(work, "known_hosts")
        cmd = ["sftp", "-b", script, "-i", args.key, "-P", str(args.sftp_port),
               "-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={known}",
               "-o", "IdentitiesOnly=yes", f"{code}@127.0.0.1"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        check(done.returncode == 0, f"sftp -b exits 0 (stderr: {done.stderr.strip()})")
        check("Remote working directory: /" in done.stdout, "cd .. at / stays at /")
        ack = wait_for(sftp, f"{code}24155.hl7.ack")
        check([m[2] for m in msa(ack)] == ["OS1"], "the sftp -b upload is answered")
        get = subprocess.run(
            ["sftp", "-b", "-", "-i", args.key, "-P", str(args.sftp_port),
             "-o", f"UserKnownHostsFile={known}", "-o", "IdentitiesOnly=yes", f"{code}@127.0.0.1"],
            input=f"get /DQA-Reports/{code}24155.hl7.ack {work}/got.ack\n",
            capture_output=True, text=True)
        check(get.returncode == 0 and os.path.exists(f"{work}/got.ack"), "sftp -b downloads the ACK file")
        keyscan = subprocess.run(["ssh-keyscan", "-p", str(args.sftp_port), "-t", "ed25519", "127.0.0.1"],
                                 capture_output=True, text=True).stdout
        fp = subprocess.run(["ssh-keygen", "-lf", "-"], input=keyscan, capture_output=True, text=True).stdout
        expected = izport(args, "sftp", "host-key").strip()
        check(expected in fp, f"the served host key is the one `izport sftp host-key` prints ({expected})")
        transport.close()

        # --- Maintenance: the upload is taken, waits, and is processed after the window.
        izport(args, "maintenance", "start", "--reason", "sftp drill")
        time.sleep(0.6)
        transport, sftp = connect(args)
        sftp.putfo(__import__("io").BytesIO(batch([vxu("MT1", "MRNMT1")], control="F4")),
                   f"/HL7-Dropoff/{code}24156.hl7")
        time.sleep(3)
        check(f"{code}24156.hl7" in sftp.listdir("/HL7-Dropoff"), "during maintenance the file waits")
        izport(args, "maintenance", "stop")
        ack = wait_for(sftp, f"{code}24156.hl7.ack")
        check([m[2] for m in msa(ack)] == ["MT1"], "after the window it is processed without a resend")
        transport.close()

        # --- kill -9 in the middle of a file; a restart finishes it.
        n = 3000
        transport, sftp = connect(args)
        sftp.putfo(__import__("io").BytesIO(batch([vxu(f"K{i}", f"MRNK{i}") for i in range(n)], control="F5")),
                   f"/HL7-Dropoff/{code}24157.hl7")
        transport.close()
        deadline = time.time() + 120
        killed = False
        while time.time() < deadline and not killed:
            import json
            runs = json.loads(izport(args, "batch", "list", "--json"))
            run = [r for r in runs if r["original_name"] == f"{code}24157.hl7"]
            if run and 0 < run[0]["processed_messages"] < n:
                server.stop(signal.SIGKILL)
                killed = True
                check(True, f"killed -9 after {run[0]['processed_messages']} of {n} messages")
            time.sleep(0.05)
        check(killed, "caught the file midway")
        server.start()
        transport, sftp = connect(args)
        ack = wait_for(sftp, f"{code}24157.hl7.ack", timeout=300)
        ids = [m[2] for m in msa(ack)]
        check(ids == [f"K{i}" for i in range(n)], "after the restart: every message answered once, in order")
        transport.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
