//! Names in the file door: the four folders, paths as clients send them, and the
//! `ImportCodeYYDDD.hl7` file-name policy. Pure: nothing here touches storage.
//!
//! Paths are resolved lexically against a virtual tree whose root holds exactly the four
//! folders; client strings are never joined onto an operating-system path, so `..`, absolute
//! paths and symlinks cannot lead anywhere else.

use jiff::civil::Date;

/// The four folders every data exchange account sees at its root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Folder {
    /// Where the organization delivers files (the only folder it may write to).
    Dropoff,
    /// Copies of the uploaded files, moved here by the registry when it picks them up.
    Accepted,
    /// Acknowledgement files, data quality reports and error reports.
    Reports,
    /// Consent notification files.
    Receive,
}

impl Folder {
    pub const ALL: [Folder; 4] = [
        Folder::Dropoff,
        Folder::Accepted,
        Folder::Reports,
        Folder::Receive,
    ];

    /// The name clients see.
    pub fn display_name(self) -> &'static str {
        match self {
            Folder::Dropoff => "HL7-Dropoff",
            Folder::Accepted => "Accepted",
            Folder::Reports => "DQA-Reports",
            Folder::Receive => "Receive",
        }
    }

    /// The key stored in the database.
    pub fn key(self) -> &'static str {
        match self {
            Folder::Dropoff => "dropoff",
            Folder::Accepted => "accepted",
            Folder::Reports => "reports",
            Folder::Receive => "receive",
        }
    }

    pub fn from_key(key: &str) -> Option<Folder> {
        Folder::ALL.into_iter().find(|f| f.key() == key)
    }

    /// Folder names are matched without regard to case (`hl7-dropoff` is `HL7-Dropoff`).
    pub fn from_display(name: &str) -> Option<Folder> {
        Folder::ALL
            .into_iter()
            .find(|f| f.display_name().eq_ignore_ascii_case(name))
    }

    /// Only the drop-off folder takes uploads, renames and removals.
    pub fn writable(self) -> bool {
        self == Folder::Dropoff
    }
}

/// A place in an account's tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VPath {
    Root,
    Folder(Folder),
    File(Folder, String),
}

impl VPath {
    /// The absolute name a client is shown.
    pub fn display(&self) -> String {
        match self {
            VPath::Root => "/".to_string(),
            VPath::Folder(f) => format!("/{}", f.display_name()),
            VPath::File(f, name) => format!("/{}/{}", f.display_name(), name),
        }
    }
}

/// Why a path was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathError {
    /// Outside the tree, or another organization's path: reported as "no such file" so that
    /// nothing about what exists elsewhere is revealed.
    NotFound,
    /// A name the registry does not accept (the text says why).
    BadName(String),
}

/// The longest file name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// Checks one path component (a file name).
pub fn check_component(name: &str) -> Result<(), PathError> {
    if name.is_empty() {
        return Err(PathError::BadName("an empty file name".into()));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(PathError::BadName(format!(
            "a file name longer than {MAX_NAME_BYTES} bytes"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '\\' | ':' | '\u{FFFD}') || c.is_control())
    {
        let what = match c {
            '\\' => "a backslash".to_string(),
            ':' => "a colon".to_string(),
            '\u{FFFD}' => "bytes that are not UTF-8".to_string(),
            _ => format!("the control character U+{:04X}", u32::from(c)),
        };
        return Err(PathError::BadName(format!(
            "file names may not contain {what}"
        )));
    }
    Ok(())
}

/// Resolves a client path (absolute, or relative to the root, which is every session's working
/// directory) to a place in the account's tree. `own_code` is the account's import code:
/// `/users/<own code>/…` is accepted as another spelling of `/…`, as some registries' clients
/// expect; any other `/users/…` is not found.
pub fn resolve(path: &str, own_code: &str) -> Result<VPath, PathError> {
    if path.contains('\\') {
        return Err(PathError::BadName(
            "paths use '/', not a backslash".to_string(),
        ));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.len() >= 2
        && parts[0].eq_ignore_ascii_case("users")
        && parts[1].eq_ignore_ascii_case(own_code)
    {
        parts.drain(..2);
    } else if parts
        .first()
        .is_some_and(|p| p.eq_ignore_ascii_case("users"))
    {
        return Err(PathError::NotFound);
    }
    match parts.as_slice() {
        [] => Ok(VPath::Root),
        [folder] => Folder::from_display(folder)
            .map(VPath::Folder)
            .ok_or(PathError::NotFound),
        [folder, name] => {
            let folder = Folder::from_display(folder).ok_or(PathError::NotFound)?;
            check_component(name)?;
            Ok(VPath::File(folder, (*name).to_string()))
        }
        _ => Err(PathError::NotFound),
    }
}

/// Names clients use while a transfer is in progress: never picked up for processing.
pub fn is_temporary(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || name.starts_with('~')
        || [".filepart", ".part", ".tmp", ".partial"]
            .iter()
            .any(|suffix| lower.ends_with(suffix))
}

/// A file name that follows the `ImportCodeYYDDD.hl7` convention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileName {
    /// The day the name carries (two-digit year read as 20YY, day of the year).
    pub date: Date,
    /// The sequence number after `.`, `_` or `-` for several files on one day.
    pub sequence: Option<u32>,
}

/// Checks a drop-off file name against the account's import code: the code (any case), a
/// two-digit year, a three-digit day of that year (001–365, or 366 in a leap year), optionally
/// `.n`, `_n` or `-n` for the n-th file of the day, and `.hl7` (any case). The text of an error
/// says what was expected.
pub fn parse_file_name(name: &str, import_code: &str) -> Result<FileName, String> {
    let expected = || {
        format!(
            "expected {import_code}YYDDD.hl7 (import code, two-digit year, three-digit day of the \
             year, e.g. {import_code}{}.hl7; several files a day: {import_code}24153.2.hl7)",
            "24153"
        )
    };
    let lower = name.to_ascii_lowercase();
    let Some(stem) = lower.strip_suffix(".hl7") else {
        return Err(format!(
            "'{}' does not end in .hl7: {}",
            shown(name),
            expected()
        ));
    };
    let code = import_code.to_ascii_lowercase();
    let Some(rest) = stem.strip_prefix(&code) else {
        return Err(format!(
            "'{}' does not start with this account's import code: {}",
            shown(name),
            expected()
        ));
    };
    let digits: &str = rest.get(..5).unwrap_or("");
    if digits.len() != 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{}' has no five-digit YYDDD date after the import code: {}",
            shown(name),
            expected()
        ));
    }
    let sequence = match &rest[5..] {
        "" => None,
        tail => {
            let number = tail
                .strip_prefix(['.', '_', '-'])
                .filter(|n| !n.is_empty() && n.len() <= 6 && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u32>().ok());
            match number {
                Some(n) => Some(n),
                None => {
                    return Err(format!(
                        "'{}' has something other than a sequence number (.n, _n or -n) after \
                         the date: {}",
                        shown(name),
                        expected()
                    ))
                }
            }
        }
    };
    let year =
        2000 + i16::from(digits.as_bytes()[0] - b'0') * 10 + i16::from(digits.as_bytes()[1] - b'0');
    let day: i16 = digits[2..].parse().map_err(|_| expected())?;
    let date = Date::new(year, 1, 1)
        .ok()
        .and_then(|jan1| {
            (1..=jan1.days_in_year())
                .contains(&day)
                .then(|| {
                    jan1.checked_add(jiff::Span::new().days(i64::from(day - 1)))
                        .ok()
                })
                .flatten()
        })
        .ok_or_else(|| {
            format!(
                "'{}' names day {day:03} of 20{}, which does not exist: {}",
                shown(name),
                &digits[..2],
                expected()
            )
        })?;
    Ok(FileName { date, sequence })
}

/// A name as quoted in a message: at most 80 characters, control characters replaced.
fn shown(name: &str) -> String {
    name.chars()
        .take(80)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_tree() {
        let r = |p: &str| resolve(p, "CLINIC1");
        assert_eq!(r(""), Ok(VPath::Root));
        assert_eq!(r("."), Ok(VPath::Root));
        assert_eq!(r("/"), Ok(VPath::Root));
        assert_eq!(
            r(".."),
            Ok(VPath::Root),
            "'..' at the root stays at the root"
        );
        assert_eq!(r("/../../etc/passwd"), Err(PathError::NotFound));
        assert_eq!(
            r("/HL7-Dropoff/../Accepted"),
            Ok(VPath::Folder(Folder::Accepted))
        );
        assert_eq!(r("hl7-dropoff"), Ok(VPath::Folder(Folder::Dropoff)));
        assert_eq!(
            r("/HL7-Dropoff/A24153.hl7"),
            Ok(VPath::File(Folder::Dropoff, "A24153.hl7".into()))
        );
        assert_eq!(r("/Elsewhere"), Err(PathError::NotFound));
        assert_eq!(r("/HL7-Dropoff/sub/x.hl7"), Err(PathError::NotFound));
        assert!(matches!(r("..\\..\\x"), Err(PathError::BadName(_))));
        assert!(matches!(r("/HL7-Dropoff/a\0b"), Err(PathError::BadName(_))));
        assert!(matches!(
            r("/HL7-Dropoff/a\u{FFFD}b"),
            Err(PathError::BadName(_))
        ));
        assert!(matches!(
            r(&format!("/HL7-Dropoff/{}", "x".repeat(256))),
            Err(PathError::BadName(_))
        ));
        assert_eq!(
            r("/users/clinic1/hl7-dropoff/x.hl7"),
            Ok(VPath::File(Folder::Dropoff, "x.hl7".into()))
        );
        assert_eq!(r("/users/OTHER/HL7-Dropoff"), Err(PathError::NotFound));
        assert_eq!(r("/users"), Err(PathError::NotFound));
    }

    #[test]
    fn temporary_names() {
        for name in ["A24153.hl7.filepart", "x.part", "x.TMP", ".hidden", "~lock"] {
            assert!(is_temporary(name), "{name}");
        }
        assert!(!is_temporary("A24153.hl7"));
    }

    fn date(y: i16, m: i8, d: i8) -> Date {
        Date::new(y, m, d).expect("date")
    }

    #[test]
    fn the_naming_convention() {
        let ok = |n| parse_file_name(n, "CLINIC1");
        assert_eq!(
            ok("CLINIC124153.hl7"),
            Ok(FileName {
                date: date(2024, 6, 1),
                sequence: None
            })
        );
        assert_eq!(
            ok("clinic124366.HL7"),
            Ok(FileName {
                date: date(2024, 12, 31),
                sequence: None
            }),
            "2024 is a leap year"
        );
        assert_eq!(
            ok("CLINIC125001.2.hl7"),
            Ok(FileName {
                date: date(2025, 1, 1),
                sequence: Some(2)
            })
        );
        assert_eq!(ok("CLINIC125001_10.hl7").map(|n| n.sequence), Ok(Some(10)));
        for bad in [
            "CLINIC125366.hl7",
            "CLINIC125000.hl7",
            "CLINIC12515.hl7",
            "OTHER25015.hl7",
            "CLINIC125015.txt",
            "CLINIC125015x.hl7",
            "CLINIC125015..hl7",
        ] {
            let err = ok(bad).expect_err(bad);
            assert!(err.contains("CLINIC1YYDDD.hl7"), "{bad}: {err}");
        }
    }
}
