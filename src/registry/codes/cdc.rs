//! Parsers for CDC's published IIS code-set files, text → records.
//!
//! Formats (as downloaded from CDC's IIS code-set pages):
//! - `cvx.xml` (`<CVXCodes><CVXInfo>` with one child element per field), `vis.xml`
//!   (`<VISLookup><VISInfo>`), `cvxvis.xml` (`<CVXVIS><CVXVISMapping>`);
//! - `mvx.xml` (`<MVXCodes><MVXInfo>`), `vac2vg.xml` (`<VGCodes><CVXVGInfo>`), `cpt.xml`
//!   (`<CPTCodes><CPTInfo>`), whose records are alternating `<Name>`/`<Value>` pairs;
//! - `NDC_Unit_use.txt`, `NDC_Unit_sale.txt`, `NDC_Linker.txt`: one record per line, fields
//!   separated by `|` (a tab-separated file is accepted too), no header (a header line is
//!   skipped if present), CRLF or LF.
//!
//! Every parser is a pure function of the text; none panics, whatever the input. Errors name
//! the file (CDC's usual file name; see [`ParseError::with_file`]), the line, and the record.
//! Unknown elements and extra trailing fields are ignored, so that CDC can add columns.

use std::fmt;
use std::path::{Path, PathBuf};

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::Reader;

use super::{normalize_ndc, CodeSets, CodeStatus, VisStatus};
use crate::date::{self, Date};

/// File names CDC (and its update script) use; the defaults for [`ParseError::file`].
pub const CVX_FILE: &str = "cvx.xml";
pub const MVX_FILE: &str = "mvx.xml";
pub const VAC2VG_FILE: &str = "vac2vg.xml";
pub const CPT_FILE: &str = "cpt.xml";
pub const VIS_FILE: &str = "vis.xml";
pub const CVXVIS_FILE: &str = "cvxvis.xml";
pub const NDC_USE_FILE: &str = "NDC_Unit_use.txt";
pub const NDC_SALE_FILE: &str = "NDC_Unit_sale.txt";
pub const NDC_LINKER_FILE: &str = "NDC_Linker.txt";

/// Malformed input: where (file, 1-based line, record) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    /// The record or element, e.g. `<CVXInfo> #12 (CVX 08)`; may be empty.
    pub context: String,
    pub message: String,
}

impl ParseError {
    fn new(file: &str, line: usize, context: &str, message: impl Into<String>) -> ParseError {
        ParseError {
            file: file.to_string(),
            line,
            context: context.to_string(),
            message: message.into(),
        }
    }

    /// Replaces the file name (e.g. with the path actually read).
    pub fn with_file(mut self, file: impl Into<String>) -> ParseError {
        self.file = file.into();
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if !self.context.is_empty() {
            write!(f, "{}: ", self.context)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// Failure to load a directory of CDC files.
#[derive(Debug, thiserror::Error)]
pub enum CodesError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// One CVX code from `cvx.xml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CvxRecord {
    /// Trimmed, as CDC writes it ("08").
    pub code: String,
    pub short_description: String,
    pub full_name: String,
    pub notes: String,
    pub status: CodeStatus,
    pub last_updated: Option<Date>,
}

impl CvxRecord {
    /// Whether this is a non-specific code: "unspecified formulation" and the like, "unknown"
    /// (999, unknown serogroups) or "all formulations". A product whose name merely leaves one
    /// property unspecified ("Td ... Lf unspecified", CVX 196) is specific.
    pub fn is_non_specific(&self) -> bool {
        let text = format!("{} | {}", self.short_description, self.full_name).to_lowercase();
        (text.contains("unspecified") && !text.contains("lf unspecified"))
            || text.contains("unknown")
            || text.contains("all formulations")
    }
}

/// One manufacturer from `mvx.xml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MvxRecord {
    pub code: String,
    pub name: String,
    pub notes: String,
    pub status: CodeStatus,
    pub last_updated: Option<Date>,
}

/// One CVX → vaccine-group row from `vac2vg.xml` (a CVX in several groups has several rows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vac2VgRecord {
    pub cvx: String,
    pub short_description: String,
    pub status: CodeStatus,
    pub group_name: String,
    /// The group's CVX code.
    pub group_cvx: String,
}

/// One CPT → CVX row from `cpt.xml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CptRecord {
    pub code: String,
    pub description: String,
    pub status: String,
    pub comments: String,
    pub vaccine_name: String,
    /// `None` when the row maps to no CVX.
    pub cvx: Option<String>,
    pub last_updated: Option<Date>,
}

/// One row of `NDC_Unit_use.txt` (17 fields; 15 are required).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NdcUseRecord {
    /// CDC's inner (unit-of-use) ID, referenced by the linker.
    pub id: String,
    pub labeler: String,
    pub product: String,
    pub package: String,
    /// 11 digits, no dashes.
    pub ndc11: String,
    /// `labeler-product-package` as listed (the 10-digit package form).
    pub dashed: String,
    pub proprietary_name: String,
    pub generic_name: String,
    pub labeler_name: String,
    pub start_date: Option<Date>,
    pub end_date: Option<Date>,
    pub package_form: String,
    pub gtin: String,
    pub cvx: String,
    pub cvx_description: String,
    /// The True/False column: true when the unit of use has no separate inner package (the
    /// same NDC is then also a unit of sale).
    pub no_inner_package: bool,
    pub last_updated: Option<Date>,
}

/// One row of `NDC_Unit_sale.txt` (16 fields; 15 are required).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NdcSaleRecord {
    /// CDC's outer (unit-of-sale) ID, referenced by the linker.
    pub id: String,
    pub labeler: String,
    pub product: String,
    pub package: String,
    pub ndc11: String,
    pub dashed: String,
    pub proprietary_name: String,
    pub generic_name: String,
    pub labeler_name: String,
    pub start_date: Option<Date>,
    pub end_date: Option<Date>,
    pub package_form: String,
    pub route: String,
    pub cvx: String,
    pub cvx_description: String,
    pub gtin: String,
    pub last_updated: Option<Date>,
}

/// One row of `NDC_Linker.txt`: unit of sale ↔ unit of use, with the manufacturer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NdcLinkRecord {
    pub id: String,
    /// [`NdcSaleRecord::id`].
    pub outer_id: String,
    /// [`NdcUseRecord::id`].
    pub inner_id: String,
    /// MVX code; may be empty.
    pub mvx: String,
}

/// The three NDC files together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NdcRecords {
    pub unit_of_use: Vec<NdcUseRecord>,
    pub unit_of_sale: Vec<NdcSaleRecord>,
    pub links: Vec<NdcLinkRecord>,
}

/// One VIS edition from `vis.xml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisRecord {
    pub name: String,
    pub edition: Date,
    /// The fully-encoded GS1 string (barcode value).
    pub gs1: String,
    /// GDTI document-type code.
    pub document_code: String,
    pub status: VisStatus,
    pub last_updated: Option<Date>,
}

/// One CVX → VIS edition row from `cvxvis.xml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CvxVisRecord {
    pub cvx: String,
    pub vaccine_description: String,
    pub gs1: String,
    pub document_name: String,
    pub edition: Date,
    pub status: VisStatus,
}

/// Everything read from a directory of CDC files ([`read_cdc_dir`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CdcRecords {
    pub cvx: Vec<CvxRecord>,
    pub mvx: Vec<MvxRecord>,
    pub vac2vg: Vec<Vac2VgRecord>,
    pub cpt: Vec<CptRecord>,
    pub ndc: NdcRecords,
    pub vis: Vec<VisRecord>,
    pub cvx_vis: Vec<CvxVisRecord>,
}

impl CdcRecords {
    /// [`CodeSets::from_records`] followed by [`CodeSets::with_vis`].
    pub fn to_code_sets(&self) -> CodeSets {
        CodeSets::from_records(&self.cvx, &self.mvx, &self.vac2vg, &self.ndc, &self.cpt)
            .with_vis(&self.vis, &self.cvx_vis)
    }
}

/// Reads CDC's files from `dir` under their usual names ([`CVX_FILE`], ...). `vis.xml` and
/// `cvxvis.xml` are optional; the others are required.
pub fn read_cdc_dir(dir: &Path) -> Result<CdcRecords, CodesError> {
    fn load<T>(
        dir: &Path,
        name: &str,
        optional: bool,
        parse: fn(&str) -> Result<Vec<T>, ParseError>,
    ) -> Result<Vec<T>, CodesError> {
        let path = dir.join(name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(CodesError::Io { path, source }),
        };
        parse(&decode_text(&bytes)).map_err(|e| e.with_file(path.display().to_string()).into())
    }
    Ok(CdcRecords {
        cvx: load(dir, CVX_FILE, false, parse_cvx_xml)?,
        mvx: load(dir, MVX_FILE, false, parse_mvx_xml)?,
        vac2vg: load(dir, VAC2VG_FILE, false, parse_vac2vg_xml)?,
        cpt: load(dir, CPT_FILE, false, parse_cpt_xml)?,
        ndc: NdcRecords {
            unit_of_use: load(dir, NDC_USE_FILE, false, parse_ndc_unit_of_use)?,
            unit_of_sale: load(dir, NDC_SALE_FILE, false, parse_ndc_unit_of_sale)?,
            links: load(dir, NDC_LINKER_FILE, false, parse_ndc_linker)?,
        },
        vis: load(dir, VIS_FILE, true, parse_vis_xml)?,
        cvx_vis: load(dir, CVXVIS_FILE, true, parse_cvxvis_xml)?,
    })
}

/// Bytes of a CDC file as text: UTF-8 (a byte-order mark is dropped) or, failing that,
/// ISO-8859-1, which `cvx.xml` declares.
pub fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// XML formats

/// Parses `cvx.xml`.
pub fn parse_cvx_xml(text: &str) -> Result<Vec<CvxRecord>, ParseError> {
    xml_records(text, CVX_FILE, "CVXCodes", "CVXInfo", |r| {
        let code = r.cvx("CVXCode")?;
        r.label(format!("CVX {code}"));
        Ok(CvxRecord {
            short_description: r.required("ShortDescription")?,
            full_name: r.optional("FullVaccinename"),
            notes: r.optional("Notes"),
            status: CodeStatus::parse(&r.required("Status")?),
            last_updated: r.date("LastUpdated")?,
            code,
        })
    })
}

/// Parses `mvx.xml`.
pub fn parse_mvx_xml(text: &str) -> Result<Vec<MvxRecord>, ParseError> {
    xml_records(text, MVX_FILE, "MVXCodes", "MVXInfo", |r| {
        let code = r.required("MVX_CODE")?;
        if !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(r.error(
                "MVX_CODE",
                format!("MVX code '{code}' is not letters and digits"),
            ));
        }
        r.label(format!("MVX {code}"));
        Ok(MvxRecord {
            name: r.required("Manufacturer Name")?,
            notes: r.optional("Notes"),
            status: CodeStatus::parse(&r.required("Status")?),
            last_updated: r.date("Last Updated")?,
            code,
        })
    })
}

/// Parses `vac2vg.xml` (CVX → vaccine group).
pub fn parse_vac2vg_xml(text: &str) -> Result<Vec<Vac2VgRecord>, ParseError> {
    xml_records(text, VAC2VG_FILE, "VGCodes", "CVXVGInfo", |r| {
        let cvx = r.cvx("CVXCode")?;
        r.label(format!("CVX {cvx}"));
        Ok(Vac2VgRecord {
            short_description: r.optional("ShortDescription"),
            status: CodeStatus::parse(&r.optional("Status")),
            group_name: r.required("Vaccine Group Name")?,
            group_cvx: r.cvx("CVX for Vaccine Group")?,
            cvx,
        })
    })
}

/// Parses `cpt.xml` (CPT → CVX).
pub fn parse_cpt_xml(text: &str) -> Result<Vec<CptRecord>, ParseError> {
    xml_records(text, CPT_FILE, "CPTCodes", "CPTInfo", |r| {
        let code = r.required("CPT Code")?;
        if !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(r.error(
                "CPT Code",
                format!("CPT code '{code}' is not letters and digits"),
            ));
        }
        r.label(format!("CPT {code}"));
        let cvx = if r.optional("CVX Code").is_empty() {
            None
        } else {
            Some(r.cvx("CVX Code")?)
        };
        Ok(CptRecord {
            description: r.optional("CPT Desc"),
            status: r.optional("Status"),
            comments: r.optional("Comments"),
            vaccine_name: r.optional("Vaccine Name"),
            last_updated: r.date("LastUpdated")?,
            cvx,
            code,
        })
    })
}

/// Parses `vis.xml` (VIS editions and their GS1 barcodes).
pub fn parse_vis_xml(text: &str) -> Result<Vec<VisRecord>, ParseError> {
    xml_records(text, VIS_FILE, "VISLookup", "VISInfo", |r| {
        let gs1 = r.digits("VIS_encoded_string")?;
        r.label(format!("VIS {gs1}"));
        Ok(VisRecord {
            name: r.required("VIS_Document_Type_Description")?,
            edition: r.required_date("Edition_Date")?,
            document_code: r.optional("VIS_GDTI_document_code"),
            status: VisStatus::parse(&r.optional("status")),
            last_updated: r.date("Lastupdated")?,
            gs1,
        })
    })
}

/// Parses `cvxvis.xml` (CVX → VIS editions).
pub fn parse_cvxvis_xml(text: &str) -> Result<Vec<CvxVisRecord>, ParseError> {
    xml_records(text, CVXVIS_FILE, "CVXVIS", "CVXVISMapping", |r| {
        let cvx = r.cvx("CVXCode")?;
        r.label(format!("CVX {cvx}"));
        Ok(CvxVisRecord {
            vaccine_description: r.optional("CVXVaccineDescription"),
            gs1: r.digits("Fully-encodedString")?,
            document_name: r.optional("VISDocumentName"),
            edition: r.required_date("VISEditionDate")?,
            status: VisStatus::parse(&r.optional("Status")),
            cvx,
        })
    })
}

/// Runs `build` over every `<record>` child of the `<root>` element.
fn xml_records<T>(
    text: &str,
    file: &str,
    root: &str,
    record: &str,
    mut build: impl FnMut(&mut Fields) -> Result<T, ParseError>,
) -> Result<Vec<T>, ParseError> {
    let doc = parse_xml(text, file)?;
    if doc.name != root {
        return Err(ParseError::new(
            file,
            doc.line,
            "",
            format!("expected root element <{root}>, found <{}>", doc.name),
        ));
    }
    let mut out = Vec::new();
    for (index, el) in doc.children.iter().filter(|c| c.name == record).enumerate() {
        let mut fields = Fields::new(el, file, format!("<{record}> #{}", index + 1))?;
        out.push(build(&mut fields)?);
    }
    Ok(out)
}

/// The fields of one XML record, from child elements (`<CVXCode>08</CVXCode>`) or from
/// `<Name>`/`<Value>` pairs, by normalized name (case, spaces and punctuation ignored).
struct Fields {
    file: String,
    line: usize,
    context: String,
    /// (normalized name, trimmed value, line)
    values: Vec<(String, String, usize)>,
}

impl Fields {
    fn new(el: &Element, file: &str, context: String) -> Result<Fields, ParseError> {
        let mut values = Vec::new();
        if el.children.iter().any(|c| c.name == "Name") {
            let mut pending: Option<&Element> = None;
            for child in &el.children {
                match (child.name.as_str(), pending) {
                    ("Name", None) => pending = Some(child),
                    ("Value", Some(name)) => {
                        values.push((
                            field_key(&name.text),
                            child.text.trim().to_string(),
                            name.line,
                        ));
                        pending = None;
                    }
                    ("Name", Some(name)) => {
                        return Err(ParseError::new(
                            file,
                            child.line,
                            &context,
                            format!("<Name>{}</Name> has no <Value>", name.text.trim()),
                        ))
                    }
                    ("Value", None) => {
                        return Err(ParseError::new(
                            file,
                            child.line,
                            &context,
                            "<Value> without a preceding <Name>",
                        ))
                    }
                    _ => {}
                }
            }
            if let Some(name) = pending {
                return Err(ParseError::new(
                    file,
                    name.line,
                    &context,
                    format!("<Name>{}</Name> has no <Value>", name.text.trim()),
                ));
            }
        } else {
            for child in &el.children {
                values.push((
                    field_key(&child.name),
                    child.text.trim().to_string(),
                    child.line,
                ));
            }
        }
        Ok(Fields {
            file: file.to_string(),
            line: el.line,
            context,
            values,
        })
    }

    /// Adds e.g. "(CVX 08)" to the context of later errors.
    fn label(&mut self, label: String) {
        self.context = format!("{} ({label})", self.context);
    }

    fn find(&self, name: &str) -> Option<&(String, String, usize)> {
        let key = field_key(name);
        self.values.iter().find(|(k, _, _)| *k == key)
    }

    fn error(&self, name: &str, message: String) -> ParseError {
        let line = self.find(name).map_or(self.line, |f| f.2);
        ParseError::new(&self.file, line, &self.context, message)
    }

    fn optional(&self, name: &str) -> String {
        self.find(name).map(|f| f.1.clone()).unwrap_or_default()
    }

    fn required(&self, name: &str) -> Result<String, ParseError> {
        match self.find(name) {
            None => Err(self.error(name, format!("missing <{name}>"))),
            Some((_, v, line)) if v.is_empty() => Err(ParseError::new(
                &self.file,
                *line,
                &self.context,
                format!("<{name}> is empty"),
            )),
            Some((_, v, _)) => Ok(v.clone()),
        }
    }

    fn cvx(&self, name: &str) -> Result<String, ParseError> {
        let v = self.required(name)?;
        if is_cvx(&v) {
            Ok(v)
        } else {
            Err(self.error(
                name,
                format!("<{name}> '{v}' is not a CVX code (1-4 digits)"),
            ))
        }
    }

    fn digits(&self, name: &str) -> Result<String, ParseError> {
        let v = self.required(name)?;
        if v.bytes().all(|b| b.is_ascii_digit()) {
            Ok(v)
        } else {
            Err(self.error(name, format!("<{name}> '{v}' is not all digits")))
        }
    }

    fn date(&self, name: &str) -> Result<Option<Date>, ParseError> {
        let v = self.optional(name);
        if v.is_empty() {
            return Ok(None);
        }
        parse_any_date(&v)
            .map(Some)
            .ok_or_else(|| self.error(name, format!("<{name}> '{v}' is not a date (M/D/YYYY)")))
    }

    fn required_date(&self, name: &str) -> Result<Date, ParseError> {
        self.required(name)?;
        self.date(name)?
            .ok_or_else(|| self.error(name, format!("missing <{name}>")))
    }
}

fn field_key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_cvx(code: &str) -> bool {
    (1..=4).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit())
}

/// CDC's dates: `M/D/YYYY` (XML), `YYYYMMDD` (NDC start/end), `YYYY-MM-DD[ HH:MM:SS]` (NDC
/// last-updated).
fn parse_any_date(text: &str) -> Option<Date> {
    let t = text.trim();
    if t.contains('/') {
        return date::parse_us(t);
    }
    if t.contains('-') {
        let day = t.split([' ', 'T']).next().unwrap_or(t);
        return date::parse_iso(day);
    }
    date::parse_compact(t)
}

/// A parsed XML element: name (without namespace prefix), direct text, children, line.
pub(super) struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
    pub line: usize,
}

/// Deeper documents are rejected (CDC's go three levels deep); this also bounds the recursion
/// of dropping the tree.
const MAX_DEPTH: usize = 32;

/// Parses a whole XML document into a tree. Entity and character references are resolved.
pub(super) fn parse_xml(text: &str, file: &str) -> Result<Element, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = LineIndex::new(text);
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|e| {
            ParseError::new(
                file,
                lines.line(reader.error_position()),
                "",
                format!("malformed XML: {e}"),
            )
        })?;
        let line = lines.line(reader.buffer_position());
        let err = |message: String| ParseError::new(file, line, "", message);
        match event {
            Event::Start(start) => {
                let element = open_element(&start, &stack, &root, line, &err)?;
                stack.push(element);
            }
            Event::Empty(start) => {
                let element = open_element(&start, &stack, &root, line, &err)?;
                attach(&mut stack, &mut root, element);
            }
            Event::End(_) => match stack.pop() {
                Some(element) => attach(&mut stack, &mut root, element),
                None => return Err(err("closing tag without an opening tag".to_string())),
            },
            Event::Text(t) => {
                let content = t
                    .decode()
                    .map_err(|e| err(format!("undecodable text: {e}")))?;
                append_text(&mut stack, &content, &err)?;
            }
            Event::CData(t) => {
                let content = t
                    .decode()
                    .map_err(|e| err(format!("undecodable CDATA: {e}")))?;
                append_text(&mut stack, &content, &err)?;
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => return Err(err("bad character reference".to_string())),
                    }
                } else {
                    let name = r
                        .decode()
                        .map_err(|e| err(format!("undecodable entity: {e}")))?;
                    match resolve_predefined_entity(&name) {
                        Some(s) => s.to_string(),
                        None => return Err(err(format!("unknown entity &{name};"))),
                    }
                };
                append_text(&mut stack, &resolved, &err)?;
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(ParseError::new(
            file,
            open.line,
            "",
            format!("end of file inside <{}>", open.name),
        ));
    }
    root.ok_or_else(|| ParseError::new(file, 1, "", "no XML root element"))
}

fn open_element(
    start: &quick_xml::events::BytesStart<'_>,
    stack: &[Element],
    root: &Option<Element>,
    line: usize,
    err: &dyn Fn(String) -> ParseError,
) -> Result<Element, ParseError> {
    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    if root.is_some() {
        return Err(err(format!("element <{name}> after the root element")));
    }
    if stack.len() >= MAX_DEPTH {
        return Err(err(format!("elements nested more than {MAX_DEPTH} deep")));
    }
    Ok(Element {
        name,
        text: String::new(),
        children: Vec::new(),
        line,
    })
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn append_text(
    stack: &mut [Element],
    content: &str,
    err: &dyn Fn(String) -> ParseError,
) -> Result<(), ParseError> {
    match stack.last_mut() {
        Some(element) => {
            element.text.push_str(content);
            Ok(())
        }
        None if content.trim().is_empty() => Ok(()),
        None => Err(err("text outside the root element".to_string())),
    }
}

/// Byte offset → 1-based line number.
struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        LineIndex {
            newlines: text
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        }
    }

    fn line(&self, offset: u64) -> usize {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        self.newlines.partition_point(|&nl| nl < offset) + 1
    }
}

// ---------------------------------------------------------------------------------------------
// Delimited text formats

/// Parses `NDC_Unit_use.txt`.
pub fn parse_ndc_unit_of_use(text: &str) -> Result<Vec<NdcUseRecord>, ParseError> {
    delimited_rows(text, NDC_USE_FILE, 15)?
        .into_iter()
        .map(|row| {
            let (ndc11, dashed) = row.ndc(1, 2, 3, 14)?;
            let gtin = match row.get(10) {
                "" => row.get(16),
                g => g,
            };
            Ok(NdcUseRecord {
                id: row.id(0)?,
                labeler: row.get(1).to_string(),
                product: row.get(2).to_string(),
                package: row.get(3).to_string(),
                ndc11,
                dashed,
                proprietary_name: row.get(4).to_string(),
                generic_name: row.get(5).to_string(),
                labeler_name: row.get(6).to_string(),
                start_date: row.date(7, "start date")?,
                end_date: row.date(8, "end date")?,
                package_form: row.get(9).to_string(),
                gtin: gtin.to_string(),
                cvx: row.cvx(11)?,
                cvx_description: row.get(12).to_string(),
                no_inner_package: row.flag(13)?,
                last_updated: row.date(15, "last-updated date")?,
            })
        })
        .collect()
}

/// Parses `NDC_Unit_sale.txt`.
pub fn parse_ndc_unit_of_sale(text: &str) -> Result<Vec<NdcSaleRecord>, ParseError> {
    delimited_rows(text, NDC_SALE_FILE, 15)?
        .into_iter()
        .map(|row| {
            let (ndc11, dashed) = row.ndc(1, 2, 3, 14)?;
            Ok(NdcSaleRecord {
                id: row.id(0)?,
                labeler: row.get(1).to_string(),
                product: row.get(2).to_string(),
                package: row.get(3).to_string(),
                ndc11,
                dashed,
                proprietary_name: row.get(4).to_string(),
                generic_name: row.get(5).to_string(),
                labeler_name: row.get(6).to_string(),
                start_date: row.date(7, "start date")?,
                end_date: row.date(8, "end date")?,
                package_form: row.get(9).to_string(),
                route: row.get(10).to_string(),
                last_updated: row.date(11, "last-updated date")?,
                cvx: row.cvx(12)?,
                cvx_description: row.get(13).to_string(),
                gtin: row.get(15).to_string(),
            })
        })
        .collect()
}

/// Parses `NDC_Linker.txt`.
pub fn parse_ndc_linker(text: &str) -> Result<Vec<NdcLinkRecord>, ParseError> {
    delimited_rows(text, NDC_LINKER_FILE, 4)?
        .into_iter()
        .map(|row| {
            let mvx = row.get(3);
            if !mvx.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(row.error(format!("field 4: MVX '{mvx}' is not letters and digits")));
            }
            Ok(NdcLinkRecord {
                id: row.id(0)?,
                outer_id: row.id(1)?,
                inner_id: row.id(2)?,
                mvx: mvx.to_string(),
            })
        })
        .collect()
}

struct Row<'a> {
    file: &'a str,
    line: usize,
    fields: Vec<&'a str>,
}

impl Row<'_> {
    fn get(&self, index: usize) -> &str {
        self.fields.get(index).copied().unwrap_or("")
    }

    fn error(&self, message: String) -> ParseError {
        ParseError::new(self.file, self.line, "", message)
    }

    fn id(&self, index: usize) -> Result<String, ParseError> {
        match self.get(index) {
            "" => Err(self.error(format!("field {}: empty ID", index + 1))),
            id => Ok(id.to_string()),
        }
    }

    fn cvx(&self, index: usize) -> Result<String, ParseError> {
        let v = self.get(index);
        if is_cvx(v) {
            Ok(v.to_string())
        } else {
            Err(self.error(format!(
                "field {}: '{v}' is not a CVX code (1-4 digits)",
                index + 1
            )))
        }
    }

    fn date(&self, index: usize, what: &str) -> Result<Option<Date>, ParseError> {
        match self.get(index) {
            "" => Ok(None),
            v => parse_any_date(v).map(Some).ok_or_else(|| {
                self.error(format!("field {}: {what} '{v}' is not a date", index + 1))
            }),
        }
    }

    fn flag(&self, index: usize) -> Result<bool, ParseError> {
        let v = self.get(index);
        match v.to_ascii_lowercase().as_str() {
            "true" | "t" | "y" | "yes" | "1" => Ok(true),
            "false" | "f" | "n" | "no" | "0" | "" => Ok(false),
            _ => Err(self.error(format!("field {}: '{v}' is not True/False", index + 1))),
        }
    }

    /// The NDC from its labeler/product/package fields, checked against the NDC11 field.
    fn ndc(
        &self,
        labeler: usize,
        product: usize,
        package: usize,
        ndc11: usize,
    ) -> Result<(String, String), ParseError> {
        let dashed = format!(
            "{}-{}-{}",
            self.get(labeler),
            self.get(product),
            self.get(package)
        );
        let normalized = normalize_ndc(&dashed).ok_or_else(|| {
            self.error(format!(
                "fields {}-{}: labeler-product-package '{dashed}' is not an NDC",
                labeler + 1,
                package + 1
            ))
        })?;
        let listed = self.get(ndc11);
        if !listed.is_empty() && normalize_ndc(listed).as_deref() != Some(normalized.as_str()) {
            return Err(self.error(format!(
                "field {}: NDC11 '{listed}' does not match labeler-product-package '{dashed}'",
                ndc11 + 1
            )));
        }
        Ok((normalized, dashed))
    }
}

/// Splits delimited text into rows of trimmed fields. The delimiter is `|`, or a tab if the
/// first line has no `|`. Blank lines are skipped, and so is a first line whose first field
/// has letters (a header). Rows need at least `min_fields` fields.
fn delimited_rows<'a>(
    text: &'a str,
    file: &'a str,
    min_fields: usize,
) -> Result<Vec<Row<'a>>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut delimiter = None;
    let mut rows = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        let delim = match delimiter {
            Some(d) => d,
            None => {
                let d = if line.contains('|') {
                    '|'
                } else if line.contains('\t') {
                    '\t'
                } else {
                    return Err(ParseError::new(
                        file,
                        number,
                        "",
                        "no field delimiter ('|' or tab) in the first line",
                    ));
                };
                delimiter = Some(d);
                let first = line.split(d).next().unwrap_or("");
                if first.chars().any(|c| c.is_ascii_alphabetic()) {
                    continue; // header
                }
                d
            }
        };
        let fields: Vec<&str> = line.split(delim).map(str::trim).collect();
        if fields.len() < min_fields {
            let shown = if delim == '\t' { "tab" } else { "|" };
            return Err(ParseError::new(
                file,
                number,
                "",
                format!(
                    "expected at least {min_fields} {shown}-separated fields, found {}",
                    fields.len()
                ),
            ));
        }
        rows.push(Row {
            file,
            line: number,
            fields,
        });
    }
    Ok(rows)
}
