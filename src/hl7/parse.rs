//! Zero-copy HL7 v2 message parser.
//!
//! [`Message::parse`] makes one pass over the text and records, in two flat vectors, where
//! each segment starts and ends and where every field separator is. Everything below the
//! field level (repetitions, components, subcomponents) is found lazily by scanning the
//! field's slice, and escape sequences are decoded only when a value is read
//! ([`Field::value`], [`Component::value`], [`Message::get`], ...).
//!
//! Field numbering follows HL7: in `MSH` (and the batch headers `FHS`/`BHS`) field 1 is
//! the field separator itself and field 2 the encoding characters, so `MSH-3` is the first
//! item after the encoding characters; in every other segment field 1 is the first item
//! after the segment id. Repetitions, components and subcomponents are 1-based.

use std::borrow::Cow;
use std::fmt;
use std::iter::FusedIterator;

use super::escape::unescape;

/// The five HL7 delimiters declared by MSH-1 and MSH-2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Delimiters {
    /// Field separator (MSH-1), normally `|`.
    pub field: char,
    /// Component separator, normally `^`.
    pub component: char,
    /// Repetition separator, normally `~`.
    pub repetition: char,
    /// Escape character, normally `\`.
    pub escape: char,
    /// Subcomponent separator, normally `&`.
    pub subcomponent: char,
}

impl Delimiters {
    /// The standard delimiters `| ^ ~ \ &`.
    pub const DEFAULT: Delimiters = Delimiters {
        field: '|',
        component: '^',
        repetition: '~',
        escape: '\\',
        subcomponent: '&',
    };

    /// The four MSH-2 encoding characters in HL7 order: component, repetition, escape,
    /// subcomponent.
    pub fn encoding_characters(&self) -> [char; 4] {
        [
            self.component,
            self.repetition,
            self.escape,
            self.subcomponent,
        ]
    }

    /// Whether `c` is one of the five delimiters.
    pub fn is_delimiter(&self, c: char) -> bool {
        c == self.field
            || c == self.component
            || c == self.repetition
            || c == self.escape
            || c == self.subcomponent
    }

    /// Checks that the delimiters are usable: each an ASCII punctuation character (so not
    /// alphanumeric, not whitespace, not CR/LF, not a control character) and all distinct.
    pub fn validate(&self) -> Result<(), ParseError> {
        let all = [
            self.field,
            self.component,
            self.repetition,
            self.escape,
            self.subcomponent,
        ];
        for (i, c) in all.iter().enumerate() {
            if !c.is_ascii_punctuation() || all[..i].contains(c) {
                return Err(ParseError::BadDelimiters);
            }
        }
        Ok(())
    }
}

impl Default for Delimiters {
    fn default() -> Self {
        Delimiters::DEFAULT
    }
}

/// Why a text could not be parsed as an HL7 v2 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The text is empty (or only whitespace and a byte-order mark).
    Empty,
    /// The text does not start with an `MSH` segment.
    NotHl7,
    /// MSH-1/MSH-2 do not declare five distinct ASCII punctuation delimiters.
    BadDelimiters,
    /// The text is larger than the parser can index (4 GiB).
    TooLarge,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::Empty => "The message is empty.",
            ParseError::NotHl7 => {
                "The text is not an HL7 v2 message: it does not start with an MSH segment."
            }
            ParseError::BadDelimiters => {
                "The MSH segment does not declare usable delimiters: the field separator and \
                 the encoding characters must be distinct ASCII punctuation characters."
            }
            ParseError::TooLarge => "The message is too large to parse.",
        })
    }
}

impl std::error::Error for ParseError {}

/// Where one segment lies in the text, and which entries of `Message::seps` are its field
/// separators.
#[derive(Clone, Copy, Debug)]
struct SegRec {
    start: u32,
    end: u32,
    sep_lo: u32,
    sep_hi: u32,
}

/// A parsed HL7 v2 message borrowing its text.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    text: &'a str,
    delims: Delimiters,
    segs: Vec<SegRec>,
    /// Absolute byte offsets of every field separator, segment after segment.
    seps: Vec<u32>,
}

/// Bytes that make a line blank when it holds nothing else (MLLP framing bytes included).
fn is_blank_byte(b: u8) -> bool {
    b.is_ascii_whitespace() || b == 0x0b || b == 0x1c
}

/// Byte offset of the first character that is neither a BOM nor whitespace.
fn header_start(text: &str) -> usize {
    text.len()
        - text
            .trim_start_matches(|c: char| c == '\u{feff}' || c.is_whitespace())
            .len()
}

/// Reads MSH-1 and MSH-2 from the text that follows `MSH`.
fn read_delimiters(after_msh: &str) -> Result<Delimiters, ParseError> {
    let fs = after_msh.chars().next().ok_or(ParseError::BadDelimiters)?;
    let rest = &after_msh[fs.len_utf8()..];
    let enc_end = rest.find([fs, '\r', '\n']).unwrap_or(rest.len());
    let mut enc = Delimiters::DEFAULT.encoding_characters();
    for (slot, c) in enc.iter_mut().zip(rest[..enc_end].chars()) {
        *slot = c;
    }
    let d = Delimiters {
        field: fs,
        component: enc[0],
        repetition: enc[1],
        escape: enc[2],
        subcomponent: enc[3],
    };
    d.validate()?;
    Ok(d)
}

fn is_header_id(id: &str) -> bool {
    matches!(id, "MSH" | "FHS" | "BHS")
}

impl<'a> Message<'a> {
    /// Parses `text`. A UTF-8 byte-order mark and whitespace before `MSH` are skipped;
    /// segments may be terminated by CR, LF or CRLF, and blank lines are ignored.
    pub fn parse(text: &'a str) -> Result<Message<'a>, ParseError> {
        if u32::try_from(text.len()).is_err() {
            return Err(ParseError::TooLarge);
        }
        let body_start = header_start(text);
        let body = &text[body_start..];
        if body.is_empty() {
            return Err(ParseError::Empty);
        }
        if !body.starts_with("MSH") {
            return Err(ParseError::NotHl7);
        }
        let delims = read_delimiters(&body[3..])?;
        // validate() guarantees an ASCII delimiter, so the byte comparison below is exact
        // and every recorded offset is a char boundary.
        let fs = delims.field as u8;

        let bytes = text.as_bytes();
        let mut segs: Vec<SegRec> = Vec::with_capacity(16);
        let mut seps: Vec<u32> = Vec::with_capacity(body.len() / 8 + 8);
        let mut line_start = body_start;
        let mut sep_lo = 0usize;
        let mut finish_line = |start: usize, end: usize, seps: &mut Vec<u32>| {
            if seps.len() == sep_lo && bytes[start..end].iter().all(|&b| is_blank_byte(b)) {
                return;
            }
            // Offsets fit in u32: the length was checked above.
            segs.push(SegRec {
                start: start as u32,
                end: end as u32,
                sep_lo: sep_lo as u32,
                sep_hi: seps.len() as u32,
            });
            sep_lo = seps.len();
        };
        for (i, &b) in bytes.iter().enumerate().skip(body_start) {
            if b == fs {
                seps.push(i as u32);
            } else if b == b'\r' || b == b'\n' {
                finish_line(line_start, i, &mut seps);
                line_start = i + 1;
            }
        }
        finish_line(line_start, bytes.len(), &mut seps);
        Ok(Message {
            text,
            delims,
            segs,
            seps,
        })
    }

    /// The delimiters declared in MSH-1/MSH-2.
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    /// The whole text that was parsed.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Number of segments (blank lines are not counted).
    pub fn segment_count(&self) -> usize {
        self.segs.len()
    }

    /// All segments in order.
    pub fn segments(&self) -> Segments<'a, '_> {
        Segments {
            msg: self,
            front: 0,
            back: self.segs.len(),
        }
    }

    /// The segment at position `index` (0-based), if any.
    pub fn segment_at(&self, index: usize) -> Option<Segment<'a, '_>> {
        (index < self.segs.len()).then_some(Segment {
            msg: self,
            idx: index,
        })
    }

    /// The MSH segment (always the first one).
    pub fn msh(&self) -> Segment<'a, '_> {
        Segment { msg: self, idx: 0 }
    }

    /// The first segment whose id is `id`.
    pub fn segment(&self, id: &str) -> Option<Segment<'a, '_>> {
        self.segments_named(id).next()
    }

    /// Every segment whose id is `id`, in order.
    pub fn segments_named<'m, 'i>(&'m self, id: &'i str) -> SegmentsNamed<'a, 'm, 'i> {
        SegmentsNamed {
            inner: self.segments(),
            id,
        }
    }

    /// The decoded value at a path such as `PID-5`, `PID-5-2`, `PID-3(2)-5`,
    /// `OBX(2)-5-1-1` or `MSH-9-2` (`.` may be used instead of `-`). Missing repetition,
    /// component and subcomponent numbers mean 1 and `SEG(n)` picks the n-th occurrence
    /// of the segment. Returns `None` when the segment or value is missing, empty, or the
    /// explicit null `""` (use [`Field::is_null`] to tell a null from an absent value),
    /// and for a malformed path.
    pub fn get(&self, path: &str) -> Option<Cow<'a, str>> {
        let p = Path::parse(path)?;
        let seg = self.segments_named(p.segment).nth(p.occurrence - 1)?;
        seg.get_sub(p.field, p.repetition, p.component, p.subcomponent)
    }

    fn rec(&self, idx: usize) -> SegRec {
        self.segs[idx]
    }
}

/// A parsed `SEG(occ)-F(rep)-C-S` path.
struct Path<'p> {
    segment: &'p str,
    occurrence: usize,
    field: usize,
    repetition: usize,
    component: usize,
    subcomponent: usize,
}

impl<'p> Path<'p> {
    fn parse(path: &'p str) -> Option<Path<'p>> {
        let id_end = path.find(['(', '-', '.']).unwrap_or(path.len());
        let segment = &path[..id_end];
        if segment.is_empty() {
            return None;
        }
        let mut rest = &path[id_end..];
        let occurrence = take_index(&mut rest)?;
        rest = rest.strip_prefix(['-', '.'])?;
        let field = take_number(&mut rest)?;
        let repetition = take_index(&mut rest)?;
        let mut component = 1;
        let mut subcomponent = 1;
        if let Some(r) = rest.strip_prefix(['-', '.']) {
            rest = r;
            component = take_number(&mut rest)?;
            if let Some(r) = rest.strip_prefix(['-', '.']) {
                rest = r;
                subcomponent = take_number(&mut rest)?;
            }
        }
        if !rest.is_empty() || component == 0 || subcomponent == 0 || field == 0 {
            return None;
        }
        Some(Path {
            segment,
            occurrence,
            field,
            repetition,
            component,
            subcomponent,
        })
    }
}

/// Reads a decimal number (at most 9 digits) from the front of `s`.
fn take_number(s: &mut &str) -> Option<usize> {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    if end == 0 || end > 9 {
        return None;
    }
    let n = s[..end].parse().ok()?;
    *s = &s[end..];
    Some(n)
}

/// Reads an optional `(n)` index (n ≥ 1) from the front of `s`; 1 when absent.
fn take_index(s: &mut &str) -> Option<usize> {
    match s.strip_prefix('(') {
        None => Some(1),
        Some(mut r) => {
            let n = take_number(&mut r)?;
            *s = r.strip_prefix(')')?;
            (n >= 1).then_some(n)
        }
    }
}

/// Iterator over all segments of a message.
#[derive(Clone, Debug)]
pub struct Segments<'a, 'm> {
    msg: &'m Message<'a>,
    front: usize,
    back: usize,
}

impl<'a, 'm> Iterator for Segments<'a, 'm> {
    type Item = Segment<'a, 'm>;

    fn next(&mut self) -> Option<Self::Item> {
        (self.front < self.back).then(|| {
            self.front += 1;
            Segment {
                msg: self.msg,
                idx: self.front - 1,
            }
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Segments<'_, '_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        (self.front < self.back).then(|| {
            self.back -= 1;
            Segment {
                msg: self.msg,
                idx: self.back,
            }
        })
    }
}

impl ExactSizeIterator for Segments<'_, '_> {}
impl FusedIterator for Segments<'_, '_> {}

/// Iterator over the segments with a given id.
#[derive(Clone, Debug)]
pub struct SegmentsNamed<'a, 'm, 'i> {
    inner: Segments<'a, 'm>,
    id: &'i str,
}

impl<'a, 'm> Iterator for SegmentsNamed<'a, 'm, '_> {
    type Item = Segment<'a, 'm>;

    fn next(&mut self) -> Option<Self::Item> {
        let id = self.id;
        self.inner.find(|s| s.id() == id)
    }
}

impl FusedIterator for SegmentsNamed<'_, '_, '_> {}

/// One segment of a [`Message`]. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Segment<'a, 'm> {
    msg: &'m Message<'a>,
    idx: usize,
}

impl fmt::Debug for Segment<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("index", &self.idx)
            .field("raw", &self.raw())
            .finish()
    }
}

impl<'a, 'm> Segment<'a, 'm> {
    fn seps(&self) -> &'m [u32] {
        let r = self.msg.rec(self.idx);
        &self.msg.seps[r.sep_lo as usize..r.sep_hi as usize]
    }

    /// The segment id: whatever precedes the first field separator (the whole line when
    /// there is none).
    pub fn id(&self) -> &'a str {
        let r = self.msg.rec(self.idx);
        let end = self.seps().first().copied().unwrap_or(r.end);
        &self.msg.text[r.start as usize..end as usize]
    }

    /// Position of the segment in the message, 0-based.
    pub fn index(&self) -> usize {
        self.idx
    }

    /// The segment's text without its terminator.
    pub fn raw(&self) -> &'a str {
        let r = self.msg.rec(self.idx);
        &self.msg.text[r.start as usize..r.end as usize]
    }

    fn is_header(&self) -> bool {
        is_header_id(self.id())
    }

    /// Number of fields present, per HL7 numbering (for MSH this counts MSH-1 and MSH-2).
    pub fn field_count(&self) -> usize {
        let n = self.seps().len();
        if self.is_header() && n > 0 {
            n + 1
        } else {
            n
        }
    }

    /// The `k`-th item after the segment id (1-based), ignoring header numbering.
    fn plain_field(&self, k: usize) -> Field<'a> {
        let seps = self.seps();
        if k == 0 || k > seps.len() {
            return Field::empty(self.msg.delims);
        }
        let start = seps[k - 1] as usize + 1;
        let end = match seps.get(k) {
            Some(&e) => e as usize,
            None => self.msg.rec(self.idx).end as usize,
        };
        Field::new(&self.msg.text[start..end], self.msg.delims)
    }

    /// Field `n` per HL7 numbering; an empty field when out of range. MSH-1 and MSH-2 are
    /// returned literally (they are never split or unescaped).
    pub fn field(&self, n: usize) -> Field<'a> {
        if !self.is_header() {
            return self.plain_field(n);
        }
        match n {
            0 => Field::empty(self.msg.delims),
            1 => match self.seps().first() {
                Some(&p) => {
                    let p = p as usize;
                    Field::literal(&self.msg.text[p..p + 1], self.msg.delims)
                }
                None => Field::empty(self.msg.delims),
            },
            2 => {
                let f = self.plain_field(1);
                Field::literal(f.raw, self.msg.delims)
            }
            n => self.plain_field(n - 1),
        }
    }

    /// The fields 1..=field_count in order.
    pub fn fields(&self) -> Fields<'a, 'm> {
        Fields {
            seg: *self,
            next: 1,
            count: self.field_count(),
        }
    }

    /// Decoded subcomponent 1 of `component` in the first repetition of `field`; `None`
    /// when empty or the null `""`.
    pub fn get(&self, field: usize, component: usize) -> Option<Cow<'a, str>> {
        self.get_sub(field, 1, component, 1)
    }

    /// Decoded value at `field`, repetition `rep`, `component`, subcomponent `sub` (all
    /// 1-based); `None` when empty or the null `""`.
    pub fn get_sub(
        &self,
        field: usize,
        rep: usize,
        component: usize,
        sub: usize,
    ) -> Option<Cow<'a, str>> {
        let c = self.field(field).repetition(rep).component(component);
        non_empty(c.subcomponent(sub), &c.delims, c.literal)
    }
}

/// Iterator over the fields of a segment.
#[derive(Clone, Debug)]
pub struct Fields<'a, 'm> {
    seg: Segment<'a, 'm>,
    next: usize,
    count: usize,
}

impl<'a> Iterator for Fields<'a, '_> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        (self.next <= self.count).then(|| {
            self.next += 1;
            self.seg.field(self.next - 1)
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.count + 1).saturating_sub(self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Fields<'_, '_> {}
impl FusedIterator for Fields<'_, '_> {}

fn decode<'a>(raw: &'a str, d: &Delimiters, literal: bool) -> Cow<'a, str> {
    if literal {
        Cow::Borrowed(raw)
    } else {
        unescape(raw, d)
    }
}

fn non_empty<'a>(raw: &'a str, d: &Delimiters, literal: bool) -> Option<Cow<'a, str>> {
    if raw.is_empty() || raw == "\"\"" {
        return None;
    }
    let v = decode(raw, d, literal);
    (!v.is_empty()).then_some(v)
}

/// The `n`-th (1-based) piece of `s` split at `sep`; empty when out of range. Literal
/// values have a single piece.
fn nth_piece(s: &str, sep: char, n: usize, literal: bool) -> &str {
    if n == 0 {
        return "";
    }
    if literal {
        return if n == 1 { s } else { "" };
    }
    s.split(sep).nth(n - 1).unwrap_or("")
}

/// Splits a string at a separator; yields nothing for an empty string and one piece for a
/// literal value.
#[derive(Clone, Debug)]
struct Pieces<'a> {
    rest: Option<&'a str>,
    sep: Option<char>,
}

impl<'a> Pieces<'a> {
    fn new(s: &'a str, sep: char, literal: bool) -> Self {
        Pieces {
            rest: (!s.is_empty()).then_some(s),
            sep: (!literal).then_some(sep),
        }
    }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let r = self.rest?;
        match self.sep.and_then(|c| r.find(c).map(|p| (p, c))) {
            Some((p, c)) => {
                self.rest = Some(&r[p + c.len_utf8()..]);
                Some(&r[..p])
            }
            None => {
                self.rest = None;
                Some(r)
            }
        }
    }
}

/// One field of a segment (all its repetitions). Cheap to copy; does not borrow the
/// [`Message`], only its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    raw: &'a str,
    delims: Delimiters,
    literal: bool,
}

impl<'a> Field<'a> {
    /// Wraps an encoded field text (e.g. one taken from elsewhere) for lazy access.
    pub fn new(raw: &'a str, delims: Delimiters) -> Field<'a> {
        Field {
            raw,
            delims,
            literal: false,
        }
    }

    fn literal(raw: &'a str, delims: Delimiters) -> Field<'a> {
        Field {
            raw,
            delims,
            literal: true,
        }
    }

    fn empty(delims: Delimiters) -> Field<'a> {
        Field::new("", delims)
    }

    /// The encoded text of the field.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The delimiters the field is encoded with.
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    /// Whether the field is absent or empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Whether the field is the explicit HL7 null `""`.
    pub fn is_null(&self) -> bool {
        self.raw == "\"\""
    }

    /// The repetitions (none for an empty field).
    pub fn repetitions(&self) -> Repetitions<'a> {
        Repetitions {
            pieces: Pieces::new(self.raw, self.delims.repetition, self.literal),
            delims: self.delims,
            literal: self.literal,
        }
    }

    /// Number of repetitions (0 for an empty field).
    pub fn repetition_count(&self) -> usize {
        self.repetitions().count()
    }

    /// Repetition `n` (1-based); empty when out of range.
    pub fn repetition(&self, n: usize) -> Repetition<'a> {
        Repetition {
            raw: nth_piece(self.raw, self.delims.repetition, n, self.literal),
            delims: self.delims,
            literal: self.literal,
        }
    }

    /// Component `n` of the first repetition.
    pub fn component(&self, n: usize) -> Component<'a> {
        self.repetition(1).component(n)
    }

    /// Decoded subcomponent 1 of component 1 of the first repetition: the usual value of
    /// a simple field.
    pub fn value(&self) -> Cow<'a, str> {
        self.component(1).value()
    }

    /// The whole field text, unescaped (delimiters inside it are kept as they are).
    pub fn decoded(&self) -> Cow<'a, str> {
        decode(self.raw, &self.delims, self.literal)
    }
}

/// Iterator over the repetitions of a field.
#[derive(Clone, Debug)]
pub struct Repetitions<'a> {
    pieces: Pieces<'a>,
    delims: Delimiters,
    literal: bool,
}

impl<'a> Iterator for Repetitions<'a> {
    type Item = Repetition<'a>;

    fn next(&mut self) -> Option<Repetition<'a>> {
        self.pieces.next().map(|raw| Repetition {
            raw,
            delims: self.delims,
            literal: self.literal,
        })
    }
}

impl FusedIterator for Repetitions<'_> {}

/// One repetition of a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repetition<'a> {
    raw: &'a str,
    delims: Delimiters,
    literal: bool,
}

impl<'a> Repetition<'a> {
    /// The encoded text of the repetition.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether the repetition is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Whether the repetition is the explicit HL7 null `""`.
    pub fn is_null(&self) -> bool {
        self.raw == "\"\""
    }

    /// Component `n` (1-based); empty when out of range.
    pub fn component(&self, n: usize) -> Component<'a> {
        Component {
            raw: nth_piece(self.raw, self.delims.component, n, self.literal),
            delims: self.delims,
            literal: self.literal,
        }
    }

    /// The components (none for an empty repetition).
    pub fn components(&self) -> Components<'a> {
        Components {
            pieces: Pieces::new(self.raw, self.delims.component, self.literal),
            delims: self.delims,
            literal: self.literal,
        }
    }

    /// Number of components (0 for an empty repetition).
    pub fn component_count(&self) -> usize {
        self.components().count()
    }

    /// Decoded subcomponent 1 of component 1.
    pub fn value(&self) -> Cow<'a, str> {
        self.component(1).value()
    }

    /// The whole repetition text, unescaped.
    pub fn decoded(&self) -> Cow<'a, str> {
        decode(self.raw, &self.delims, self.literal)
    }
}

/// Iterator over the components of a repetition.
#[derive(Clone, Debug)]
pub struct Components<'a> {
    pieces: Pieces<'a>,
    delims: Delimiters,
    literal: bool,
}

impl<'a> Iterator for Components<'a> {
    type Item = Component<'a>;

    fn next(&mut self) -> Option<Component<'a>> {
        self.pieces.next().map(|raw| Component {
            raw,
            delims: self.delims,
            literal: self.literal,
        })
    }
}

impl FusedIterator for Components<'_> {}

/// One component of a repetition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Component<'a> {
    raw: &'a str,
    delims: Delimiters,
    literal: bool,
}

impl<'a> Component<'a> {
    /// The encoded text of the component.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether the component is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Whether the component is the explicit HL7 null `""`.
    pub fn is_null(&self) -> bool {
        self.raw == "\"\""
    }

    /// The encoded text of subcomponent `n` (1-based); empty when out of range.
    pub fn subcomponent(&self, n: usize) -> &'a str {
        nth_piece(self.raw, self.delims.subcomponent, n, self.literal)
    }

    /// The encoded subcomponents (none for an empty component).
    pub fn subcomponents(&self) -> Subcomponents<'a> {
        Subcomponents {
            pieces: Pieces::new(self.raw, self.delims.subcomponent, self.literal),
        }
    }

    /// Decoded subcomponent `n` (1-based).
    pub fn subcomponent_value(&self, n: usize) -> Cow<'a, str> {
        decode(self.subcomponent(n), &self.delims, self.literal)
    }

    /// Decoded subcomponent 1: the value of a component that has no subcomponents.
    pub fn value(&self) -> Cow<'a, str> {
        self.subcomponent_value(1)
    }

    /// The whole component text, unescaped.
    pub fn decoded(&self) -> Cow<'a, str> {
        decode(self.raw, &self.delims, self.literal)
    }
}

/// Iterator over the encoded subcomponents of a component.
#[derive(Clone, Debug)]
pub struct Subcomponents<'a> {
    pieces: Pieces<'a>,
}

impl<'a> Iterator for Subcomponents<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.pieces.next()
    }
}

impl FusedIterator for Subcomponents<'_> {}

/// How many messages the text holds: the number of `MSH` segments at the start of the
/// text (after a byte-order mark and whitespace) or right after a CR or LF. An `MSH` counts
/// only when followed by a possible field separator (not alphanumeric, not CR/LF). Does not
/// parse anything else.
pub fn count_messages(text: &str) -> usize {
    fn msh_at(b: &[u8], i: usize) -> bool {
        b.get(i..i + 3) == Some(b"MSH".as_slice())
            && b.get(i + 3)
                .is_some_and(|&c| !c.is_ascii_alphanumeric() && c != b'\r' && c != b'\n')
    }
    let start = header_start(text);
    let b = text.as_bytes();
    let mut count = usize::from(msh_at(b, start));
    for (i, &c) in b.iter().enumerate().skip(start) {
        if (c == b'\r' || c == b'\n') && msh_at(b, i + 1) {
            count += 1;
        }
    }
    count
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) const VXU: &str = concat!(
        "MSH|^~\\&|MYEHR2.5|RI88140101|IIS-SANDBOX|RIIIS|20240515093012-0400||VXU^V04^VXU_V04|NIST-IZ-AD-2.1_Send_V04_Z22|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS|DCS|RIIIS\r",
        "PID|1||90012^^^MYEHR^MR~123456789^^^SSA^SS||Nuclear^Nellie^Anna^^^^L~Smith^Nellie^^^^^M|Sure^Sally^^^^^M|20230421|F||2106-3^White^CDCREC|222 Reactor Rd^Apt 4B^Ionia^MI^48846^USA^P^^MI034||^PRN^PH^^^616^5559999~^NET^Internet^nellie.n@example.org\r",
        "ORC|RE||IZ-783274^NDA\r",
        "RXA|0|1|20240515||08^Hep B, adolescent or pediatric^CVX|0.5|mL^milliliters^UCUM||00^New immunization record^NIP001||^^^NIST-Clinic-1||||Z0860BB|20250810|MSD^Merck and Co., Inc.^MVX|||CP|A\r",
        "RXR|C28161^Intramuscular^NCIT|RT^Right Thigh^HL70163\r",
    );

    /// A larger VXU (12 segments, ~1.6 KB) used by the throughput check.
    pub(crate) const VXU_12: &str = concat!(
        "MSH|^~\\&|MYEHR2.5|RI88140101|IIS-SANDBOX|RIIIS|20240515093012-0400||VXU^V04^VXU_V04|NIST-IZ-AD-2.1_Send_V04_Z22|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS|DCS|RIIIS\r",
        "PID|1||90012^^^MYEHR^MR~123456789^^^SSA^SS||Nuclear^Nellie^Anna^^^^L~Smith^Nellie^^^^^M|Sure^Sally^^^^^M|20230421|F||2106-3^White^CDCREC|222 Reactor Rd^Apt 4B^Ionia^MI^48846^USA^P^^MI034||^PRN^PH^^^616^5559999~^NET^Internet^nellie.n@example.org|||||||||2186-5^Not Hispanic or Latino^CDCREC||N|1\r",
        "PD1|||||||||||02^Reminder/Recall - any method^HL70215|N|20240515|||A|20230421|20230421\r",
        "NK1|1|Nuclear^Sally^^^^^L|MTH^Mother^HL70063|222 Reactor Rd^^Ionia^MI^48846^USA^P|^PRN^PH^^^616^5559999\r",
        "ORC|RE||IZ-783274^NDA|||||||7824^Jackson^Lily^Suzanne^^^^^NIST-PI-1^L^^^PRN||654^Thomas^Wilma^Elizabeth^^^^^NIST-PI-1^L^^^MD|||||NISTEHRFAC^NISTEHRFacility^HL70362\r",
        "RXA|0|1|20240515||08^Hep B, adolescent or pediatric^CVX|0.5|mL^milliliters^UCUM||00^New immunization record^NIP001|7824^Jackson^Lily^Suzanne^^^^^NIST-PI-1^L^^^PRN|^^^NIST-Clinic-1||||Z0860BB|20250810|MSD^Merck and Co., Inc.^MVX|||CP|A\r",
        "RXR|C28161^Intramuscular^NCIT|RT^Right Thigh^HL70163\r",
        "OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V02^VFC eligible - Medicaid/Medicaid Managed Care^HL70064||||||F|||20240515|||VXC40^Eligibility captured at the immunization level^CDCPHINVS\r",
        "OBX|2|CE|30956-7^vaccine type^LN|2|08^Hep B, unspecified formulation^CVX||||||F\r",
        "OBX|3|TS|29768-9^Date vaccine information statement published^LN|2|20120202||||||F\r",
        "OBX|4|TS|29769-7^Date vaccine information statement presented^LN|2|20240515||||||F\r",
        "OBX|5|CE|69764-9^Document type^LN|3|253088698300012711120420^Hepatitis B VIS^cdcgs1vis||||||F|||20240515\r",
    );

    /// Touches every accessor of every segment; used by the no-panic property tests.
    pub(crate) fn exercise(m: &Message<'_>) -> usize {
        let mut n = m.text().len() + m.segment_count();
        let _ = m.delimiters();
        for seg in m.segments() {
            n += seg.id().len() + seg.raw().len() + seg.index();
            for f in 0..seg.field_count() + 2 {
                let field = seg.field(f);
                n += field.raw().len()
                    + usize::from(field.is_empty())
                    + usize::from(field.is_null());
                n += field.value().len() + field.decoded().len() + field.repetition_count();
                for (r, rep) in field.repetitions().enumerate() {
                    n += rep.decoded().len() + rep.value().len() + rep.component_count();
                    for (c, comp) in rep.components().enumerate() {
                        n += comp.value().len() + comp.decoded().len();
                        for (s, sub) in comp.subcomponents().enumerate() {
                            n += sub.len() + comp.subcomponent_value(s + 1).len();
                        }
                        n += seg.get_sub(f, r + 1, c + 1, 1).map_or(0, |v| v.len());
                    }
                }
                n += field.component(3).subcomponent(2).len();
                n += seg.get(f, 1).map_or(0, |v| v.len());
            }
            for f in seg.fields() {
                n += f.raw().len();
            }
            let id = seg.id();
            for path in [
                format!("{id}-1"),
                format!("{id}-2-1"),
                format!("{id}(2)-3(2)-1-1"),
                format!("{id}.9.2"),
            ] {
                n += m.get(&path).map_or(0, |v| v.len());
            }
        }
        n += m.segment("PID").map_or(0, |s| s.field_count());
        n += m.segments_named("MSH").count();
        n += m.segment_at(usize::MAX).map_or(0, |s| s.index());
        n
    }

    fn parse(text: &str) -> Message<'_> {
        match Message::parse(text) {
            Ok(m) => m,
            Err(e) => panic!("parse failed: {e}"),
        }
    }

    #[test]
    fn sample_vxu_structure() {
        let m = parse(VXU);
        assert_eq!(m.delimiters(), Delimiters::default());
        assert_eq!(m.text(), VXU);
        assert_eq!(m.segment_count(), 5);
        let ids: Vec<&str> = m.segments().map(|s| s.id()).collect();
        assert_eq!(ids, ["MSH", "PID", "ORC", "RXA", "RXR"]);
        let idx: Vec<usize> = m.segments().rev().map(|s| s.index()).collect();
        assert_eq!(idx, [4, 3, 2, 1, 0]);
        assert_eq!(m.segments().len(), 5);
        assert_eq!(
            m.segment("RXR").map(|s| s.raw()),
            Some("RXR|C28161^Intramuscular^NCIT|RT^Right Thigh^HL70163")
        );
        assert_eq!(m.msh().id(), "MSH");
        assert_eq!(m.segment_at(3).map(|s| s.id()), Some("RXA"));
        assert!(m.segment_at(5).is_none());
        assert!(m.segment("OBX").is_none());
        assert_eq!(m.segments_named("PID").count(), 1);
    }

    #[test]
    fn msh_numbering() {
        let m = parse(VXU);
        let msh = m.msh();
        assert_eq!(msh.field_count(), 23);
        assert_eq!(msh.field(1).raw(), "|");
        assert_eq!(msh.field(1).value(), "|");
        assert_eq!(msh.field(2).raw(), "^~\\&");
        // MSH-2 is literal: not split, not unescaped.
        assert_eq!(msh.field(2).value(), "^~\\&");
        assert_eq!(msh.field(2).decoded(), "^~\\&");
        assert_eq!(msh.field(2).repetition_count(), 1);
        assert_eq!(msh.field(2).component(2).raw(), "");
        assert_eq!(m.get("MSH-1").as_deref(), Some("|"));
        assert_eq!(m.get("MSH-2").as_deref(), Some("^~\\&"));
        assert_eq!(m.get("MSH-3").as_deref(), Some("MYEHR2.5"));
        assert_eq!(m.get("MSH-4").as_deref(), Some("RI88140101"));
        assert_eq!(m.get("MSH-7").as_deref(), Some("20240515093012-0400"));
        assert_eq!(m.get("MSH-8"), None);
        assert_eq!(m.get("MSH-9").as_deref(), Some("VXU"));
        assert_eq!(m.get("MSH-9-2").as_deref(), Some("V04"));
        assert_eq!(m.get("MSH.9.3").as_deref(), Some("VXU_V04"));
        assert_eq!(
            m.get("MSH-10").as_deref(),
            Some("NIST-IZ-AD-2.1_Send_V04_Z22")
        );
        assert_eq!(m.get("MSH-12").as_deref(), Some("2.5.1"));
        assert_eq!(m.get("MSH-15").as_deref(), Some("ER"));
        assert_eq!(m.get("MSH-21-2").as_deref(), Some("CDCPHINVS"));
        assert_eq!(m.get("MSH-22").as_deref(), Some("DCS"));
        assert_eq!(m.get("MSH-23").as_deref(), Some("RIIIS"));
        assert_eq!(m.get("MSH-24"), None);
        assert!(msh.field(0).is_empty());
        assert_eq!(msh.get(9, 2).as_deref(), Some("V04"));
        let fields: Vec<&str> = msh.fields().take(4).map(|f| f.raw()).collect();
        assert_eq!(fields, ["|", "^~\\&", "MYEHR2.5", "RI88140101"]);
        assert_eq!(msh.fields().len(), 23);
    }

    #[test]
    fn other_segment_numbering_and_accessors() {
        let m = parse(VXU);
        let pid = m.segment("PID").expect("PID");
        assert_eq!(pid.index(), 1);
        assert_eq!(pid.field_count(), 13);
        assert_eq!(pid.field(1).raw(), "1");
        assert!(pid.field(2).is_empty());
        assert!(pid.field(0).is_empty());
        assert!(pid.field(14).is_empty());
        assert!(pid.field(usize::MAX).is_empty());

        let f3 = pid.field(3);
        assert_eq!(f3.raw(), "90012^^^MYEHR^MR~123456789^^^SSA^SS");
        assert_eq!(f3.repetition_count(), 2);
        assert_eq!(f3.value(), "90012");
        assert_eq!(f3.component(4).value(), "MYEHR");
        let reps: Vec<&str> = f3.repetitions().map(|r| r.raw()).collect();
        assert_eq!(reps, ["90012^^^MYEHR^MR", "123456789^^^SSA^SS"]);
        let r2 = f3.repetition(2);
        assert_eq!(r2.raw(), "123456789^^^SSA^SS");
        assert_eq!(r2.value(), "123456789");
        assert_eq!(r2.component(5).raw(), "SS");
        assert_eq!(r2.component_count(), 5);
        assert!(r2.component(2).is_empty());
        assert!(r2.component(6).is_empty());
        assert!(r2.component(0).is_empty());
        assert!(f3.repetition(3).is_empty());
        assert!(f3.repetition(0).is_empty());
        let comps: Vec<&str> = r2.components().map(|c| c.raw()).collect();
        assert_eq!(comps, ["123456789", "", "", "SSA", "SS"]);

        assert_eq!(m.get("PID-3").as_deref(), Some("90012"));
        assert_eq!(m.get("PID-3(2)").as_deref(), Some("123456789"));
        assert_eq!(m.get("PID-3(2)-5").as_deref(), Some("SS"));
        assert_eq!(m.get("PID-3(3)-5"), None);
        assert_eq!(m.get("PID-3-2"), None);
        assert_eq!(m.get("PID-5").as_deref(), Some("Nuclear"));
        assert_eq!(m.get("PID-5(2)-1").as_deref(), Some("Smith"));
        assert_eq!(m.get("PID-5-7").as_deref(), Some("L"));
        assert_eq!(m.get("PID-7").as_deref(), Some("20230421"));
        assert_eq!(m.get("PID-11-2").as_deref(), Some("Apt 4B"));
        assert_eq!(m.get("PID-11-9").as_deref(), Some("MI034"));
        assert_eq!(
            m.get("PID-13(2)-4").as_deref(),
            Some("nellie.n@example.org")
        );
        assert_eq!(m.get("PID-13-6").as_deref(), Some("616"));
        assert_eq!(m.get("PID-2"), None);
        assert_eq!(m.get("PID-99"), None);
        assert_eq!(m.get("OBX-5"), None);
        assert_eq!(m.get("PID(2)-1"), None);
        assert_eq!(m.get("PID(1)-1").as_deref(), Some("1"));
        assert_eq!(
            m.get("RXA-5-2").as_deref(),
            Some("Hep B, adolescent or pediatric")
        );
        assert_eq!(m.get("RXA-17-2").as_deref(), Some("Merck and Co., Inc."));
        assert_eq!(m.get("RXA-11-4").as_deref(), Some("NIST-Clinic-1"));
        assert_eq!(m.get("RXA-20").as_deref(), Some("CP"));
        assert_eq!(m.get("RXA-21").as_deref(), Some("A"));
        assert_eq!(m.get("RXR-2-1").as_deref(), Some("RT"));
        assert_eq!(m.get("ORC-3-2").as_deref(), Some("NDA"));

        let rxa = m.segment("RXA").expect("RXA");
        assert_eq!(rxa.get(5, 1).as_deref(), Some("08"));
        assert_eq!(rxa.get(5, 4), None);
        assert_eq!(rxa.get_sub(5, 1, 3, 1).as_deref(), Some("CVX"));
        assert_eq!(rxa.get_sub(5, 2, 3, 1), None);
        assert_eq!(rxa.get_sub(5, 1, 3, 2), None);
    }

    #[test]
    fn malformed_paths() {
        let m = parse(VXU);
        for p in [
            "",
            "PID",
            "PID-",
            "PID-x",
            "PID-0",
            "PID-3-0",
            "PID-3-1-0",
            "PID(0)-3",
            "PID(-3",
            "PID(1-3",
            "PID-3(0)",
            "PID-3(2",
            "PID-3-1-1-1",
            "-3",
            "(1)-3",
            "PID-3x",
            "PID-9999999999",
            "PID--3",
        ] {
            assert_eq!(m.get(p), None, "{p}");
        }
    }

    #[test]
    fn occurrences_and_subcomponents() {
        let text = "MSH|^~\\&|A\rOBX|1|CE|x&y&z^b\rOBX|2|ST|second\rOBX|3\r";
        let m = parse(text);
        assert_eq!(m.segments_named("OBX").count(), 3);
        assert_eq!(m.get("OBX(2)-3").as_deref(), Some("second"));
        assert_eq!(m.get("OBX(3)-1").as_deref(), Some("3"));
        assert_eq!(m.get("OBX(4)-1"), None);
        assert_eq!(m.get("OBX-3").as_deref(), Some("x"));
        assert_eq!(m.get("OBX-3-1-2").as_deref(), Some("y"));
        assert_eq!(m.get("OBX-3-1-3").as_deref(), Some("z"));
        assert_eq!(m.get("OBX-3-1-4"), None);
        let c = m.segment("OBX").expect("OBX").field(3).component(1);
        assert_eq!(c.raw(), "x&y&z");
        assert_eq!(c.subcomponent(2), "y");
        assert_eq!(c.subcomponent(0), "");
        assert_eq!(c.subcomponent(9), "");
        assert_eq!(c.subcomponent_value(3), "z");
        assert_eq!(c.value(), "x");
        assert_eq!(c.decoded(), "x&y&z");
        let subs: Vec<&str> = c.subcomponents().collect();
        assert_eq!(subs, ["x", "y", "z"]);
        let empty = m.msh().field(30);
        assert_eq!(empty.repetitions().count(), 0);
        assert_eq!(empty.repetition(1).components().count(), 0);
        assert_eq!(empty.component(1).subcomponents().count(), 0);
        assert_eq!(empty.value(), "");
    }

    #[test]
    fn escapes_decoded_on_access() {
        let text = concat!(
            "MSH|^~\\&|A\r",
            "NTE|1|a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f|x\\.br\\y\\H\\bold\\N\\z|\\X41\\\\XC3A9\\\\XE9\\|\\Zzz\\ \\X4\\ end\\|p^q\\S\\r~s\r",
        );
        let m = parse(text);
        let nte = m.segment("NTE").expect("NTE");
        assert_eq!(nte.field(2).raw(), "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f");
        assert_eq!(nte.field(2).value(), "a|b^c&d~e\\f");
        assert_eq!(nte.field(2).decoded(), "a|b^c&d~e\\f");
        assert_eq!(nte.field(3).value(), "x\nyboldz");
        assert_eq!(nte.field(4).value(), "Aé\u{e9}");
        assert_eq!(nte.field(5).value(), "\\Zzz\\ \\X4\\ end\\");
        let f6 = nte.field(6);
        assert_eq!(f6.component(2).value(), "q^r");
        assert_eq!(f6.decoded(), "p^q^r~s");
        assert_eq!(f6.repetition(1).decoded(), "p^q^r");
        assert_eq!(f6.repetition(2).value(), "s");
        assert_eq!(m.get("NTE-6-2").as_deref(), Some("q^r"));
        // The raw text is never modified.
        assert!(m.text().contains("a\\F\\b"));
        // Borrowed when nothing is escaped.
        assert!(matches!(m.get("MSH-3"), Some(Cow::Borrowed("A"))));
        assert!(matches!(nte.field(1).value(), Cow::Borrowed("1")));
    }

    #[test]
    fn null_values() {
        let m = parse("MSH|^~\\&|A\rPID|1|\"\"|x^\"\"~\"\"\r");
        let pid = m.segment("PID").expect("PID");
        assert!(pid.field(2).is_null());
        assert!(!pid.field(2).is_empty());
        assert_eq!(pid.field(2).value(), "\"\"");
        assert_eq!(pid.get(2, 1), None);
        assert_eq!(m.get("PID-2"), None);
        assert!(pid.field(3).component(2).is_null());
        assert!(pid.field(3).repetition(2).is_null());
        assert_eq!(m.get("PID-3-2"), None);
        assert_eq!(m.get("PID-3").as_deref(), Some("x"));
        assert!(!pid.field(1).is_null());
    }

    #[test]
    fn line_endings_bom_and_blank_lines() {
        let base: Vec<&str> = VXU.split('\r').filter(|l| !l.is_empty()).collect();
        for (sep, prefix, suffix) in [
            ("\r", "", ""),
            ("\n", "", "\n"),
            ("\r\n", "", "\r\n"),
            ("\r\n\r\n", "\u{feff}", "\r\n\r\n"),
            ("\n\n \n", "\u{feff} \r\n\t", "\n   \n\u{1c}\r"),
            ("\r", "\u{0b}", "\r\u{1c}\r"),
        ] {
            let text = format!("{prefix}{}{suffix}", base.join(sep));
            let m = parse(&text);
            assert_eq!(m.segment_count(), 5, "{text:?}");
            assert_eq!(m.msh().field(3).raw(), "MYEHR2.5");
            assert_eq!(m.get("RXR-2-2").as_deref(), Some("Right Thigh"));
            assert_eq!(m.get("MSH-23").as_deref(), Some("RIIIS"));
            assert_eq!(
                m.segment("RXR").map(|s| s.raw()),
                Some("RXR|C28161^Intramuscular^NCIT|RT^Right Thigh^HL70163")
            );
            assert_eq!(count_messages(&text), 1);
        }
    }

    #[test]
    fn encoding_character_variants() {
        for enc in ["^~\\&", "^~\\&#", "^~\\&amp;"] {
            let text = format!("MSH|{enc}|APP|FAC\rPID|1||a^b~c&d");
            let m = parse(&text);
            assert_eq!(m.delimiters(), Delimiters::default(), "{enc}");
            assert_eq!(m.get("MSH-3").as_deref(), Some("APP"));
            assert_eq!(m.get("MSH-4").as_deref(), Some("FAC"));
            assert_eq!(m.msh().field(2).raw(), enc);
            assert_eq!(m.get("PID-3-2").as_deref(), Some("b"));
            assert_eq!(m.get("PID-3(2)-1-2").as_deref(), Some("d"));
        }
        // Missing encoding characters take the defaults.
        for enc in ["", "^", "^~", "^~\\"] {
            let text = format!("MSH|{enc}|APP");
            let m = parse(&text);
            assert_eq!(m.delimiters(), Delimiters::default(), "{enc}");
            assert_eq!(m.get("MSH-3").as_deref(), Some("APP"));
        }
        let m = parse("MSH|*~\\|APP");
        assert_eq!(m.delimiters().component, '*');
        assert_eq!(m.delimiters().subcomponent, '&');
        // Custom delimiters throughout.
        let m = parse("MSH#*@!$#APP*X#FAC\rPID#1##a*b@c$d*e!F!f!S!g");
        let d = m.delimiters();
        assert_eq!(
            d,
            Delimiters {
                field: '#',
                component: '*',
                repetition: '@',
                escape: '!',
                subcomponent: '$',
            }
        );
        assert_eq!(m.get("MSH-3-2").as_deref(), Some("X"));
        assert_eq!(m.get("PID-3-2").as_deref(), Some("b"));
        assert_eq!(m.get("PID-3(2)-1-2").as_deref(), Some("d"));
        assert_eq!(m.get("PID-3(2)-2").as_deref(), Some("e#f*g"));
        assert_eq!(m.get("MSH-1").as_deref(), Some("#"));
        assert_eq!(m.get("MSH-2").as_deref(), Some("*@!$"));
    }

    #[test]
    fn bad_delimiters() {
        for text in [
            "MSH",
            "MSH\r",
            "MSH\rPID|1",
            "MSHA^~\\&A",
            "MSH1^~\\&1",
            "MSH ^~\\& ",
            "MSH\t^~\\&\t",
            "MSH|^^\\&|",
            "MSH|&|",
            "MSH|A~\\&|",
            "MSH|^~\\ |",
            "MSH|~~\\&|",
            "MSH¦^~\\&¦A",
            "MSH|^~é&|",
            "MSH|^~\\~|",
        ] {
            assert_eq!(
                Message::parse(text).err(),
                Some(ParseError::BadDelimiters),
                "{text:?}"
            );
        }
        for text in [
            "MSH|^~\\|",
            "MSH||",
            "MSH|^~\\|&|",
            "MSH|^~|~|",
            "MSH|^|\\&|",
            "MSH|^~\\\r|",
        ] {
            assert!(Message::parse(text).is_ok(), "{text:?}");
        }
    }

    #[test]
    fn empty_and_junk_input() {
        for t in ["", " ", "\r\n\r\n", "\u{feff}", "\u{feff}  \t\n"] {
            assert_eq!(Message::parse(t).err(), Some(ParseError::Empty), "{t:?}");
        }
        for t in [
            "hello world",
            "<soap:Envelope xmlns:soap=\"x\"/>",
            "MS",
            "msh|^~\\&|",
            "PID|1||x\rMSH|^~\\&|A",
            "{\"json\": true}",
            "\u{0}\u{1}",
            "\u{feff}\u{feff}X",
        ] {
            assert_eq!(Message::parse(t).err(), Some(ParseError::NotHl7), "{t:?}");
        }
        assert!(!ParseError::NotHl7.to_string().is_empty());
        assert!(ParseError::BadDelimiters.to_string().ends_with('.'));
        let e: Box<dyn std::error::Error> = Box::new(ParseError::Empty);
        assert_eq!(e.to_string(), "The message is empty.");
    }

    #[test]
    fn tolerant_segments() {
        let m = parse("MSH|^~\\&|A\rZX\r|abc|d\rP1|x\r  \rmsh|lower");
        let ids: Vec<&str> = m.segments().map(|s| s.id()).collect();
        assert_eq!(ids, ["MSH", "ZX", "", "P1", "msh"]);
        let zx = m.segment("ZX").expect("ZX");
        assert_eq!(zx.field_count(), 0);
        assert!(zx.field(1).is_empty());
        assert_eq!(zx.raw(), "ZX");
        let anon = m.segment_at(2).expect("anon");
        assert_eq!(anon.field(1).raw(), "abc");
        assert_eq!(anon.field(2).raw(), "d");
        assert_eq!(m.get("P1-1").as_deref(), Some("x"));
        // A lone MSH segment.
        let m = parse("MSH|^~\\&");
        assert_eq!(m.segment_count(), 1);
        assert_eq!(m.msh().field_count(), 2);
        assert_eq!(m.get("MSH-3"), None);
        // Trailing separators count as (empty) fields.
        let m = parse("MSH|^~\\&|A\rPID|1|||");
        assert_eq!(m.segment("PID").map(|s| s.field_count()), Some(4));
    }

    #[test]
    fn second_message_header_numbering() {
        let text = "MSH|^~\\&|A|B\rPID|1\rMSH|^~\\&|C|D\rPID|2\r";
        let m = parse(text);
        assert_eq!(m.segments_named("MSH").count(), 2);
        assert_eq!(m.get("MSH(2)-3").as_deref(), Some("C"));
        assert_eq!(m.get("MSH(2)-2").as_deref(), Some("^~\\&"));
        assert_eq!(count_messages(text), 2);
    }

    #[test]
    fn count_messages_cases() {
        assert_eq!(count_messages(""), 0);
        assert_eq!(count_messages("hello"), 0);
        assert_eq!(count_messages(VXU), 1);
        assert_eq!(count_messages(VXU_12), 1);
        let two = format!("{VXU}{VXU}");
        assert_eq!(count_messages(&two), 2);
        assert_eq!(count_messages(&format!("\u{feff}{VXU}\n{VXU}\r\n{VXU}")), 3);
        assert_eq!(count_messages("\u{feff}\r\n MSH|^~\\&|"), 1);
        assert_eq!(count_messages("MSH|a\nMSH|b\rMSH|c\r\nMSH|d"), 4);
        assert_eq!(count_messages("MSHX|a\rMSH\rMSH"), 0);
        assert_eq!(count_messages("xMSH|a\rPID|MSH|b|\r MSH|c"), 0);
        assert_eq!(count_messages("PID|1\rMSH|^~\\&|A"), 1);
        assert_eq!(count_messages("MSH"), 0);
        assert_eq!(count_messages("\rMSH#"), 1);
    }

    #[test]
    fn field_new_and_delimiters_helpers() {
        let f = Field::new("a^b\\S\\c~d", Delimiters::default());
        assert_eq!(f.component(2).value(), "b^c");
        assert_eq!(f.repetition(2).value(), "d");
        assert_eq!(f.delimiters(), Delimiters::DEFAULT);
        let d = Delimiters::default();
        assert_eq!(d.encoding_characters(), ['^', '~', '\\', '&']);
        assert!(d.is_delimiter('&'));
        assert!(!d.is_delimiter('a'));
        assert!(d.validate().is_ok());
        let bad = Delimiters {
            component: '|',
            ..Delimiters::default()
        };
        assert_eq!(bad.validate(), Err(ParseError::BadDelimiters));
    }

    #[test]
    fn twelve_segment_sample() {
        let m = parse(VXU_12);
        assert_eq!(m.segment_count(), 12);
        assert!(
            VXU_12.len() > 1500 && VXU_12.len() < 1800,
            "{}",
            VXU_12.len()
        );
        assert_eq!(m.get("OBX(4)-5").as_deref(), Some("20240515"));
        assert_eq!(m.get("OBX(5)-5-3").as_deref(), Some("cdcgs1vis"));
        assert_eq!(m.get("PID-22-2").as_deref(), Some("Not Hispanic or Latino"));
        assert!(exercise(&m) > 0);
    }

    fn hl7ish() -> impl Strategy<Value = String> {
        let alphabet = vec![
            'M', 'S', 'H', 'P', 'I', 'D', 'X', 'F', 'T', 'R', 'E', 'N', 'A', '0', '9', 'e', '.',
            'b', 'r', '|', '^', '~', '\\', '&', '#', '"', '(', ')', '-', ' ', '\r', '\n',
            '\u{feff}', 'é', '¦', '\u{1c}',
        ];
        (
            prop::sample::select(vec!["MSH", "MSH|^~\\&|", "\u{feff}MSH", " \r\nMSH", ""]),
            prop::collection::vec(prop::sample::select(alphabet), 0..200),
        )
            .prop_map(|(prefix, chars)| {
                let mut s = String::from(prefix);
                s.extend(chars);
                s
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            // No regression files: this module must not write outside src/hl7.
            failure_persistence: None,
            ..ProptestConfig::with_cases(512)
        })]

        #[test]
        fn parse_never_panics_on_arbitrary_text(s in any::<String>()) {
            if let Ok(m) = Message::parse(&s) {
                exercise(&m);
            }
            let _ = count_messages(&s);
        }

        #[test]
        fn parse_never_panics_on_hl7ish_text(s in hl7ish()) {
            let n = count_messages(&s);
            match Message::parse(&s) {
                Ok(m) => {
                    exercise(&m);
                    prop_assert_eq!(m.msh().id(), "MSH");
                    prop_assert!(n >= 1);
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        #[test]
        fn parse_never_panics_with_random_delimiters(
            delims in prop::collection::vec(any::<char>(), 0..6),
            body in hl7ish(),
            paths in prop::collection::vec("[A-Z0-9()\\-.]{0,12}", 0..8),
        ) {
            let mut s = String::from("MSH");
            s.extend(delims);
            s.push_str(&body);
            if let Ok(m) = Message::parse(&s) {
                exercise(&m);
                for p in &paths {
                    let _ = m.get(p);
                }
            }
            let _ = count_messages(&s);
        }
    }

    /// Throughput check: `cargo test --release -- --ignored --nocapture throughput`.
    #[test]
    #[ignore = "manual: speed check, run in release with --nocapture"]
    fn throughput() {
        use std::hint::black_box;
        use std::time::{Duration, Instant};
        const PATHS: [&str; 12] = [
            "MSH-9-2", "MSH-10", "MSH-11", "MSH-12", "PID-3", "PID-5", "PID-5-2", "PID-7", "RXA-5",
            "RXA-3", "RXA-17", "OBX(2)-5",
        ];
        let text = black_box(VXU_12);
        let run = |n: u32| {
            let mut total = 0usize;
            for _ in 0..n {
                let m = match Message::parse(black_box(text)) {
                    Ok(m) => m,
                    Err(e) => panic!("{e}"),
                };
                for p in PATHS {
                    total += m.get(p).map_or(0, |v| v.len());
                }
                let rxa = m.segment("RXA").expect("RXA");
                total += rxa.get(6, 1).map_or(0, |v| v.len());
                total += rxa.field(15).value().len();
                total += m.segments_named("OBX").count();
                black_box(&m);
            }
            total
        };
        black_box(run(20_000));
        let mut best = 0f64;
        for _ in 0..3 {
            let start = Instant::now();
            let mut n = 0u32;
            while start.elapsed() < Duration::from_millis(700) {
                black_box(run(10_000));
                n += 10_000;
            }
            best = best.max(f64::from(n) / start.elapsed().as_secs_f64());
        }
        println!(
            "throughput: {best:.0} messages/s ({} bytes, 12 segments, parse + 15 field reads)",
            text.len()
        );
    }
}
