#!/usr/bin/env python3
"""Interop check: izport's HL7 responses, read by an HL7 library nobody here wrote.

Through a running izport (via zeep, with the WSDL the server serves) it sends a VXU, then a Z34
history query for the same patient, a Z44 (evaluated history and forecast) for them, then a
query for nobody, and parses every response with the Python `hl7` package, checking what a
client would read: MSA-1/MSA-2, MSH-21, QAK-2, the segments that carry the history, and the
Z42's evaluation and forecast rows.

Usage:
  hl7_check.py --wsdl-url URL --username U --password P --facility F
"""

import argparse
import sys

import hl7
import zeep


def vxu(facility):
    return "\r".join([
        f"MSH|^~\\&|PYEHR|{facility}|IZPORT|IZPORT|20240515093012-0500||VXU^V04^VXU_V04|PY-VXU-1|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS",
        "PID|1||PY-MRN-1^^^PYEHR^MR||Python^Petra^^^^^L|Maiden^^^^^^M|20210303|F|||1 Main St^^Town^IL^62701^USA^P",
        "ORC|RE||PY-DOSE-1^PYEHR",
        "RXA|0|1|20240515||08^Hep B, adolescent or pediatric^CVX|0.5|mL^mL^UCUM||00^New immunization record^NIP001||||||LOTPY|20990101|MSD^Merck^MVX|||CP|A",
        "RXR|C28161^Intramuscular^NCIT|LA^Left arm^HL70163",
    ])


QUERY_NAMES = {"Z34": "Request Immunization History", "Z44": "Request Evaluated History and Forecast"}


def qbp(facility, control, mrn, family, given, dob, profile="Z34"):
    return "\r".join([
        f"MSH|^~\\&|PYEHR|{facility}|IZPORT|IZPORT|20240601||QBP^Q11^QBP_Q11|{control}|P|2.5.1|||ER|AL|||||{profile}^CDCPHINVS",
        f"QPD|{profile}^{QUERY_NAMES[profile]}^CDCPHINVS|TAG-{control}|{mrn}|{family}^{given}^^^^^L||{dob}|F",
        "RCP|I|10^RD&records&HL70126",
    ])


def ids(message):
    return [str(segment[0]) for segment in message]


def main():
    parser = argparse.ArgumentParser()
    for name in ("--wsdl-url", "--username", "--password", "--facility"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    client = zeep.Client(args.wsdl_url)

    def send(text):
        answer = client.service.submitSingleMessage(args.username, args.password, args.facility, text)
        return hl7.parse(answer.replace("\r\n", "\r"))

    checks = []

    def check(name, condition, detail):
        checks.append(condition)
        print(("ok   " if condition else "FAIL ") + name + ("" if condition else f": {detail}"))

    ack = send(vxu(args.facility))
    check("ACK parses; MSA-1 AA, MSA-2 echoes MSH-10",
          str(ack.segment("MSA")[1]) == "AA" and str(ack.segment("MSA")[2]) == "PY-VXU-1", str(ack))
    check("ACK profile Z23", str(ack.segment("MSH")[21]).startswith("Z23"), str(ack))

    rsp = send(qbp(args.facility, "PY-Q1", "PY-MRN-1^^^PYEHR^MR", "Python", "Petra", "20210303"))
    segments = ids(rsp)
    check("Z32 parses; profile Z32, QAK-2 OK",
          str(rsp.segment("MSH")[21]).startswith("Z32") and str(rsp.segment("QAK")[2]) == "OK", str(rsp))
    check("Z32 segment order MSH MSA QAK QPD PID … ORC RXA",
          segments[:4] == ["MSH", "MSA", "QAK", "QPD"] and "PID" in segments
          and segments.count("RXA") == 1 and segments.index("ORC") < segments.index("RXA"), segments)
    check("Z32 RXA-5 is the CVX sent", str(rsp.segment("RXA")[5]).startswith("08"), str(rsp.segment("RXA")))
    check("QAK-1 echoes the query tag", str(rsp.segment("QAK")[1]) == "TAG-PY-Q1", str(rsp.segment("QAK")))

    z42 = send(qbp(args.facility, "PY-Q3", "PY-MRN-1^^^PYEHR^MR", "Python", "Petra", "20210303", "Z44"))
    check("Z42 parses; profile Z42, QAK-2 OK, no ERR",
          str(z42.segment("MSH")[21]).startswith("Z42") and str(z42.segment("QAK")[2]) == "OK"
          and "ERR" not in ids(z42), str(z42))
    rxa = [str(s[5]).split("^")[0] for s in z42.segments("RXA")]
    check("Z42 history dose first, then forecast RXAs (998)",
          rxa[:1] == ["08"] and len(rxa) > 1 and all(c == "998" for c in rxa[1:]), rxa)
    obx = [(str(s[3]).split("^")[0], str(s[5])) for s in z42.segments("OBX")]
    codes = [code for code, _ in obx]
    check("Z42 evaluation of the HepB dose: vaccine type 45, schedule, validity Y",
          [code for code, _ in obx[:3]] == ["30956-7", "59779-9", "59781-5"]
          and obx[0][1].split("^")[0] == "45" and obx[1][1] == "VXC16^ACIP^CDCPHINVS"
          and obx[2][1] == "Y", obx[:3])
    forecast_groups = [value.split("^")[0] for code, value in obx if code == "30979-9"]
    check("Z42 forecast: one 30979-9 group per forecast RXA, HepB (45) among them",
          len(forecast_groups) == len(rxa) - 1 and "45" in forecast_groups, forecast_groups)
    dates = [value for code, value in obx if code in ("30981-5", "30980-7", "59778-1", "59777-3")]
    check("Z42 forecast dates are YYYYMMDD", dates and all(len(d) == 8 and d.isdigit() for d in dates), dates)
    check("Z42 series status rows (59783-1)", "59783-1" in codes, codes)

    nf = send(qbp(args.facility, "PY-Q2", "", "Nobody", "Known", "19990101"))
    check("Z33 NF parses", str(nf.segment("MSH")[21]).startswith("Z33") and str(nf.segment("QAK")[2]) == "NF",
          str(nf))

    failed = checks.count(False)
    print(f"hl7: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
