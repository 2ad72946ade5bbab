//! An RSP as the query tests compare it with the corpus's expected ones, read with
//! [`crate::text`]: the profile, QAK-2, and per patient returned the legal name, birth date,
//! sex, MR identifiers, and the vaccine codes of the history. A Z42's forecast (its ORDER with
//! RXA-5 998 and RXA-20 NA) is not history and is left out; evaluation OBX rows are not read.

use crate::text::{Hl7, Segment};

/// The segments of `text` as lines (CR, LF or CRLF ends).
pub fn segment_lines(text: &str) -> Vec<&str> {
    text.trim_start_matches('\u{feff}')
        .split(['\r', '\n'])
        .filter(|l| !l.trim().is_empty())
        .collect()
}

pub fn is_forecast(rxa: &Segment<'_>) -> bool {
    rxa.component(5, 1) == "998" && rxa.component(20, 1) == "NA"
}

/// A query's answer as compared: profile, QAK-2, and per patient the legal name, birth date,
/// sex, MR identifiers, and the vaccine codes of the history (forecast rows left out).
#[derive(Debug, PartialEq, Eq)]
pub struct Answered {
    pub profile: String,
    pub status: String,
    pub patients: Vec<Returned>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Returned {
    pub name: String,
    pub birth_date: String,
    pub sex: String,
    pub mr: Vec<String>,
    pub vaccines: Vec<String>,
}

pub fn answered(rsp: &str) -> Answered {
    let lines = segment_lines(rsp);
    let mut patients: Vec<Returned> = Vec::new();
    for line in &lines {
        let seg = Hl7::read(line);
        if let Some(pid) = seg.first("PID") {
            let mr = pid
                .field(3)
                .split('~')
                .filter(|id| id.split('^').nth(4).map(str::trim) == Some("MR"))
                .map(|id| id.split('^').next().unwrap_or("").trim().to_string())
                .collect();
            patients.push(Returned {
                name: format!("{}^{}", pid.component(5, 1), pid.component(5, 2)),
                birth_date: pid.component(7, 1).chars().take(8).collect(),
                sex: pid.component(8, 1),
                mr,
                vaccines: Vec::new(),
            });
        } else if let Some(rxa) = seg.first("RXA") {
            if let (false, Some(p)) = (is_forecast(&rxa), patients.last_mut()) {
                p.vaccines.push(rxa.component(5, 1));
            }
        }
    }
    for p in &mut patients {
        p.vaccines.sort();
    }
    let m = Hl7::read(rsp);
    Answered {
        profile: m.component("MSH", 21, 1),
        status: m.component("QAK", 2, 1),
        patients,
    }
}

/// The items in which two answers differ: `profile`, `QAK-2`, `patients` (how many), and per
/// patient `PID-5`, `PID-7`, `PID-8`, `PID-3 MR`, `RXA count`, `vaccine codes`.
pub fn compare(expected: &Answered, ours: &Answered) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut item = |what: &str, theirs: String, mine: String| {
        if theirs != mine {
            out.push((
                what.to_string(),
                format!("expected {theirs}, izport {mine}"),
            ));
        }
    };
    item("profile", expected.profile.clone(), ours.profile.clone());
    item("QAK-2", expected.status.clone(), ours.status.clone());
    item(
        "patients",
        expected.patients.len().to_string(),
        ours.patients.len().to_string(),
    );
    for (theirs, mine) in expected.patients.iter().zip(&ours.patients) {
        item("PID-5", theirs.name.clone(), mine.name.clone());
        item("PID-7", theirs.birth_date.clone(), mine.birth_date.clone());
        item("PID-8", theirs.sex.clone(), mine.sex.clone());
        // The expected RSP's MR identifiers must be among ours (ours come first with the
        // registry's own SR id, then every identifier the patient was reported with).
        if theirs.mr.iter().any(|m| !mine.mr.contains(m)) {
            item(
                "PID-3 MR",
                format!("{:?}", theirs.mr),
                format!("{:?}", mine.mr),
            );
        }
        item(
            "RXA count",
            theirs.vaccines.len().to_string(),
            mine.vaccines.len().to_string(),
        );
        item(
            "vaccine codes",
            theirs.vaccines.join(","),
            mine.vaccines.join(","),
        );
    }
    out
}
