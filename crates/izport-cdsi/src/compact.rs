//! izport's compact text rendering of the supporting data.
//!
//! One record per line, fields separated by `|`, list items by `;`; `\` escapes `\`, `|`, `;` and
//! line breaks inside a field. The first field names the record; child records follow their
//! parent (an `S` series belongs to the last `A` antigen, a `D` dose to the last `S`, ...).
//! Offsets are written `6m-4d`, `1y`, `16y-4m`, `0d`; dates `YYYYMMDD`; flags `Y`/`N`; an empty
//! field is "not applicable". The first line is `CDSI-COMPACT 1`, the last `END|<records>`.

use crate::data::*;
use crate::date::{format_compact_date, parse_date, Offset};
use jiff::civil::Date;
use std::fmt::Write as _;

const MAGIC: &str = "CDSI-COMPACT 1";

fn esc(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
}

fn off_str(o: &Option<Offset>) -> String {
    let Some(o) = o else {
        return String::new();
    };
    let mut s = String::new();
    for (v, u) in [(o.years, 'y'), (o.months, 'm'), (o.days, 'd')] {
        if v == 0 {
            continue;
        }
        if v > 0 && !s.is_empty() {
            s.push('+');
        }
        let _ = write!(s, "{v}{u}");
    }
    if s.is_empty() {
        s.push_str("0d");
    }
    s
}

fn date_str(d: &Option<Date>) -> String {
    d.map(format_compact_date).unwrap_or_default()
}

fn yn(b: bool) -> &'static str {
    if b {
        "Y"
    } else {
        "N"
    }
}

/// Builds one line.
struct Line<'a> {
    out: &'a mut String,
    count: &'a mut usize,
}

impl<'a> Line<'a> {
    fn new(out: &'a mut String, count: &'a mut usize, tag: &str) -> Line<'a> {
        out.push_str(tag);
        *count += 1;
        Line { out, count }
    }
    fn s(self, v: &str) -> Self {
        self.out.push('|');
        esc(self.out, v);
        self
    }
    fn list<I: IntoIterator<Item = S>, S: AsRef<str>>(self, items: I) -> Self {
        self.out.push('|');
        for (i, it) in items.into_iter().enumerate() {
            if i > 0 {
                self.out.push(';');
            }
            esc(self.out, it.as_ref());
        }
        self
    }
    fn end(self) {
        let _ = &self.count;
        self.out.push('\n');
    }
}

impl SupportingData {
    /// Renders the data in izport's compact text format (deterministic: the same data always
    /// gives the same text).
    pub fn to_compact(&self) -> String {
        let mut o = String::with_capacity(1 << 20);
        let mut n = 0usize;
        o.push_str(MAGIC);
        o.push('\n');
        Line::new(&mut o, &mut n, "V").s(&self.version).end();
        for a in &self.antigens {
            Line::new(&mut o, &mut n, "A").s(&a.name).end();
            for ch in &a.immunity.clinical_history {
                Line::new(&mut o, &mut n, "IH")
                    .s(&ch.code)
                    .s(&ch.title)
                    .end();
            }
            for b in &a.immunity.birth_date {
                Line::new(&mut o, &mut n, "IB")
                    .s(&format_compact_date(b.immunity_birth_date))
                    .s(b.birth_country.as_deref().unwrap_or(""))
                    .end();
                for x in &b.exclusions {
                    Line::new(&mut o, &mut n, "IX").s(&x.code).s(&x.title).end();
                }
            }
            for c in &a.antigen_contraindications {
                Line::new(&mut o, &mut n, "CA")
                    .s(&c.code)
                    .s(&c.title)
                    .s(&c.text)
                    .s(&c.guidance)
                    .s(&off_str(&c.begin_age))
                    .s(&off_str(&c.end_age))
                    .end();
            }
            for c in &a.vaccine_contraindications {
                Line::new(&mut o, &mut n, "CV")
                    .s(&c.code)
                    .s(&c.title)
                    .s(&c.text)
                    .s(&c.guidance)
                    .end();
                for v in &c.vaccines {
                    Line::new(&mut o, &mut n, "CVV")
                        .s(&v.vaccine_type)
                        .s(&v.cvx.to_string())
                        .s(&off_str(&v.begin_age))
                        .s(&off_str(&v.end_age))
                        .end();
                }
            }
            for s in &a.series {
                write_series(&mut o, &mut n, s);
            }
        }
        for c in &self.live_virus_conflicts {
            Line::new(&mut o, &mut n, "LC")
                .s(&c.previous_type)
                .s(&c.previous_cvx.to_string())
                .s(&c.current_type)
                .s(&c.current_cvx.to_string())
                .s(&off_str(&c.begin))
                .s(&off_str(&c.min_end))
                .s(&off_str(&c.end))
                .end();
        }
        for g in &self.vaccine_groups {
            Line::new(&mut o, &mut n, "G")
                .s(&g.name)
                .s(g.administer_full.map(yn).unwrap_or(""))
                .list(&g.antigens)
                .end();
        }
        for m in &self.cvx_map {
            Line::new(&mut o, &mut n, "X")
                .s(&m.cvx.to_string())
                .s(&m.description)
                .end();
            for a in &m.associations {
                Line::new(&mut o, &mut n, "XA")
                    .s(&a.antigen)
                    .s(&off_str(&a.begin_age))
                    .s(&off_str(&a.end_age))
                    .end();
            }
        }
        for ob in &self.observations {
            Line::new(&mut o, &mut n, "O")
                .s(&ob.code)
                .s(&ob.title)
                .s(&ob.group)
                .s(&ob.indication_text)
                .s(&ob.contraindication_text)
                .s(&ob.clarifying_text)
                .end();
            for cv in &ob.coded_values {
                Line::new(&mut o, &mut n, "OC")
                    .s(&cv.code)
                    .s(&cv.system)
                    .s(&cv.text)
                    .end();
            }
        }
        let _ = writeln!(o, "END|{n}");
        o
    }
}

fn write_series(o: &mut String, n: &mut usize, s: &Series) {
    Line::new(o, n, "S")
        .s(&s.name)
        .s(&s.target_disease)
        .s(&s.vaccine_group)
        .s(s.series_type.as_str())
        .list(&s.equivalent_series_groups)
        .list(s.required_gender.iter().map(|g| g.code()))
        .s(yn(s.select.default_series))
        .s(yn(s.select.product_path))
        .s(&s.select.group_name)
        .s(&s.select.group)
        .s(&s.select.priority)
        .s(&s
            .select
            .preference
            .map(|p| p.to_string())
            .unwrap_or_default())
        .s(&off_str(&s.select.min_age_to_start))
        .s(&off_str(&s.select.max_age_to_start))
        .s(&s.admin_guidance)
        .end();
    for i in &s.indications {
        Line::new(o, n, "SI")
            .s(&i.code)
            .s(&i.text)
            .s(&i.description)
            .s(&off_str(&i.begin_age))
            .s(&off_str(&i.end_age))
            .s(&i.guidance)
            .end();
    }
    for d in &s.doses {
        let (ss, se) = match &d.season {
            Some(x) => (date_str(&x.start), date_str(&x.end)),
            None => (String::new(), String::new()),
        };
        Line::new(o, n, "D")
            .s(&d.dose_number)
            .s(yn(d.recurring))
            .s(&ss)
            .s(&se)
            .end();
        for a in &d.ages {
            Line::new(o, n, "DA")
                .s(&off_str(&a.abs_min))
                .s(&off_str(&a.min))
                .s(&off_str(&a.earliest_rec))
                .s(&off_str(&a.latest_rec))
                .s(&off_str(&a.max))
                .s(&date_str(&a.effective))
                .s(&date_str(&a.cessation))
                .end();
        }
        for i in &d.intervals {
            let (oc, ot) = match &i.from_relevant_obs {
                Some(x) => (x.code.as_str(), x.text.as_str()),
                None => ("", ""),
            };
            Line::new(o, n, "DI")
                .s(yn(i.from_previous))
                .s(&i
                    .from_target_dose
                    .map(|x| x.to_string())
                    .unwrap_or_default())
                .list(i.from_most_recent.iter().map(|c| c.to_string()))
                .s(oc)
                .s(ot)
                .s(&off_str(&i.abs_min))
                .s(&off_str(&i.min))
                .s(&off_str(&i.earliest_rec))
                .s(&off_str(&i.latest_rec))
                .s(yn(i.priority))
                .s(&date_str(&i.effective))
                .s(&date_str(&i.cessation))
                .end();
        }
        for i in &d.allowable_intervals {
            Line::new(o, n, "DL")
                .s(yn(i.from_previous))
                .s(&i
                    .from_target_dose
                    .map(|x| x.to_string())
                    .unwrap_or_default())
                .s(&off_str(&i.abs_min))
                .s(&date_str(&i.effective))
                .s(&date_str(&i.cessation))
                .end();
        }
        for v in &d.preferable_vaccines {
            Line::new(o, n, "DP")
                .s(&v.vaccine_type)
                .s(&v.cvx.to_string())
                .s(&off_str(&v.begin_age))
                .s(&off_str(&v.end_age))
                .s(&v.trade_name)
                .s(&v.mvx)
                .s(&v.volume)
                .s(yn(v.forecast))
                .end();
        }
        for v in &d.allowable_vaccines {
            Line::new(o, n, "DW")
                .s(&v.vaccine_type)
                .s(&v.cvx.to_string())
                .s(&off_str(&v.begin_age))
                .s(&off_str(&v.end_age))
                .end();
        }
        for v in &d.inadvertent_vaccines {
            Line::new(o, n, "DN")
                .s(&v.vaccine_type)
                .s(&v.cvx.to_string())
                .end();
        }
        for k in &d.conditional_skips {
            Line::new(o, n, "K")
                .s(k.context.as_str())
                .s(logic_str(k.set_logic))
                .end();
            for st in &k.sets {
                Line::new(o, n, "KS")
                    .s(&st.id)
                    .s(&st.description)
                    .s(&date_str(&st.effective))
                    .s(&date_str(&st.cessation))
                    .s(logic_str(st.condition_logic))
                    .end();
                for c in &st.conditions {
                    Line::new(o, n, "KC")
                        .s(&c.id)
                        .s(c.kind.as_str())
                        .s(&date_str(&c.start_date))
                        .s(&date_str(&c.end_date))
                        .s(&off_str(&c.begin_age))
                        .s(&off_str(&c.end_age))
                        .s(&off_str(&c.interval))
                        .s(&c.dose_count.map(|x| x.to_string()).unwrap_or_default())
                        .s(match c.dose_type {
                            Some(DoseType::Valid) => "Valid",
                            Some(DoseType::Total) => "Total",
                            None => "",
                        })
                        .s(match c.count_logic {
                            Some(CountLogic::GreaterThan) => "greater than",
                            Some(CountLogic::EqualTo) => "equal to",
                            Some(CountLogic::LessThan) => "less than",
                            None => "",
                        })
                        .list(c.vaccine_types.iter().map(|x| x.to_string()))
                        .list(&c.series_groups)
                        .end();
                }
            }
        }
    }
}

fn logic_str(l: Option<Logic>) -> &'static str {
    match l {
        Some(Logic::And) => "AND",
        Some(Logic::Or) => "OR",
        None => "",
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Splits a line into raw (still escaped) fields.
fn split_unescaped(s: &str, sep: u8) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == sep {
            out.push(&s[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    out.push(&s[start.min(s.len())..]);
    out
}

fn unesc(s: &str) -> Result<String, String> {
    if !s.contains('\\') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => out.push('\\'),
            Some('|') => out.push('|'),
            Some(';') => out.push(';'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            other => return Err(format!("bad escape \\{}", other.unwrap_or(' '))),
        }
    }
    Ok(out)
}

struct Fields<'a> {
    raw: Vec<&'a str>,
    pos: usize,
}

type R<T> = Result<T, String>;

impl<'a> Fields<'a> {
    fn next_raw(&mut self) -> R<&'a str> {
        let v = self
            .raw
            .get(self.pos)
            .copied()
            .ok_or_else(|| format!("record has too few fields (wanted field {})", self.pos))?;
        self.pos += 1;
        Ok(v)
    }
    fn s(&mut self) -> R<String> {
        unesc(self.next_raw()?)
    }
    fn list(&mut self) -> R<Vec<String>> {
        let r = self.next_raw()?;
        if r.is_empty() {
            return Ok(Vec::new());
        }
        split_unescaped(r, b';').into_iter().map(unesc).collect()
    }
    fn cvx(&mut self) -> R<Cvx> {
        let t = self.next_raw()?;
        parse_cvx(t).ok_or_else(|| format!("bad CVX {t:?}"))
    }
    fn cvx_list(&mut self) -> R<Vec<Cvx>> {
        self.list()?
            .iter()
            .map(|t| parse_cvx(t).ok_or_else(|| format!("bad CVX {t:?}")))
            .collect()
    }
    fn off(&mut self) -> R<Option<Offset>> {
        let t = self.next_raw()?;
        parse_compact_offset(t)
    }
    fn date(&mut self) -> R<Option<Date>> {
        let t = self.next_raw()?;
        if t.is_empty() {
            return Ok(None);
        }
        parse_date(t)
            .map(Some)
            .ok_or_else(|| format!("bad date {t:?}"))
    }
    fn flag(&mut self) -> R<bool> {
        match self.next_raw()? {
            "Y" => Ok(true),
            "N" => Ok(false),
            t => Err(format!("bad flag {t:?}")),
        }
    }
    fn opt_flag(&mut self) -> R<Option<bool>> {
        match self.next_raw()? {
            "Y" => Ok(Some(true)),
            "N" => Ok(Some(false)),
            "" => Ok(None),
            t => Err(format!("bad flag {t:?}")),
        }
    }
    fn opt_u32(&mut self) -> R<Option<u32>> {
        let t = self.next_raw()?;
        if t.is_empty() {
            return Ok(None);
        }
        t.parse().map(Some).map_err(|_| format!("bad number {t:?}"))
    }
    fn logic(&mut self) -> R<Option<Logic>> {
        let t = self.next_raw()?;
        Logic::parse(t).map_err(|_| format!("bad logic {t:?}"))
    }
    fn done(&self) -> R<()> {
        if self.pos == self.raw.len() {
            Ok(())
        } else {
            Err(format!(
                "record has {} fields, expected {}",
                self.raw.len(),
                self.pos
            ))
        }
    }
}

fn parse_compact_offset(t: &str) -> R<Option<Offset>> {
    if t.is_empty() {
        return Ok(None);
    }
    let bad = || format!("bad offset {t:?}");
    let b = t.as_bytes();
    let mut i = 0;
    let mut o = Offset::default();
    while i < b.len() {
        let mut sign = 1i32;
        if b[i] == b'+' || b[i] == b'-' {
            if b[i] == b'-' {
                sign = -1;
            }
            i += 1;
        }
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if st == i || i >= b.len() {
            return Err(bad());
        }
        let v: i32 = t[st..i].parse().map_err(|_| bad())?;
        let v = v * sign;
        let field = match b[i] {
            b'y' => &mut o.years,
            b'm' => &mut o.months,
            b'd' => &mut o.days,
            _ => return Err(bad()),
        };
        *field = field.checked_add(v).ok_or_else(bad)?;
        i += 1;
    }
    Ok(Some(o))
}

fn err(line: usize, message: impl Into<String>) -> DataError {
    DataError::Compact {
        line,
        message: message.into(),
    }
}

impl SupportingData {
    /// Parses izport's compact text (as written by [`SupportingData::to_compact`]).
    pub fn from_compact(text: &str) -> Result<SupportingData, DataError> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, l)) if l.trim_end() == MAGIC => {}
            _ => return Err(err(1, format!("first line is not {MAGIC:?}"))),
        }
        let mut version = String::new();
        let mut antigens: Vec<Antigen> = Vec::new();
        let mut conflicts = Vec::new();
        let mut groups = Vec::new();
        let mut cvx_map: Vec<CvxMapping> = Vec::new();
        let mut observations: Vec<Observation> = Vec::new();
        let mut records = 0usize;
        let mut ended = false;
        for (ln, line) in lines {
            let lno = ln + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            if ended {
                return Err(err(lno, "text after END"));
            }
            let raw = split_unescaped(line, b'|');
            let tag = raw.first().copied().unwrap_or("");
            let mut f = Fields { raw, pos: 1 };
            if tag == "END" {
                let n: usize = f
                    .next_raw()
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| err(lno, "bad END record"))?;
                if n != records {
                    return Err(err(
                        lno,
                        format!("END says {n} records, {records} were read (truncated text?)"),
                    ));
                }
                ended = true;
                continue;
            }
            records += 1;
            let r: R<()> = (|| {
                let no_antigen = || "record before any antigen (A)".to_string();
                match tag {
                    "V" => version = f.s()?,
                    "A" => antigens.push(Antigen {
                        name: f.s()?,
                        immunity: Immunity::default(),
                        antigen_contraindications: Vec::new(),
                        vaccine_contraindications: Vec::new(),
                        series: Vec::new(),
                    }),
                    "IH" => {
                        let a = antigens.last_mut().ok_or_else(no_antigen)?;
                        a.immunity.clinical_history.push(CodeTitle {
                            code: f.s()?,
                            title: f.s()?,
                        });
                    }
                    "IB" => {
                        let a = antigens.last_mut().ok_or_else(no_antigen)?;
                        let date = f.date()?.ok_or("birth-date immunity without a date")?;
                        let c = f.s()?;
                        a.immunity.birth_date.push(BirthDateImmunity {
                            immunity_birth_date: date,
                            birth_country: (!c.is_empty()).then_some(c),
                            exclusions: Vec::new(),
                        });
                    }
                    "IX" => {
                        let b = antigens
                            .last_mut()
                            .and_then(|a| a.immunity.birth_date.last_mut())
                            .ok_or("IX without IB")?;
                        b.exclusions.push(CodeTitle {
                            code: f.s()?,
                            title: f.s()?,
                        });
                    }
                    "CA" => {
                        let a = antigens.last_mut().ok_or_else(no_antigen)?;
                        a.antigen_contraindications.push(AntigenContraindication {
                            code: f.s()?,
                            title: f.s()?,
                            text: f.s()?,
                            guidance: f.s()?,
                            begin_age: f.off()?,
                            end_age: f.off()?,
                        });
                    }
                    "CV" => {
                        let a = antigens.last_mut().ok_or_else(no_antigen)?;
                        a.vaccine_contraindications.push(VaccineContraindication {
                            code: f.s()?,
                            title: f.s()?,
                            text: f.s()?,
                            guidance: f.s()?,
                            vaccines: Vec::new(),
                        });
                    }
                    "CVV" => {
                        let c = antigens
                            .last_mut()
                            .and_then(|a| a.vaccine_contraindications.last_mut())
                            .ok_or("CVV without CV")?;
                        c.vaccines.push(ContraindicatedVaccine {
                            vaccine_type: f.s()?,
                            cvx: f.cvx()?,
                            begin_age: f.off()?,
                            end_age: f.off()?,
                        });
                    }
                    "S" => {
                        let a = antigens.last_mut().ok_or_else(no_antigen)?;
                        let name = f.s()?;
                        let target_disease = f.s()?;
                        let vaccine_group = f.s()?;
                        let st = f.s()?;
                        let series_type =
                            SeriesType::parse(&st).ok_or(format!("bad series type {st:?}"))?;
                        let equivalent_series_groups = f.list()?;
                        let required_gender = f
                            .list()?
                            .iter()
                            .map(|g| Gender::parse(g).ok_or(format!("bad gender {g:?}")))
                            .collect::<R<Vec<_>>>()?;
                        let select = SelectSeries {
                            default_series: f.flag()?,
                            product_path: f.flag()?,
                            group_name: f.s()?,
                            group: f.s()?,
                            priority: f.s()?,
                            preference: f.opt_u32()?,
                            min_age_to_start: f.off()?,
                            max_age_to_start: f.off()?,
                        };
                        let admin_guidance = f.s()?;
                        a.series.push(Series {
                            name,
                            target_disease,
                            vaccine_group,
                            admin_guidance,
                            series_type,
                            equivalent_series_groups,
                            required_gender,
                            select,
                            indications: Vec::new(),
                            doses: Vec::new(),
                        });
                    }
                    "SI" => {
                        let s = last_series(&mut antigens)?;
                        s.indications.push(Indication {
                            code: f.s()?,
                            text: f.s()?,
                            description: f.s()?,
                            begin_age: f.off()?,
                            end_age: f.off()?,
                            guidance: f.s()?,
                        });
                    }
                    "D" => {
                        let s = last_series(&mut antigens)?;
                        let dose_number = f.s()?;
                        let recurring = f.flag()?;
                        let start = f.date()?;
                        let end = f.date()?;
                        let season =
                            (start.is_some() || end.is_some()).then_some(Season { start, end });
                        s.doses.push(SeriesDose {
                            dose_number,
                            recurring,
                            season,
                            ..SeriesDose::default()
                        });
                    }
                    "DA" => {
                        let d = last_dose(&mut antigens)?;
                        d.ages.push(AgeRule {
                            abs_min: f.off()?,
                            min: f.off()?,
                            earliest_rec: f.off()?,
                            latest_rec: f.off()?,
                            max: f.off()?,
                            effective: f.date()?,
                            cessation: f.date()?,
                        });
                    }
                    "DI" => {
                        let d = last_dose(&mut antigens)?;
                        let from_previous = f.flag()?;
                        let from_target_dose = f.opt_u32()?;
                        let from_most_recent = f.cvx_list()?;
                        let oc = f.s()?;
                        let ot = f.s()?;
                        d.intervals.push(Interval {
                            from_previous,
                            from_target_dose,
                            from_most_recent,
                            from_relevant_obs: (!oc.is_empty())
                                .then_some(CodeText { code: oc, text: ot }),
                            abs_min: f.off()?,
                            min: f.off()?,
                            earliest_rec: f.off()?,
                            latest_rec: f.off()?,
                            priority: f.flag()?,
                            effective: f.date()?,
                            cessation: f.date()?,
                        });
                    }
                    "DL" => {
                        let d = last_dose(&mut antigens)?;
                        d.allowable_intervals.push(AllowableInterval {
                            from_previous: f.flag()?,
                            from_target_dose: f.opt_u32()?,
                            abs_min: f.off()?,
                            effective: f.date()?,
                            cessation: f.date()?,
                        });
                    }
                    "DP" => {
                        let d = last_dose(&mut antigens)?;
                        d.preferable_vaccines.push(PreferableVaccine {
                            vaccine_type: f.s()?,
                            cvx: f.cvx()?,
                            begin_age: f.off()?,
                            end_age: f.off()?,
                            trade_name: f.s()?,
                            mvx: f.s()?,
                            volume: f.s()?,
                            forecast: f.flag()?,
                        });
                    }
                    "DW" => {
                        let d = last_dose(&mut antigens)?;
                        d.allowable_vaccines.push(AllowableVaccine {
                            vaccine_type: f.s()?,
                            cvx: f.cvx()?,
                            begin_age: f.off()?,
                            end_age: f.off()?,
                        });
                    }
                    "DN" => {
                        let d = last_dose(&mut antigens)?;
                        d.inadvertent_vaccines.push(VaccineRef {
                            vaccine_type: f.s()?,
                            cvx: f.cvx()?,
                        });
                    }
                    "K" => {
                        let d = last_dose(&mut antigens)?;
                        let ct = f.s()?;
                        d.conditional_skips.push(ConditionalSkip {
                            context: SkipContext::parse(&ct)
                                .ok_or(format!("bad skip context {ct:?}"))?,
                            set_logic: f.logic()?,
                            sets: Vec::new(),
                        });
                    }
                    "KS" => {
                        let k = last_dose(&mut antigens)?
                            .conditional_skips
                            .last_mut()
                            .ok_or("KS without K")?;
                        k.sets.push(SkipSet {
                            id: f.s()?,
                            description: f.s()?,
                            effective: f.date()?,
                            cessation: f.date()?,
                            condition_logic: f.logic()?,
                            conditions: Vec::new(),
                        });
                    }
                    "KC" => {
                        let st = last_dose(&mut antigens)?
                            .conditional_skips
                            .last_mut()
                            .and_then(|k| k.sets.last_mut())
                            .ok_or("KC without KS")?;
                        let id = f.s()?;
                        let kt = f.s()?;
                        let kind =
                            ConditionKind::parse(&kt).ok_or(format!("bad condition {kt:?}"))?;
                        let start_date = f.date()?;
                        let end_date = f.date()?;
                        let begin_age = f.off()?;
                        let end_age = f.off()?;
                        let interval = f.off()?;
                        let dose_count = f.opt_u32()?;
                        let dt = f.s()?;
                        let cl = f.s()?;
                        st.conditions.push(SkipCondition {
                            id,
                            kind,
                            start_date,
                            end_date,
                            begin_age,
                            end_age,
                            interval,
                            dose_count,
                            dose_type: DoseType::parse(&dt)
                                .map_err(|_| format!("bad dose type {dt:?}"))?,
                            count_logic: CountLogic::parse(&cl)
                                .map_err(|_| format!("bad count logic {cl:?}"))?,
                            vaccine_types: f.cvx_list()?,
                            series_groups: f.list()?,
                        });
                    }
                    "LC" => conflicts.push(LiveVirusConflict {
                        previous_type: f.s()?,
                        previous_cvx: f.cvx()?,
                        current_type: f.s()?,
                        current_cvx: f.cvx()?,
                        begin: f.off()?,
                        min_end: f.off()?,
                        end: f.off()?,
                    }),
                    "G" => groups.push(VaccineGroup {
                        name: f.s()?,
                        administer_full: f.opt_flag()?,
                        antigens: f.list()?,
                    }),
                    "X" => cvx_map.push(CvxMapping {
                        cvx: f.cvx()?,
                        description: f.s()?,
                        associations: Vec::new(),
                    }),
                    "XA" => {
                        let m = cvx_map.last_mut().ok_or("XA without X")?;
                        m.associations.push(Association {
                            antigen: f.s()?,
                            begin_age: f.off()?,
                            end_age: f.off()?,
                        });
                    }
                    "O" => observations.push(Observation {
                        code: f.s()?,
                        title: f.s()?,
                        group: f.s()?,
                        indication_text: f.s()?,
                        contraindication_text: f.s()?,
                        clarifying_text: f.s()?,
                        coded_values: Vec::new(),
                    }),
                    "OC" => {
                        let o = observations.last_mut().ok_or("OC without O")?;
                        o.coded_values.push(CodedValue {
                            code: f.s()?,
                            system: f.s()?,
                            text: f.s()?,
                        });
                    }
                    other => return Err(format!("unknown record {other:?}")),
                }
                f.done()
            })();
            r.map_err(|m| err(lno, m))?;
        }
        if !ended {
            return Err(err(text.lines().count(), "no END record (truncated text?)"));
        }
        Ok(SupportingData::new(
            version,
            antigens,
            conflicts,
            groups,
            cvx_map,
            observations,
        ))
    }
}

fn last_series(antigens: &mut [Antigen]) -> R<&mut Series> {
    antigens
        .last_mut()
        .and_then(|a| a.series.last_mut())
        .ok_or_else(|| "record before any series (S)".to_string())
}

fn last_dose(antigens: &mut [Antigen]) -> R<&mut SeriesDose> {
    last_series(antigens)?
        .doses
        .last_mut()
        .ok_or_else(|| "record before any dose (D)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip() {
        for s in [
            "6 months - 4 days",
            "1 year",
            "16 years - 4 months",
            "0 days",
            "-3 days",
        ] {
            let o = Offset::parse(s).unwrap();
            assert_eq!(parse_compact_offset(&off_str(&o)).unwrap(), o, "{s}");
        }
        assert_eq!(
            off_str(&Offset::parse("6 months - 4 days").unwrap()),
            "6m-4d"
        );
        assert_eq!(parse_compact_offset("").unwrap(), None);
        assert!(parse_compact_offset("6x").is_err());
        assert!(parse_compact_offset("m").is_err());
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        esc(&mut s, "a|b;c\\d\ne");
        assert_eq!(s, "a\\|b\\;c\\\\d\\ne");
        let f = split_unescaped(&s, b'|');
        assert_eq!(f.len(), 1);
        assert_eq!(unesc(&s).unwrap(), "a|b;c\\d\ne");
    }

    #[test]
    fn rejects_damage() {
        assert!(SupportingData::from_compact("").is_err());
        assert!(SupportingData::from_compact("CDSI-COMPACT 1\nV|x\n").is_err());
        assert!(SupportingData::from_compact("CDSI-COMPACT 1\nV|x\nEND|2\n").is_err());
        assert!(SupportingData::from_compact("CDSI-COMPACT 1\nS|x\nEND|1\n").is_err());
        let ok = SupportingData::from_compact("CDSI-COMPACT 1\nV|4.64\nEND|1\n").unwrap();
        assert_eq!(ok.version, "4.64");
    }
}
