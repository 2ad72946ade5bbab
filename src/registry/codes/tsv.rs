//! The project's own table format (`data/codes/*.tsv`): UTF-8, tab-separated, one header line
//! naming the columns, one row per code, sorted by code. Lists inside a field are
//! comma-separated; dates are `YYYY-MM-DD`; flags are `Y`/`N`; empty means unknown.

use std::collections::HashMap;

use super::{
    cmp_codes, collapse_whitespace, cvx_key, normalize_ndc, CodeSets, CodeStatus, CptCode, CvxCode,
    Date, MvxCode, NdcCode, NdcKind, ParseError, VaccineGroup, VisDocument, VisStatus,
};

const CVX_HEADER: &[&str] = &[
    "cvx",
    "short_name",
    "status",
    "non_specific",
    "vaccine_groups",
    "last_updated",
];
const GROUP_HEADER: &[&str] = &["group_cvx", "name"];
const MVX_HEADER: &[&str] = &["mvx", "name", "status", "last_updated"];
const NDC_HEADER: &[&str] = &[
    "ndc11",
    "ndc",
    "kind",
    "cvx",
    "mvx",
    "use_ndc11",
    "name",
    "start_date",
    "end_date",
];
const CPT_HEADER: &[&str] = &["cpt", "cvx"];
const VIS_HEADER: &[&str] = &["gs1", "document_code", "name", "edition", "status"];
const CVX_VIS_HEADER: &[&str] = &["cvx", "gs1"];

/// The texts of the seven TSV files that make up a [`CodeSets`].
#[derive(Clone, Copy, Debug, Default)]
pub struct TsvTables<'a> {
    pub cvx: &'a str,
    pub vaccine_groups: &'a str,
    pub mvx: &'a str,
    pub ndc: &'a str,
    pub cpt: &'a str,
    pub vis: &'a str,
    pub cvx_vis: &'a str,
}

impl TsvTables<'_> {
    pub const CVX_FILE: &'static str = "cvx.tsv";
    pub const VACCINE_GROUPS_FILE: &'static str = "vaccine_groups.tsv";
    pub const MVX_FILE: &'static str = "mvx.tsv";
    pub const NDC_FILE: &'static str = "ndc.tsv";
    pub const CPT_FILE: &'static str = "cpt.tsv";
    pub const VIS_FILE: &'static str = "vis.tsv";
    pub const CVX_VIS_FILE: &'static str = "cvx_vis.tsv";
}

impl CodeSets {
    /// Reads our TSV format. Errors name the file (`data/codes/<name>.tsv`) and line.
    pub fn from_tsv(tables: &TsvTables<'_>) -> Result<CodeSets, ParseError> {
        let mut sets = CodeSets::default();

        let mut groups: HashMap<String, VaccineGroup> = HashMap::new();
        for row in rows(
            tables.vaccine_groups,
            TsvTables::VACCINE_GROUPS_FILE,
            GROUP_HEADER,
        )? {
            let cvx = row.cvx(0)?;
            let group = VaccineGroup {
                cvx: cvx.clone(),
                name: row.text(1, "name")?,
            };
            if groups.insert(cvx_key(&cvx), group).is_some() {
                return Err(row.error(format!("duplicate group {cvx}")));
            }
        }

        for row in rows(tables.cvx, TsvTables::CVX_FILE, CVX_HEADER)? {
            let code = row.cvx(0)?;
            let mut vaccine_groups = Vec::new();
            for g in row.list(4) {
                match groups.get(&cvx_key(g)) {
                    Some(group) => vaccine_groups.push(group.clone()),
                    None => {
                        return Err(row.error(format!("vaccine group {g} not in vaccine_groups")))
                    }
                }
            }
            let value = CvxCode {
                short_name: row.text(1, "short_name")?,
                status: CodeStatus::parse(row.get(2)),
                non_specific: row.flag(3)?,
                vaccine_groups,
                last_updated: row.date(5)?,
                code: code.clone(),
            };
            if sets.cvx.insert(cvx_key(&code), value).is_some() {
                return Err(row.error(format!("duplicate CVX {code}")));
            }
        }

        for row in rows(tables.mvx, TsvTables::MVX_FILE, MVX_HEADER)? {
            let code = row.text(0, "mvx")?;
            let value = MvxCode {
                code: code.clone(),
                name: row.text(1, "name")?,
                status: CodeStatus::parse(row.get(2)),
                last_updated: row.date(3)?,
            };
            if sets.mvx.insert(code.to_ascii_uppercase(), value).is_some() {
                return Err(row.error(format!("duplicate MVX {code}")));
            }
        }

        for row in rows(tables.ndc, TsvTables::NDC_FILE, NDC_HEADER)? {
            let ndc11 = row.get(0).to_string();
            if normalize_ndc(&ndc11).as_deref() != Some(ndc11.as_str()) {
                return Err(row.error(format!("'{ndc11}' is not an 11-digit NDC")));
            }
            let dashed = row.get(1).to_string();
            if normalize_ndc(&dashed).as_deref() != Some(ndc11.as_str()) {
                return Err(row.error(format!("'{dashed}' is not the NDC {ndc11}")));
            }
            let kind = NdcKind::parse(row.get(2))
                .ok_or_else(|| row.error(format!("kind '{}' is not use/sale/both", row.get(2))))?;
            let value = NdcCode {
                dashed,
                kind,
                cvx: row.list(3).map(str::to_string).collect(),
                mvx: row.list(4).map(str::to_string).collect(),
                use_units: row.list(5).map(str::to_string).collect(),
                name: row.get(6).to_string(),
                start_date: row.date(7)?,
                end_date: row.date(8)?,
                ndc11: ndc11.clone(),
            };
            if value.cvx.is_empty() {
                return Err(row.error(format!("NDC {ndc11} has no CVX")));
            }
            if sets.ndc.insert(ndc11.clone(), value).is_some() {
                return Err(row.error(format!("duplicate NDC {ndc11}")));
            }
        }

        for row in rows(tables.cpt, TsvTables::CPT_FILE, CPT_HEADER)? {
            let code = row.text(0, "cpt")?;
            let value = CptCode {
                code: code.clone(),
                cvx: row.list(1).map(str::to_string).collect(),
            };
            if value.cvx.is_empty() {
                return Err(row.error(format!("CPT {code} has no CVX")));
            }
            if sets.cpt.insert(code.to_ascii_uppercase(), value).is_some() {
                return Err(row.error(format!("duplicate CPT {code}")));
            }
        }

        for row in rows(tables.vis, TsvTables::VIS_FILE, VIS_HEADER)? {
            let gs1 = row.text(0, "gs1")?;
            let value = VisDocument {
                gs1: gs1.clone(),
                document_code: row.get(1).to_string(),
                name: row.text(2, "name")?,
                edition: row
                    .date(3)?
                    .ok_or_else(|| row.error("empty edition date".to_string()))?,
                status: VisStatus::parse(row.get(4)),
            };
            if sets.vis.insert(gs1.clone(), value).is_some() {
                return Err(row.error(format!("duplicate VIS {gs1}")));
            }
        }

        for row in rows(tables.cvx_vis, TsvTables::CVX_VIS_FILE, CVX_VIS_HEADER)? {
            let cvx = row.cvx(0)?;
            let gs1 = row.get(1);
            let doc = sets
                .vis
                .get(gs1)
                .ok_or_else(|| row.error(format!("VIS {gs1} not in vis.tsv")))?
                .clone();
            sets.cvx_vis.entry(cvx_key(&cvx)).or_default().push(doc);
        }
        for list in sets.cvx_vis.values_mut() {
            list.sort_by(|a, b| (a.edition, &a.gs1).cmp(&(b.edition, &b.gs1)));
        }
        Ok(sets)
    }

    /// Writes our TSV format: (file name, contents) for each of the seven files.
    pub fn to_tsv(&self) -> Vec<(&'static str, String)> {
        let mut cvx: Vec<&CvxCode> = self.cvx.values().collect();
        cvx.sort_by(|a, b| cmp_codes(&a.code, &b.code));
        let cvx_rows = cvx.iter().map(|c| {
            vec![
                c.code.clone(),
                c.short_name.clone(),
                c.status.to_string(),
                flag(c.non_specific),
                join(c.vaccine_groups.iter().map(|g| g.cvx.as_str())),
                date(c.last_updated),
            ]
        });

        let group_rows = self
            .vaccine_group_list()
            .into_iter()
            .map(|g| vec![g.cvx, g.name]);

        let mut mvx: Vec<&MvxCode> = self.mvx.values().collect();
        mvx.sort_by(|a, b| a.code.cmp(&b.code));
        let mvx_rows = mvx.iter().map(|m| {
            vec![
                m.code.clone(),
                m.name.clone(),
                m.status.to_string(),
                date(m.last_updated),
            ]
        });

        let mut ndc: Vec<&NdcCode> = self.ndc.values().collect();
        ndc.sort_by(|a, b| a.ndc11.cmp(&b.ndc11));
        let ndc_rows = ndc.iter().map(|n| {
            vec![
                n.ndc11.clone(),
                n.dashed.clone(),
                n.kind.as_str().to_string(),
                join(n.cvx.iter().map(String::as_str)),
                join(n.mvx.iter().map(String::as_str)),
                join(n.use_units.iter().map(String::as_str)),
                n.name.clone(),
                date(n.start_date),
                date(n.end_date),
            ]
        });

        let mut cpt: Vec<&CptCode> = self.cpt.values().collect();
        cpt.sort_by(|a, b| cmp_codes(&a.code, &b.code));
        let cpt_rows = cpt
            .iter()
            .map(|c| vec![c.code.clone(), join(c.cvx.iter().map(String::as_str))]);

        let mut vis: Vec<&VisDocument> = self.vis.values().collect();
        vis.sort_by(|a, b| a.gs1.cmp(&b.gs1));
        let vis_rows = vis.iter().map(|v| {
            vec![
                v.gs1.clone(),
                v.document_code.clone(),
                v.name.clone(),
                v.edition.to_string(),
                v.status.to_string(),
            ]
        });

        let mut cvx_vis: Vec<(String, String)> = self
            .cvx_vis
            .iter()
            .flat_map(|(key, docs)| {
                let cvx = self.canonical_cvx(key);
                docs.iter().map(move |d| (cvx.clone(), d.gs1.clone()))
            })
            .collect();
        cvx_vis.sort_by(|a, b| cmp_codes(&a.0, &b.0).then_with(|| a.1.cmp(&b.1)));
        let cvx_vis_rows = cvx_vis.into_iter().map(|(c, g)| vec![c, g]);

        vec![
            (TsvTables::CVX_FILE, write(CVX_HEADER, cvx_rows)),
            (
                TsvTables::VACCINE_GROUPS_FILE,
                write(GROUP_HEADER, group_rows),
            ),
            (TsvTables::MVX_FILE, write(MVX_HEADER, mvx_rows)),
            (TsvTables::NDC_FILE, write(NDC_HEADER, ndc_rows)),
            (TsvTables::CPT_FILE, write(CPT_HEADER, cpt_rows)),
            (TsvTables::VIS_FILE, write(VIS_HEADER, vis_rows)),
            (TsvTables::CVX_VIS_FILE, write(CVX_VIS_HEADER, cvx_vis_rows)),
        ]
    }
}

fn write(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut out = header.join("\t");
    out.push('\n');
    for row in rows {
        let cleaned: Vec<String> = row.iter().map(|f| collapse_whitespace(f)).collect();
        out.push_str(&cleaned.join("\t"));
        out.push('\n');
    }
    out
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(",")
}

fn flag(value: bool) -> String {
    if value { "Y" } else { "N" }.to_string()
}

fn date(value: Option<Date>) -> String {
    value.map(|d| d.to_string()).unwrap_or_default()
}

struct TsvRow<'a> {
    file: &'static str,
    line: usize,
    fields: Vec<&'a str>,
}

impl TsvRow<'_> {
    fn error(&self, message: String) -> ParseError {
        ParseError {
            file: format!("data/codes/{}", self.file),
            line: self.line,
            context: String::new(),
            message,
        }
    }

    fn get(&self, index: usize) -> &str {
        self.fields.get(index).copied().unwrap_or("")
    }

    fn text(&self, index: usize, what: &str) -> Result<String, ParseError> {
        match self.get(index) {
            "" => Err(self.error(format!("empty {what}"))),
            v => Ok(v.to_string()),
        }
    }

    fn cvx(&self, index: usize) -> Result<String, ParseError> {
        let v = self.get(index);
        if (1..=4).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()) {
            Ok(v.to_string())
        } else {
            Err(self.error(format!("'{v}' is not a CVX code")))
        }
    }

    fn flag(&self, index: usize) -> Result<bool, ParseError> {
        match self.get(index) {
            "Y" => Ok(true),
            "N" => Ok(false),
            v => Err(self.error(format!("'{v}' is not Y/N"))),
        }
    }

    fn date(&self, index: usize) -> Result<Option<Date>, ParseError> {
        match self.get(index) {
            "" => Ok(None),
            v => crate::date::parse_iso(v)
                .map(Some)
                .ok_or_else(|| self.error(format!("'{v}' is not a YYYY-MM-DD date"))),
        }
    }

    fn list(&self, index: usize) -> impl Iterator<Item = &str> {
        self.get(index).split(',').filter(|s| !s.is_empty())
    }
}

/// Checks the header line and splits the other non-empty lines into exactly as many fields.
fn rows<'a>(
    text: &'a str,
    file: &'static str,
    header: &[&str],
) -> Result<Vec<TsvRow<'a>>, ParseError> {
    let mut lines = text.split('\n').enumerate();
    let first = lines
        .next()
        .map(|(_, l)| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or("");
    let expected = header.join("\t");
    if first != expected {
        return Err(TsvRow {
            file,
            line: 1,
            fields: Vec::new(),
        }
        .error(format!("header is '{first}', expected '{expected}'")));
    }
    let mut out = Vec::new();
    for (index, raw) in lines {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        let row = TsvRow {
            file,
            line: index + 1,
            fields: line.split('\t').collect(),
        };
        if row.fields.len() != header.len() {
            return Err(row.error(format!(
                "{} fields, expected {}",
                row.fields.len(),
                header.len()
            )));
        }
        out.push(row);
    }
    Ok(out)
}
