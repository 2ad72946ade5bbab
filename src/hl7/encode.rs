//! Builders for outbound HL7 v2 messages.
//!
//! A [`SegmentBuilder`] holds a small sorted list of `(field, repetition, component,
//! subcomponent) → value` entries and renders them in one pass, escaping every value and
//! leaving out trailing empty fields, repetitions, components and subcomponents. A
//! [`MessageBuilder`] renders each segment straight into one `String` as soon as it is
//! described and reuses one entry list for all segments.
//!
//! ```text
//! let mut m = MessageBuilder::new(Delimiters::default());
//! m.msh(|s| {
//!     s.set(3, "IZPORT");
//!     s.set_comp(9, 1, "ACK").set_comp(9, 2, "V04");
//! });
//! m.segment("MSA", |s| {
//!     s.set(1, "AA").set(2, ctrl);
//! });
//! let text: String = m.finish(); // "MSH|^~\\&|IZPORT||||||ACK^V04\rMSA|AA|...\r"
//! ```
//!
//! Numbering is as in parsing: in `MSH` (and `FHS`/`BHS`) fields 1 and 2 are the
//! delimiters, written by the builder itself (setting them is ignored), and the first
//! settable field is 3. Field 0 is ignored everywhere; repetition, component and
//! subcomponent 0 are taken as 1.

use std::borrow::Cow;

use super::escape::escape_into;
use super::parse::Delimiters;

/// One value of a segment. `rep == 0` marks a raw (already encoded) whole field.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Item<'v> {
    field: u32,
    rep: u32,
    comp: u32,
    sub: u32,
    value: Cow<'v, str>,
}

impl Item<'_> {
    fn into_owned(self) -> Item<'static> {
        Item {
            value: Cow::Owned(self.value.into_owned()),
            ..self
        }
    }

    fn key(&self) -> (u32, u32, u32, u32) {
        (self.field, self.rep, self.comp, self.sub)
    }
}

fn is_header_id(id: &str) -> bool {
    matches!(id, "MSH" | "FHS" | "BHS")
}

/// Appends `text`, escaping only what would break the segment: the field separator and
/// CR/LF.
fn push_sanitized(text: &str, d: &Delimiters, out: &mut String) {
    if !text.contains([d.field, '\r', '\n']) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '\r' => push_seq(out, d, "X0D"),
            '\n' => push_seq(out, d, "X0A"),
            c if c == d.field => push_seq(out, d, "F"),
            c => out.push(c),
        }
    }
}

fn push_seq(out: &mut String, d: &Delimiters, code: &str) {
    out.push(d.escape);
    out.push_str(code);
    out.push(d.escape);
}

fn push_n(out: &mut String, c: char, n: u32) {
    for _ in 0..n {
        out.push(c);
    }
}

/// Renders one segment (without terminator).
fn render_segment(id: &str, items: &[Item<'_>], d: &Delimiters, out: &mut String) {
    push_sanitized(id, d, out);
    let header = is_header_id(id);
    let mut cur_field = 0u32;
    if header {
        out.push(d.field);
        out.extend(d.encoding_characters());
        cur_field = 2;
    }
    let (mut cur_rep, mut cur_comp, mut cur_sub) = (1u32, 1u32, 1u32);
    let mut raw_field = 0u32;
    for it in items {
        if it.value.is_empty() || (header && it.field <= 2) || it.field == raw_field {
            continue;
        }
        if it.field != cur_field {
            push_n(out, d.field, it.field - cur_field);
            cur_field = it.field;
            (cur_rep, cur_comp, cur_sub) = (1, 1, 1);
        }
        if it.rep == 0 {
            push_sanitized(&it.value, d, out);
            raw_field = it.field;
            continue;
        }
        if it.rep > cur_rep {
            push_n(out, d.repetition, it.rep - cur_rep);
            (cur_rep, cur_comp, cur_sub) = (it.rep, 1, 1);
        }
        if it.comp > cur_comp {
            push_n(out, d.component, it.comp - cur_comp);
            (cur_comp, cur_sub) = (it.comp, 1);
        }
        if it.sub > cur_sub {
            push_n(out, d.subcomponent, it.sub - cur_sub);
            cur_sub = it.sub;
        }
        escape_into(&it.value, d, out);
    }
}

/// Inserts or replaces the value at `key`, keeping `items` sorted by key.
fn put<'v>(items: &mut Vec<Item<'v>>, coords: [usize; 4], raw: bool, value: Cow<'v, str>) {
    let [field, rep, comp, sub] = coords;
    let conv = |n: usize| u32::try_from(n.max(1)).ok();
    let (Ok(field), Some(rep), Some(comp), Some(sub)) =
        (u32::try_from(field), conv(rep), conv(comp), conv(sub))
    else {
        return;
    };
    if field == 0 {
        return;
    }
    let item = if raw {
        Item {
            field,
            rep: 0,
            comp: 0,
            sub: 0,
            value,
        }
    } else {
        Item {
            field,
            rep,
            comp,
            sub,
            value,
        }
    };
    match items.last() {
        Some(last) if last.key() >= item.key() => {
            match items.binary_search_by_key(&item.key(), Item::key) {
                Ok(i) => items[i] = item,
                Err(i) => items.insert(i, item),
            }
        }
        _ => items.push(item),
    }
}

/// Describes one segment; values are escaped when rendered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentBuilder<'v> {
    id: Cow<'v, str>,
    items: Vec<Item<'v>>,
}

impl<'v> SegmentBuilder<'v> {
    /// A segment with the given id (`"PID"`, `"MSH"`, ...).
    pub fn new(id: impl Into<Cow<'v, str>>) -> Self {
        SegmentBuilder {
            id: id.into(),
            items: Vec::new(),
        }
    }

    /// The segment id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether no value has been set.
    pub fn is_empty(&self) -> bool {
        self.items.iter().all(|i| i.value.is_empty())
    }

    /// Sets `field` (its first repetition, component and subcomponent) to `value`.
    pub fn set(&mut self, field: usize, value: impl Into<Cow<'v, str>>) -> &mut Self {
        self.set_rep_sub(field, 1, 1, 1, value)
    }

    /// Sets component `comp` of `field` (first repetition).
    pub fn set_comp(
        &mut self,
        field: usize,
        comp: usize,
        value: impl Into<Cow<'v, str>>,
    ) -> &mut Self {
        self.set_rep_sub(field, 1, comp, 1, value)
    }

    /// Sets subcomponent `sub` of component `comp` of `field` (first repetition).
    pub fn set_sub(
        &mut self,
        field: usize,
        comp: usize,
        sub: usize,
        value: impl Into<Cow<'v, str>>,
    ) -> &mut Self {
        self.set_rep_sub(field, 1, comp, sub, value)
    }

    /// Sets component 1 of repetition `rep` of `field`.
    pub fn set_rep(
        &mut self,
        field: usize,
        rep: usize,
        value: impl Into<Cow<'v, str>>,
    ) -> &mut Self {
        self.set_rep_sub(field, rep, 1, 1, value)
    }

    /// Sets component `comp` of repetition `rep` of `field`.
    pub fn set_rep_comp(
        &mut self,
        field: usize,
        rep: usize,
        comp: usize,
        value: impl Into<Cow<'v, str>>,
    ) -> &mut Self {
        self.set_rep_sub(field, rep, comp, 1, value)
    }

    /// Sets subcomponent `sub` of component `comp` of repetition `rep` of `field`.
    pub fn set_rep_sub(
        &mut self,
        field: usize,
        rep: usize,
        comp: usize,
        sub: usize,
        value: impl Into<Cow<'v, str>>,
    ) -> &mut Self {
        put(
            &mut self.items,
            [field, rep, comp, sub],
            false,
            value.into(),
        );
        self
    }

    /// Sets the whole of `field` to already-encoded text (e.g. a field copied from an
    /// inbound message with the same delimiters), written as is except that a field
    /// separator, CR or LF in it is escaped. A raw field takes precedence over any other
    /// value set in the same field.
    pub fn set_raw(&mut self, field: usize, raw: impl Into<Cow<'v, str>>) -> &mut Self {
        put(&mut self.items, [field, 0, 0, 0], true, raw.into());
        self
    }

    /// Renders the segment (without terminator) onto `out`.
    pub fn render_into(&self, d: &Delimiters, out: &mut String) {
        render_segment(&self.id, &self.items, d, out);
    }

    /// Renders the segment (without terminator).
    pub fn render(&self, d: &Delimiters) -> String {
        let mut out = String::with_capacity(64);
        self.render_into(d, &mut out);
        out
    }
}

/// Moves an empty item list to another lifetime, keeping its allocation (the standard
/// library collects a `Vec` in place when the element layout is unchanged; were it not
/// to, this would only allocate anew).
fn relife<'x, 'y>(mut items: Vec<Item<'x>>) -> Vec<Item<'y>> {
    items.clear();
    items.into_iter().map(Item::into_owned).collect()
}

/// Builds a message segment by segment into one `String`; each segment is terminated by
/// CR. The values given to one segment only need to live for that call.
#[derive(Clone, Debug)]
pub struct MessageBuilder {
    delims: Delimiters,
    out: String,
    scratch: Vec<Item<'static>>,
}

impl Default for MessageBuilder {
    fn default() -> Self {
        MessageBuilder::new(Delimiters::default())
    }
}

impl MessageBuilder {
    /// A builder using `delims` (which should pass [`Delimiters::validate`]).
    pub fn new(delims: Delimiters) -> Self {
        MessageBuilder {
            delims,
            out: String::with_capacity(512),
            scratch: Vec::with_capacity(24),
        }
    }

    /// The delimiters in use.
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    /// Adds the MSH segment (MSH-1 and MSH-2 are written from the delimiters; set fields
    /// from 3 on). Call it first.
    pub fn msh<'s, F>(&mut self, f: F) -> &mut Self
    where
        F: FnOnce(&mut SegmentBuilder<'s>),
    {
        self.segment("MSH", f)
    }

    /// Adds a segment described by `f`; it is rendered before this returns.
    pub fn segment<'s, F>(&mut self, id: &str, f: F) -> &mut Self
    where
        F: FnOnce(&mut SegmentBuilder<'s>),
    {
        let mut sb = SegmentBuilder {
            id: Cow::Borrowed(""),
            items: relife(std::mem::take(&mut self.scratch)),
        };
        f(&mut sb);
        render_segment(id, &sb.items, &self.delims, &mut self.out);
        self.out.push('\r');
        self.scratch = relife(sb.items);
        self
    }

    /// Adds a segment built separately.
    pub fn push(&mut self, segment: &SegmentBuilder<'_>) -> &mut Self {
        segment.render_into(&self.delims, &mut self.out);
        self.out.push('\r');
        self
    }

    /// Adds an already-encoded segment verbatim (e.g. one echoed from an inbound message
    /// with the same delimiters). CR and LF in it are dropped, so it stays one segment.
    pub fn push_raw(&mut self, segment: &str) -> &mut Self {
        if segment.contains(['\r', '\n']) {
            self.out
                .extend(segment.chars().filter(|&c| c != '\r' && c != '\n'));
        } else {
            self.out.push_str(segment);
        }
        self.out.push('\r');
        self
    }

    /// The text built so far.
    pub fn as_str(&self) -> &str {
        &self.out
    }

    /// The finished message: every segment terminated by CR.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::parse::Message;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const D: Delimiters = Delimiters::DEFAULT;

    #[test]
    fn simple_message() {
        let ctrl = String::from("CTRL-1");
        let mut m = MessageBuilder::new(D);
        m.msh(|s| {
            s.set(3, "IZPORT");
            s.set_comp(9, 1, "ACK").set_comp(9, 2, "V04");
            s.set(12, "2.5.1");
        });
        m.segment("MSA", |s| {
            s.set(1, "AA").set(2, &ctrl);
        });
        assert!(m.as_str().ends_with("|CTRL-1\r"));
        let text = m.finish();
        assert_eq!(
            text,
            "MSH|^~\\&|IZPORT||||||ACK^V04|||2.5.1\rMSA|AA|CTRL-1\r"
        );
        let p = Message::parse(&text).expect("parses");
        assert_eq!(p.get("MSH-9-2").as_deref(), Some("V04"));
        assert_eq!(p.get("MSA-2").as_deref(), Some("CTRL-1"));
    }

    #[test]
    fn escaping_trimming_and_order() {
        let mut s = SegmentBuilder::new("NTE");
        s.set_comp(3, 4, "late");
        s.set(1, "a|b^c&d~e\\f\r\n");
        s.set_comp(3, 1, "x");
        s.set(5, "");
        s.set_sub(3, 2, 2, "s2");
        s.set_rep_comp(4, 2, 2, "r2c2");
        s.set_rep(4, 3, "r3");
        s.set_rep_sub(4, 3, 1, 3, "r3s3");
        s.set_comp(3, 4, "last-wins");
        assert_eq!(
            s.render(&D),
            "NTE|a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X0D\\\\X0A\\||x^&s2^^last-wins|~^r2c2~r3&&r3s3"
        );
        assert_eq!(s.id(), "NTE");
        assert!(!s.is_empty());
        assert!(SegmentBuilder::new("X").is_empty());
        // Only empty values: nothing after the id.
        let mut e = SegmentBuilder::new("ZZZ");
        e.set(3, "").set_comp(4, 2, "");
        assert_eq!(e.render(&D), "ZZZ");
        assert!(e.is_empty());
        // Clearing a value that was set.
        let mut c = SegmentBuilder::new("ZZZ");
        c.set(1, "a").set(2, "b").set(2, "");
        assert_eq!(c.render(&D), "ZZZ|a");
    }

    #[test]
    fn raw_fields() {
        let mut s = SegmentBuilder::new("MSH");
        s.set(1, "ignored").set(2, "ignored");
        s.set_raw(4, "RI88140101^2.16.840.1.113883^ISO");
        s.set_comp(4, 2, "hidden by raw");
        s.set_raw(5, "bad|field\rinjected");
        s.set(3, "APP");
        assert_eq!(
            s.render(&D),
            "MSH|^~\\&|APP|RI88140101^2.16.840.1.113883^ISO|bad\\F\\field\\X0D\\injected"
        );
        let mut f = SegmentBuilder::new("PID");
        f.set_raw(0, "x").set(0, "y");
        assert_eq!(f.render(&D), "PID");
    }

    #[test]
    fn other_delimiters_and_raw_segments() {
        let d = Delimiters {
            field: '#',
            component: '*',
            repetition: '@',
            escape: '!',
            subcomponent: '$',
        };
        let mut m = MessageBuilder::new(d);
        m.msh(|s| {
            s.set(3, "A#B*C").set_comp(9, 2, "V04");
        });
        m.push_raw("ZZZ#1\r\n");
        let mut seg = SegmentBuilder::new(String::from("PID"));
        seg.set_rep(3, 2, "id2");
        m.push(&seg);
        assert_eq!(m.delimiters(), d);
        let text = m.finish();
        assert_eq!(text, "MSH#*@!$#A!F!B!S!C######*V04\rZZZ#1\rPID###@id2\r");
        let p = Message::parse(&text).expect("parses");
        assert_eq!(p.get("MSH-3").as_deref(), Some("A#B*C"));
        assert_eq!(p.get("PID-3(2)").as_deref(), Some("id2"));
        assert_eq!(MessageBuilder::default().delimiters(), D);
        assert_eq!(MessageBuilder::default().finish(), "");
    }

    #[test]
    fn values_only_need_to_live_for_their_segment() {
        let mut m = MessageBuilder::new(D);
        m.msh(|s| {
            s.set(3, "A");
        });
        for i in 1..=3 {
            let value = format!("value {i}");
            m.segment("OBX", |s| {
                s.set(1, i.to_string()).set(5, &value);
            });
        }
        let cap = m.scratch.capacity();
        assert!(cap >= 24, "{cap}");
        let text = m.finish();
        assert_eq!(
            text,
            "MSH|^~\\&|A\rOBX|1||||value 1\rOBX|2||||value 2\rOBX|3||||value 3\r"
        );
    }

    type Entry = (usize, usize, usize, usize, String);

    fn entries(min_field: usize) -> impl Strategy<Value = Vec<Entry>> {
        let value = prop_oneof![
            any::<String>(),
            "[|^~\\\\&\r\n\"a-zX0-9 .]{0,12}",
            Just(String::new()),
            Just(String::from("\"\"")),
        ];
        prop::collection::vec(
            (
                min_field..min_field + 8,
                1usize..4,
                1usize..5,
                1usize..4,
                value,
            ),
            0..24,
        )
    }

    fn check_round_trip(id: &str, entries: &[Entry], use_msh: bool) -> Result<(), TestCaseError> {
        let mut expected = BTreeMap::new();
        let mut m = MessageBuilder::new(D);
        let mut fill = |s: &mut SegmentBuilder<'_>| {
            for (f, r, c, sub, v) in entries {
                s.set_rep_sub(*f, *r, *c, *sub, v.clone());
                expected.insert((*f, *r, *c, *sub), v.clone());
            }
        };
        if use_msh {
            m.msh(|s| fill(s));
        } else {
            m.msh(|s| {
                s.set(3, "APP");
            });
            m.segment(id, |s| fill(s));
        }
        let text = m.finish();
        let msg = Message::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(msg.segment_count(), if use_msh { 1 } else { 2 });
        let seg = msg
            .segment(id)
            .ok_or_else(|| TestCaseError::fail("segment missing"))?;
        for ((f, r, c, s), v) in &expected {
            let got = seg
                .field(*f)
                .repetition(*r)
                .component(*c)
                .subcomponent_value(*s);
            prop_assert_eq!(&got, v, "at {}-{}({})-{}-{} in {:?}", id, f, r, c, s, text);
        }
        // Positions never set read as empty.
        for f in 1..12 {
            for r in 1..4 {
                for c in 1..5 {
                    let set = expected.keys().any(|k| k.0 == f && k.1 == r && k.2 == c);
                    let delimiter_field = use_msh && f <= 2;
                    if !(set || delimiter_field) {
                        prop_assert_eq!(seg.field(f).repetition(r).component(c).raw(), "");
                    }
                }
            }
        }
        // Nothing trailing is rendered.
        let raw = seg.raw();
        prop_assert!(!raw.ends_with(['|', '^', '~', '&']) || raw == "MSH|^~\\&");
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            // No regression files: this module must not write outside src/hl7.
            failure_persistence: None,
            ..ProptestConfig::with_cases(384)
        })]

        #[test]
        fn built_segment_parses_back(e in entries(1)) {
            check_round_trip("ZZZ", &e, false)?;
        }

        #[test]
        fn built_msh_parses_back(e in entries(3)) {
            check_round_trip("MSH", &e, true)?;
        }
    }

    /// `cargo test --release -- --ignored --nocapture build_speed`
    #[test]
    #[ignore = "manual: speed check, run in release with --nocapture"]
    fn build_speed() {
        use std::hint::black_box;
        use std::time::Instant;
        let n = 500_000u32;
        let start = Instant::now();
        for _ in 0..n {
            let mut m = MessageBuilder::new(D);
            m.msh(|s| {
                s.set(3, black_box("IZPORT"))
                    .set(4, "RIIIS")
                    .set(5, "MYEHR2.5");
                s.set(6, "RI88140101").set(7, "20240515093012-0500");
                s.set_comp(9, 1, "ACK")
                    .set_comp(9, 2, "V04")
                    .set_comp(9, 3, "ACK");
                s.set(10, "ACK-1").set(11, "P").set(12, "2.5.1");
                s.set(15, "NE").set(16, "NE");
                s.set_comp(21, 1, "Z23").set_comp(21, 2, "CDCPHINVS");
            });
            m.segment("MSA", |s| {
                s.set(1, "AA")
                    .set(2, black_box("NIST-IZ-AD-2.1_Send_V04_Z22"));
            });
            black_box(m.finish());
        }
        let per = start.elapsed().as_secs_f64() / f64::from(n);
        println!("build: {:.0} ns per MSH+MSA message", per * 1e9);
    }
}
