//! A minimal HL7 v2 reader for the tests, written apart from the codec under test: the
//! expected answers (NIST's ACKs, the corpus's RSPs) and the server's answers are read with it,
//! so that a fault in `izport::hl7` cannot make both sides agree.
//!
//! It splits segments on CR or LF, fields on MSH-1, and components on the first character of
//! MSH-2; it does not unescape. That is enough for the coded fields the tests compare.

/// A message as segments of fields; `fields[0]` is the segment id. For MSH, `fields[n]` is
/// MSH-n (MSH-1 is the field separator itself), as for every other segment.
pub struct Hl7 {
    segments: Vec<Vec<String>>,
    component: char,
}

impl Hl7 {
    pub fn read(text: &str) -> Hl7 {
        let text = text.trim_start_matches('\u{feff}');
        let mut separator = '|';
        let mut component = '^';
        if let Some(msh) = text.split(['\r', '\n']).find(|l| l.starts_with("MSH")) {
            let mut chars = msh.chars().skip(3);
            separator = chars.next().unwrap_or('|');
            component = chars.next().unwrap_or('^');
        }
        let segments = text
            .split(['\r', '\n'])
            .map(str::trim_end)
            .filter(|l| l.len() >= 3)
            .map(|l| {
                let mut fields: Vec<String> = l.split(separator).map(str::to_string).collect();
                if fields[0] == "MSH" {
                    fields.insert(1, separator.to_string());
                }
                fields
            })
            .collect();
        Hl7 {
            segments,
            component,
        }
    }

    /// Every segment with this id, in order.
    pub fn all(&self, id: &str) -> Vec<Segment<'_>> {
        self.segments
            .iter()
            .filter(|s| s[0] == id)
            .map(|fields| Segment {
                fields,
                component: self.component,
            })
            .collect()
    }

    /// The first segment with this id.
    pub fn first(&self, id: &str) -> Option<Segment<'_>> {
        self.all(id).into_iter().next()
    }

    /// Field `n` of the first segment `id` ("" when absent).
    pub fn field(&self, id: &str, n: usize) -> String {
        self.first(id)
            .map(|s| s.field(n).to_string())
            .unwrap_or_default()
    }

    /// Component `c` (1-based) of field `n` of the first segment `id`, trimmed.
    pub fn component(&self, id: &str, n: usize, c: usize) -> String {
        self.first(id)
            .map(|s| s.component(n, c))
            .unwrap_or_default()
    }

    /// The segment ids in order.
    pub fn ids(&self) -> Vec<&str> {
        self.segments.iter().map(|s| s[0].as_str()).collect()
    }
}

#[derive(Clone, Copy)]
pub struct Segment<'a> {
    fields: &'a [String],
    component: char,
}

impl Segment<'_> {
    /// Field `n`, raw ("" when absent).
    pub fn field(&self, n: usize) -> &str {
        self.fields.get(n).map(String::as_str).unwrap_or("")
    }

    /// Component `c` (1-based) of the first repetition of field `n`, trimmed.
    pub fn component(&self, n: usize, c: usize) -> String {
        let first = self.field(n).split('~').next().unwrap_or("");
        first
            .split(self.component)
            .nth(c - 1)
            .unwrap_or("")
            .trim()
            .to_string()
    }
}

#[test]
fn reads_fields_and_components_by_their_numbers() {
    let m = Hl7::read("MSH|^~\\&|A|B|||||VXU^V04^VXU_V04|C1|P|2.5.1\nERR||RXA^1^5^1^1|103^Table value not found^HL70357|E\r\n");
    assert_eq!(m.field("MSH", 1), "|");
    assert_eq!(m.field("MSH", 3), "A");
    assert_eq!(m.component("MSH", 9, 2), "V04");
    assert_eq!(m.field("MSH", 10), "C1");
    assert_eq!(m.field("ERR", 2), "RXA^1^5^1^1");
    assert_eq!(m.component("ERR", 3, 1), "103");
    assert_eq!(m.component("ERR", 4, 1), "E");
    assert_eq!(m.component("ERR", 5, 1), "");
    assert_eq!(m.ids(), ["MSH", "ERR"]);
}
