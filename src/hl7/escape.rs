//! HL7 escape sequences.
//!
//! Decoding ([`unescape`]): `\F\` field separator, `\S\` component, `\T\` subcomponent,
//! `\R\` repetition, `\E\` escape, `\Xhh..\` hex bytes (UTF-8 when valid, else one
//! Latin-1 character per byte), `\.br\` a line break (`"\n"`); `\H\` and `\N\` (highlight
//! on/off) are dropped. Any other sequence, and an escape character without a closing
//! one, is kept literally.
//!
//! Encoding ([`escape`]): the five delimiters become `\F\ \S\ \T\ \R\ \E\`, and CR/LF
//! become `\X0D\`/`\X0A\`, so `unescape(&escape(s, d), d) == s` for every string.

use std::borrow::Cow;

use super::parse::Delimiters;

/// Decodes the escape sequences in `raw`. Borrows when `raw` has no escape character.
pub fn unescape<'a>(raw: &'a str, d: &Delimiters) -> Cow<'a, str> {
    let esc = d.escape;
    let Some(first) = raw.find(esc) else {
        return Cow::Borrowed(raw);
    };
    let el = esc.len_utf8();
    let mut out = String::with_capacity(raw.len());
    out.push_str(&raw[..first]);
    // Invariant: `raw[i..]` starts with an escape character.
    let mut i = first;
    loop {
        let body_start = i + el;
        let Some(rel) = raw[body_start..].find(esc) else {
            out.push_str(&raw[i..]);
            break;
        };
        let body_end = body_start + rel;
        let next = body_end + el;
        if !decode_sequence(&raw[body_start..body_end], d, &mut out) {
            out.push_str(&raw[i..next]);
        }
        match raw[next..].find(esc) {
            Some(r) => {
                out.push_str(&raw[next..next + r]);
                i = next + r;
            }
            None => {
                out.push_str(&raw[next..]);
                break;
            }
        }
    }
    Cow::Owned(out)
}

/// Appends the meaning of one escape sequence body; false when it is not a known one.
fn decode_sequence(body: &str, d: &Delimiters, out: &mut String) -> bool {
    match body {
        "F" => out.push(d.field),
        "S" => out.push(d.component),
        "T" => out.push(d.subcomponent),
        "R" => out.push(d.repetition),
        "E" => out.push(d.escape),
        "H" | "N" => {}
        ".br" => out.push('\n'),
        _ => {
            return match body.strip_prefix('X') {
                Some(hex) => decode_hex(hex, out),
                None => false,
            }
        }
    }
    true
}

/// Appends the text of `\Xhh..\`: UTF-8 when the bytes are valid UTF-8, else each byte
/// as a Latin-1 character. False (nothing appended) for an empty or malformed hex string.
fn decode_hex(hex: &str, out: &mut String) -> bool {
    let h = hex.as_bytes();
    if h.is_empty() || h.len() % 2 != 0 || !h.iter().all(u8::is_ascii_hexdigit) {
        return false;
    }
    fn nibble(b: u8) -> u8 {
        match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => 0,
        }
    }
    let bytes: Vec<u8> = h
        .chunks_exact(2)
        .map(|p| (nibble(p[0]) << 4) | nibble(p[1]))
        .collect();
    match std::str::from_utf8(&bytes) {
        Ok(s) => out.push_str(s),
        Err(_) => out.extend(bytes.iter().map(|&b| char::from(b))),
    }
    true
}

/// The escape sequence body standing for `c`, if `c` must be escaped.
fn code_for(c: char, d: &Delimiters) -> Option<&'static str> {
    if c == d.field {
        Some("F")
    } else if c == d.component {
        Some("S")
    } else if c == d.subcomponent {
        Some("T")
    } else if c == d.repetition {
        Some("R")
    } else if c == d.escape {
        Some("E")
    } else if c == '\r' {
        Some("X0D")
    } else if c == '\n' {
        Some("X0A")
    } else {
        None
    }
}

/// Byte offset of the first character of `value` that must be escaped.
fn find_special(value: &str, d: &Delimiters) -> Option<usize> {
    let ds = [d.field, d.component, d.repetition, d.escape, d.subcomponent];
    if ds.iter().all(char::is_ascii) {
        // Every character to escape is ASCII, so a byte scan finds it; letters, digits and
        // the bytes of multi-byte characters are skipped with one test.
        let ds = ds.map(|c| c as u8);
        value.bytes().position(|b| {
            !(b.is_ascii_alphanumeric() || b >= 0x80)
                && (b == b'\r' || b == b'\n' || ds.contains(&b))
        })
    } else {
        value
            .char_indices()
            .find(|&(_, c)| code_for(c, d).is_some())
            .map(|(i, _)| i)
    }
}

/// Escapes the delimiters and CR/LF in `value`. Borrows when nothing needs escaping.
pub fn escape<'a>(value: &'a str, d: &Delimiters) -> Cow<'a, str> {
    if find_special(value, d).is_none() {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    escape_into(value, d, &mut out);
    Cow::Owned(out)
}

/// Appends `value` escaped to `out`.
pub(crate) fn escape_into(value: &str, d: &Delimiters, out: &mut String) {
    let mut rest = value;
    while let Some(i) = find_special(rest, d) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(c) = tail.chars().next() else {
            break;
        };
        match code_for(c, d) {
            Some(code) => {
                out.push(d.escape);
                out.push_str(code);
                out.push(d.escape);
            }
            None => out.push(c),
        }
        rest = &tail[c.len_utf8()..];
    }
    out.push_str(rest);
}

/// Moves encoded HL7 text (a field, or several) from delimiters `from` to delimiters
/// `to`: separators are translated, escape sequences are decoded with `from` and the
/// resulting text escaped with `to`, and characters that are delimiters only in `to`
/// are escaped. Borrows when both sets are equal.
pub fn reencode<'a>(raw: &'a str, from: &Delimiters, to: &Delimiters) -> Cow<'a, str> {
    if from == to {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len() + 8);
    let mut i = 0;
    while let Some(c) = raw[i..].chars().next() {
        let cl = c.len_utf8();
        if c == from.escape {
            // A sequence never spans a separator: the parser splits before decoding.
            let stop = raw[i + cl..]
                .find(|x: char| {
                    x == from.escape
                        || x == from.field
                        || x == from.component
                        || x == from.repetition
                        || x == from.subcomponent
                })
                .map(|rel| i + cl + rel);
            match stop {
                Some(s) if raw[s..].starts_with(from.escape) => {
                    let end = s + cl;
                    match &raw[i + cl..s] {
                        // Highlighting on and off decode to nothing: kept as sequences, so a
                        // value that is only `\N\` stays a present (empty) value.
                        body @ ("H" | "N") => {
                            out.push(to.escape);
                            out.push_str(body);
                            out.push(to.escape);
                        }
                        _ => escape_into(&unescape(&raw[i..end], from), to, &mut out),
                    }
                    i = end;
                }
                _ => {
                    // Unterminated: the escape character is literal text.
                    escape_into(&raw[i..i + cl], to, &mut out);
                    i += cl;
                }
            }
            continue;
        }
        if c == from.field {
            out.push(to.field);
        } else if c == from.component {
            out.push(to.component);
        } else if c == from.repetition {
            out.push(to.repetition);
        } else if c == from.subcomponent {
            out.push(to.subcomponent);
        } else if let Some(code) = code_for(c, to) {
            out.push(to.escape);
            out.push_str(code);
            out.push(to.escape);
        } else {
            out.push(c);
        }
        i += cl;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::parse::Field;
    use proptest::prelude::*;

    const D: Delimiters = Delimiters::DEFAULT;
    const ALT: Delimiters = Delimiters {
        field: '#',
        component: '*',
        repetition: '@',
        escape: '!',
        subcomponent: '$',
    };

    #[test]
    fn unescape_known_sequences() {
        assert_eq!(unescape("\\F\\", &D), "|");
        assert_eq!(unescape("\\S\\", &D), "^");
        assert_eq!(unescape("\\T\\", &D), "&");
        assert_eq!(unescape("\\R\\", &D), "~");
        assert_eq!(unescape("\\E\\", &D), "\\");
        assert_eq!(unescape("a\\.br\\b", &D), "a\nb");
        assert_eq!(unescape("\\H\\bold\\N\\ plain", &D), "bold plain");
        assert_eq!(unescape("\\X0D\\\\X0A\\", &D), "\r\n");
        assert_eq!(unescape("\\X48656c6C6f\\", &D), "Hello");
        assert_eq!(unescape("\\XC3A9\\", &D), "é");
        assert_eq!(unescape("\\XE9\\", &D), "é");
        assert_eq!(unescape("\\XFF41\\", &D), "ÿA");
        assert_eq!(unescape("x\\E\\\\E\\y", &D), "x\\\\y");
        assert_eq!(unescape("Smith \\T\\ Sons", &D), "Smith & Sons");
    }

    #[test]
    fn unescape_keeps_unknown_and_unterminated() {
        for raw in [
            "\\Z12\\",
            "\\X\\",
            "\\X1\\",
            "\\XG0\\",
            "\\x41\\",
            "\\.sp\\",
            "\\\\",
            "a\\",
            "\\F",
            "C:\\path",
            "\\Cxxyy\\",
            "\\",
            "\\BR\\",
        ] {
            assert_eq!(unescape(raw, &D), raw, "{raw}");
        }
        assert_eq!(unescape("\\Z\\\\F\\", &D), "\\Z\\|");
        assert_eq!(unescape("a\\F\\b\\", &D), "a|b\\");
        assert_eq!(unescape("\\\\F\\", &D), "\\\\F\\");
    }

    #[test]
    fn borrowing() {
        assert!(matches!(unescape("plain text", &D), Cow::Borrowed(_)));
        assert!(matches!(unescape("", &D), Cow::Borrowed("")));
        assert!(matches!(escape("plain text é", &D), Cow::Borrowed(_)));
        assert!(matches!(escape("a|b", &D), Cow::Owned(_)));
        assert!(matches!(reencode("a^b", &D, &D), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_all_specials() {
        assert_eq!(
            escape("a|b^c&d~e\\f", &D),
            "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"
        );
        assert_eq!(
            escape("line1\r\nline2\n", &D),
            "line1\\X0D\\\\X0A\\line2\\X0A\\"
        );
        assert_eq!(escape("a#b*c$d@e!f|^", &ALT), "a!F!b!S!c!T!d!R!e!E!f|^");
        assert_eq!(unescape("a!F!b!S!c!T!d!R!e!E!f|^", &ALT), "a#b*c$d@e!f|^");
        assert_eq!(unescape("!X41!!.br!", &ALT), "A\n");
    }

    #[test]
    fn reencode_between_delimiter_sets() {
        assert_eq!(
            reencode("a*b$c@d!S!e!F!|^", &ALT, &D),
            "a^b&c~d*e#\\F\\\\S\\"
        );
        assert_eq!(reencode("a^b\\S\\c\\E\\", &D, &ALT), "a*b^c\\");
        assert_eq!(reencode("x!Zq!y!", &ALT, &D), "x!Zq!y!");
        // Highlighting is kept (it decodes to nothing; dropping it would empty a field).
        assert_eq!(reencode("!H!b!N!", &ALT, &D), "\\H\\b\\N\\");
        assert_eq!(reencode("\\N\\", &D, &ALT), "!N!");
        assert_eq!(reencode("x\\Zq\\y", &D, &ALT), "x\\Zq\\y");
        assert_eq!(reencode("x\\Zq\\y\\", &D, &ALT), "x\\Zq\\y\\");
        assert_eq!(reencode("a!b*c", &D, &ALT), "a!E!b!S!c");
        assert_eq!(reencode("é\r", &ALT, &D), "é\\X0D\\");
        // Decoded values are unchanged by re-encoding.
        let raw = "1!S!2*3$4!T!@x!H!y!N!";
        let out = reencode(raw, &ALT, &D);
        let a = Field::new(raw, ALT);
        let b = Field::new(&out, D);
        assert_eq!(a.repetition_count(), b.repetition_count());
        assert_eq!(a.component(1).value(), b.component(1).value());
        assert_eq!(a.component(2).subcomponent_value(2), "4$");
        assert_eq!(b.component(2).subcomponent_value(2), "4$");
        assert_eq!(a.repetition(2).value(), b.repetition(2).value());
    }

    fn delimiters() -> impl Strategy<Value = Delimiters> {
        let punct: Vec<char> = (0x21u8..0x7f)
            .map(char::from)
            .filter(char::is_ascii_punctuation)
            .collect();
        prop::sample::subsequence(punct, 5)
            .prop_shuffle()
            .prop_map(|v| Delimiters {
                field: v[0],
                component: v[1],
                repetition: v[2],
                escape: v[3],
                subcomponent: v[4],
            })
    }

    fn tricky_text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                '|', '^', '~', '\\', '&', '#', '*', '!', '$', '@', 'X', 'F', 'S', '0', 'D', 'A',
                '.', 'b', 'r', '\r', '\n', 'é', ' ', '\u{feff}',
            ]),
            0..64,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            // No regression files: this module must not write outside src/hl7.
            failure_persistence: None,
            ..ProptestConfig::with_cases(512)
        })]

        #[test]
        fn escape_round_trip(s in any::<String>(), t in tricky_text(), d in delimiters()) {
            prop_assert_eq!(unescape(&escape(&s, &D), &D).into_owned(), s.clone());
            prop_assert_eq!(unescape(&escape(&t, &D), &D).into_owned(), t.clone());
            prop_assert_eq!(unescape(&escape(&s, &d), &d).into_owned(), s.clone());
            prop_assert_eq!(unescape(&escape(&t, &d), &d).into_owned(), t.clone());
            let e = escape(&t, &d);
            prop_assert!(!e.contains(['\r', '\n', d.field, d.component, d.repetition, d.subcomponent]));
        }

        #[test]
        fn unescape_and_reencode_never_panic(
            s in any::<String>(), t in tricky_text(), d in delimiters()
        ) {
            let _ = unescape(&s, &d);
            let _ = unescape(&t, &D);
            let r = reencode(&t, &D, &d);
            // Re-encoded text has the same structure and decoded values.
            let a = Field::new(&t, D);
            let b = Field::new(&r, d);
            if !t.contains(['|', '\r', '\n']) {
                prop_assert_eq!(a.repetition_count(), b.repetition_count());
                for (ra, rb) in a.repetitions().zip(b.repetitions()) {
                    prop_assert_eq!(ra.component_count(), rb.component_count());
                    for (ca, cb) in ra.components().zip(rb.components()) {
                        prop_assert_eq!(ca.subcomponents().count(), cb.subcomponents().count());
                        for n in 1..=ca.subcomponents().count() {
                            prop_assert_eq!(ca.subcomponent_value(n), cb.subcomponent_value(n));
                        }
                    }
                }
            }
        }
    }
}
