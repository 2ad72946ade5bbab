#!/usr/bin/env python3
"""The Docker flow without a Docker engine (issue 16, finding 10).

Reads docker-compose.yml and the Dockerfile's last stage, and:

1. checks that every port any service publishes is bound to the host's loopback (127.0.0.1 or
   [::1]) and that no service shares the host's network;
2. runs what the compose file runs in the izport image, in its order: for each service built
   from the Dockerfile, the image's ENTRYPOINT (``izport``, replaced by --izport) with the
   service's command (or the image's CMD), under the image's ENV overlaid with the service's
   environment. Only what cannot hold outside the compose network is changed: the database URL
   (the machine's PostgreSQL, --database-url) and the port numbers (free ones here; the listen
   addresses keep their host part, 0.0.0.0);
3. of the serving service: /health answers ok, a connectivityTest echoes, the WSDL advertises
   IZPORT_PUBLIC_URL, it is reachable on a non-loopback address of this machine (it listens on
   every interface, as the image tells it to), and neither command printed PostgreSQL notices.

Exits non-zero, saying what failed, on the first failure.
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import yaml


def fail(message):
    print(f"compose check: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def last_stage(dockerfile):
    """ENV, ENTRYPOINT and CMD of the Dockerfile's last stage."""
    text = open(dockerfile, encoding="utf-8").read()
    # Join continuation lines, drop comments.
    lines = []
    for raw in re.sub(r"\\\n", " ", text).splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    start = max(i for i, l in enumerate(lines) if l.upper().startswith("FROM "))
    env, entrypoint, cmd = {}, [], []
    for line in lines[start + 1:]:
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "ENV":
            for key, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)', rest):
                env[key] = value.strip('"')
        elif word == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif word == "CMD":
            cmd = json.loads(rest)
    return env, entrypoint, cmd


def check_published_ports(compose):
    published = 0
    for name, service in compose.get("services", {}).items():
        if service.get("network_mode") == "host":
            fail(f"service {name} uses the host's network: every port would be public")
        for port in service.get("ports", []):
            if isinstance(port, dict):
                host_ip = str(port.get("host_ip", ""))
                shown = port
            else:
                shown = str(port)
                spec = shown.split("/")[0]
                if spec.startswith("["):
                    host_ip = spec[1:spec.index("]")]
                else:
                    parts = spec.split(":")
                    host_ip = parts[0] if len(parts) == 3 else ""
            if host_ip not in ("127.0.0.1", "::1"):
                fail(f"service {name} publishes {shown!r} on every interface of the host, "
                     "not on 127.0.0.1")
            published += 1
    if published == 0:
        fail("no published port at all: the service could not be reached from the host")
    print(f"compose: {published} published port(s), each on the host's loopback only")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_port(address, port):
    host = address.rsplit(":", 1)[0]
    return f"{host}:{port}"


def non_loopback_address():
    """An IPv4 address of this machine other than loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def order(services):
    """Services in an order that respects depends_on."""
    done, out = set(), []

    def visit(name):
        if name in done:
            return
        done.add(name)
        deps = services[name].get("depends_on", {})
        for dep in deps if isinstance(deps, (list, dict)) else []:
            visit(dep)
        out.append(name)

    for name in services:
        visit(name)
    return out


def http(url, data=None, headers=None, timeout=5):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read().decode("utf-8", "replace")


def no_notices(name, text):
    for needle in ("_sqlx_migrations", "already exists", "NOTICE"):
        if needle in text:
            fail(f"{name} printed PostgreSQL notices ({needle!r}):\n{text}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--compose", default="docker-compose.yml")
    parser.add_argument("--dockerfile", default="Dockerfile")
    parser.add_argument("--izport", required=True, help="the izport binary")
    parser.add_argument("--database-url", required=True,
                        help="an existing, empty PostgreSQL database for the run")
    parser.add_argument("--work", required=True, help="a scratch directory")
    args = parser.parse_args()

    compose = yaml.safe_load(open(args.compose, encoding="utf-8"))
    check_published_ports(compose)

    image_env, entrypoint, image_cmd = last_stage(args.dockerfile)
    if entrypoint != ["izport"]:
        fail(f"the image's ENTRYPOINT is {entrypoint}, expected [\"izport\"]")
    services = compose["services"]
    ours = [n for n in order(services) if services[n].get("build") in (".", "./")]
    if not ours:
        fail("no service is built from the Dockerfile")

    http_port, sftp_port = free_port(), free_port()
    server = None
    base = f"http://127.0.0.1:{http_port}"
    try:
        for name in ours:
            service = services[name]
            env = dict(os.environ)
            env.pop("IZPORT_LOG", None)
            env.update(image_env)
            env.update({k: str(v) for k, v in (service.get("environment") or {}).items()})
            env["IZPORT_DATABASE_URL"] = args.database_url
            for key, port in (("IZPORT_LISTEN", http_port), ("IZPORT_SFTP_LISTEN", sftp_port)):
                if key in env and env[key] != "off":
                    env[key] = with_port(env[key], port)
            command = service.get("command") or image_cmd
            if isinstance(command, str):
                command = command.split()
            argv = [args.izport] + list(command)
            shown = " ".join(["izport"] + list(command))
            log = os.path.join(args.work, f"compose-{name}.log")
            if command[:1] == ["serve"]:
                print(f"compose: {name}: {shown} (listening on {env.get('IZPORT_LISTEN')})")
                server = subprocess.Popen(argv, env=env, stdout=open(log, "w"),
                                          stderr=subprocess.STDOUT)
                for _ in range(100):
                    if server.poll() is not None:
                        fail(f"{name} exited with {server.returncode}:\n{open(log).read()}")
                    try:
                        status, body = http(f"{base}/health", timeout=1)
                        if status == 200:
                            break
                    except OSError:
                        pass
                    time.sleep(0.2)
                else:
                    fail(f"{name} did not answer /health within 20 s:\n{open(log).read()}")
                if json.loads(body) != {"status": "ok", "database": "ok"}:
                    fail(f"/health: {body}")
                print(f"compose: {name}: /health {body}")
                envelope = (
                    '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" '
                    'xmlns:iis="urn:cdc:iisb:2011"><soap:Body><iis:connectivityTest>'
                    '<iis:echoBack>compose flow</iis:echoBack></iis:connectivityTest>'
                    '</soap:Body></soap:Envelope>'
                ).encode()
                status, body = http(f"{base}/soap", envelope,
                                    {"Content-Type": "application/soap+xml; charset=utf-8"})
                if status != 200 or ">compose flow</" not in body:
                    fail(f"connectivityTest: HTTP {status}: {body}")
                print(f"compose: {name}: connectivityTest echoed")
                public = env.get("IZPORT_PUBLIC_URL")
                if public:
                    _, wsdl = http(f"{base}/soap?wsdl")
                    if f'location="{public.rstrip("/")}/soap"' not in wsdl:
                        fail(f"the WSDL does not advertise {public}/soap")
                    print(f"compose: {name}: the WSDL advertises {public}/soap")
                outside = non_loopback_address()
                if env.get("IZPORT_LISTEN", "").startswith("0.0.0.0:") and outside:
                    status, _ = http(f"http://{outside}:{http_port}/health")
                    if status != 200:
                        fail(f"not reachable on {outside}")
                    print(f"compose: {name}: reachable on {outside} too (listens on 0.0.0.0)")
                elif not outside:
                    print(f"compose: {name}: this machine has no non-loopback address to try")
            else:
                print(f"compose: {name}: {shown}")
                done = subprocess.run(argv, env=env, stdout=open(log, "w"),
                                      stderr=subprocess.STDOUT, timeout=300)
                if done.returncode != 0:
                    fail(f"{name} exited with {done.returncode}:\n{open(log).read()}")
            no_notices(name, open(log).read())
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    if server is None:
        fail("no service runs izport serve")
    no_notices("the server", open(os.path.join(args.work, f"compose-{ours[-1]}.log")).read())
    print("compose: the compose flow works against this machine's PostgreSQL")


if __name__ == "__main__":
    main()
