#!/usr/bin/env bash
# Interop check with the JAX-WS RI (Debian's jaxws and libjaxws-java packages): wsimport makes a
# client from the running server's WSDL, javac compiles it with JaxwsCheck.java, and JaxwsCheck
# calls both operations through both ports with WS-Addressing required.
#
# Usage: run.sh --wsdl-url URL --username U --password P --facility F --vxu FILE
# Needs java, javac and wsimport on PATH (apt-get install default-jdk-headless jaxws). Builds in a
# temporary folder ($JAXWS_WORK if set) and removes it afterwards.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
WSDL_URL=""
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = "--wsdl-url" ]; then
    j=$((i + 1))
    WSDL_URL="${!j:-}"
  fi
done
if [ -z "$WSDL_URL" ]; then
  echo "usage: run.sh --wsdl-url URL --username U --password P --facility F --vxu FILE" >&2
  exit 2
fi
for tool in java javac wsimport; do
  command -v "$tool" >/dev/null || { echo "FAIL $tool is not on PATH (apt-get install default-jdk-headless jaxws)" >&2; exit 1; }
done
CP=/usr/share/java/jaxws-rt.jar
[ -f "$CP" ] || { echo "FAIL $CP is missing (apt-get install libjaxws-java)" >&2; exit 1; }

OWN_WORK=""
if [ -z "${JAXWS_WORK:-}" ]; then
  JAXWS_WORK=$(mktemp -d)
  OWN_WORK="$JAXWS_WORK"
fi
trap '[ -z "$OWN_WORK" ] || rm -rf "$OWN_WORK"' EXIT
mkdir -p "$JAXWS_WORK/gen" "$JAXWS_WORK/classes"

# -extension: without it wsimport skips the SOAP 1.2 port (a "non-standard SOAP 1.2 binding" to
# JAX-WS) and makes only the SOAP 1.1 one. -Xnocompile: javac below compiles the generated
# sources together with the check.
wsimport -quiet -extension -Xnocompile -keep -s "$JAXWS_WORK/gen" -d "$JAXWS_WORK/classes" \
  -p org.izport.interop.gen "$WSDL_URL"
javac -nowarn -encoding UTF-8 -cp "$CP" -d "$JAXWS_WORK/classes" \
  $(find "$JAXWS_WORK/gen" "$HERE/src" -name '*.java')
# The SAAJ in these packages warns of a deprecated factory property at every message: keep
# the output to the checks' lines and real errors.
printf 'handlers=java.util.logging.ConsoleHandler\n.level=SEVERE\n' >"$JAXWS_WORK/logging.properties"
java -Djava.util.logging.config.file="$JAXWS_WORK/logging.properties" -cp "$JAXWS_WORK/classes:$CP" org.izport.interop.JaxwsCheck "$@"
