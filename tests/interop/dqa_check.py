#!/usr/bin/env python3
"""Checks data quality reports izport wrote: each JSON report validates against
docs/dqa-report.schema.json (JSON Schema draft 2020-12, Python jsonschema), and each HTML report
is standalone (no script, no external resource) and renders in headless Chromium to a PNG
without a console message. Optionally, none of a list of patient values appears in either.

  dqa_check.py --schema docs/dqa-report.schema.json --chromium chromium \
      --report DIR/NAME.dqa  [--report …] [--absent VALUE …] [--png-dir DIR]

Each --report names a pair: NAME.dqa.json and NAME.dqa.html (or NAME.json and NAME.html).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema


def fail(what):
    print(f"FAILED: {what}")
    sys.exit(1)


def ok(what):
    print(f"ok: {what}")


def pair(stem):
    for j, h in ((stem + ".json", stem + ".html"), (stem + ".dqa.json", stem + ".dqa.html")):
        if os.path.exists(j) and os.path.exists(h):
            return j, h
    fail(f"no JSON and HTML report at {stem}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--schema", required=True)
    p.add_argument("--chromium", default="chromium")
    p.add_argument("--report", action="append", required=True)
    p.add_argument("--absent", action="append", default=[])
    p.add_argument("--png-dir", default=None)
    args = p.parse_args()

    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    png_dir = args.png_dir or tempfile.mkdtemp()

    for n, stem in enumerate(args.report):
        json_path, html_path = pair(stem)
        with open(json_path, encoding="utf-8") as f:
            text = f.read()
        errors = sorted(validator.iter_errors(json.loads(text)), key=lambda e: list(e.path))
        if errors:
            for e in errors[:10]:
                print(f"  {list(e.path)}: {e.message}")
            fail(f"{json_path} does not validate against the schema")
        ok(f"{os.path.basename(json_path)} validates against the schema")

        with open(html_path, encoding="utf-8") as f:
            html = f.read()
        if re.search(r"<script|<link|<iframe|<object|<embed|<img|url\(|@import", html, re.I):
            fail(f"{html_path} has a script or loads something")
        if re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//|file:)""", html, re.I):
            fail(f"{html_path} refers to an external resource")
        ok(f"{os.path.basename(html_path)} is standalone")

        for value in args.absent:
            if value in text or value in html:
                fail(f"patient value {value!r} appears in a report of {stem}")
        if args.absent:
            ok(f"none of {len(args.absent)} patient values appears")

        png = os.path.join(png_dir, f"report-{n}.png")
        profile = tempfile.mkdtemp()
        run = subprocess.run(
            [args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             f"--screenshot={png}", "--window-size=1200,1600",
             "file://" + os.path.abspath(html_path)],
            capture_output=True, text=True, timeout=120)
        console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
        if run.returncode != 0:
            print(run.stderr[-2000:])
            fail(f"chromium exited with {run.returncode}")
        if console:
            print("\n".join(console))
            fail(f"{html_path} logged to the console")
        if not os.path.exists(png) or os.path.getsize(png) < 10000:
            fail(f"chromium wrote no screenshot of {html_path}")
        ok(f"{os.path.basename(html_path)} renders in Chromium to {png} with no console message")


if __name__ == "__main__":
    main()
