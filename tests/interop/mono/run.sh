#!/usr/bin/env bash
# Interop check with Mono's WCF (Debian's mono-mcs, mono-runtime and
# libmono-system-servicemodel4.0a-cil packages): compiles WcfCheck.cs with mcs and runs it.
#
# Usage: run.sh --address http://HOST:PORT/soap --username U --password P --facility F --vxu FILE
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
for tool in mcs mono; do
  command -v "$tool" >/dev/null || {
    echo "FAIL $tool is not on PATH (apt-get install mono-mcs mono-runtime libmono-system-servicemodel4.0a-cil)" >&2
    exit 1
  }
done
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
mcs -nologo -warnaserror -r:System.ServiceModel.dll -r:System.Runtime.Serialization.dll \
  -out:"$OUT/WcfCheck.exe" "$HERE/WcfCheck.cs"
mono "$OUT/WcfCheck.exe" "$@"
