//! Reads CDC's supporting-data XML (antigen files and ScheduleSupportingData) into the model.
//! Lenient: element names are matched without case, text is trimmed, empty elements mean n/a.

use crate::data::*;
use crate::date::{parse_date, Offset};
use jiff::civil::Date;
use quick_xml::events::Event;
use quick_xml::Reader;

/// A minimal element tree.
#[derive(Debug, Default)]
struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children
            .iter()
            .filter(move |c| c.name.eq_ignore_ascii_case(name))
    }
    /// Trimmed text of a child, empty if absent.
    fn text_of(&self, name: &str) -> String {
        self.child(name)
            .map(|c| c.text.trim().to_string())
            .unwrap_or_default()
    }
}

fn parse_tree(file: &str, xml: &str) -> Result<Node, DataError> {
    let xml = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(false);
    let err = |m: String| DataError::Xml {
        file: file.to_string(),
        message: m,
    };
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| err(format!("at byte {}: {e}", reader.buffer_position())))?;
        match ev {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                stack.push(Node {
                    name,
                    ..Node::default()
                });
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if let Some(top) = stack.last_mut() {
                    top.children.push(Node {
                        name,
                        ..Node::default()
                    });
                }
            }
            Event::End(_) => {
                let node = stack
                    .pop()
                    .ok_or_else(|| err("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Err(err("unbalanced end tag".into())),
                }
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| err(e.to_string()))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::CData(t) => {
                let s = t.decode().map_err(|e| err(e.to_string()))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| err(e.to_string()))?
                        .map(String::from)
                } else {
                    let name = r.decode().map_err(|e| err(e.to_string()))?;
                    match name.as_ref() {
                        "amp" => Some("&".to_string()),
                        "lt" => Some("<".to_string()),
                        "gt" => Some(">".to_string()),
                        "quot" => Some("\"".to_string()),
                        "apos" => Some("'".to_string()),
                        _ => None,
                    }
                };
                let s = resolved.ok_or_else(|| err("unknown entity reference".into()))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err(err("unexpected end of document".into()));
    }
    let mut doc = stack.pop().unwrap_or_default();
    if doc.children.len() != 1 {
        return Err(err("expected exactly one root element".into()));
    }
    Ok(doc.children.remove(0))
}

/// Value readers that report where a bad value was found.
struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn bad(&self, context: &str, value: &str) -> DataError {
        DataError::Value {
            file: self.file.to_string(),
            context: context.to_string(),
            value: value.to_string(),
        }
    }
    fn offset(&self, n: &Node, name: &str, ctx: &str) -> Result<Option<Offset>, DataError> {
        let t = n.text_of(name);
        Offset::parse(&t).map_err(|_| self.bad(&format!("{ctx}/{name}"), &t))
    }
    fn date(&self, n: &Node, name: &str, ctx: &str) -> Result<Option<Date>, DataError> {
        let t = n.text_of(name);
        if is_empty(&t) {
            return Ok(None);
        }
        parse_date(&t)
            .map(Some)
            .ok_or_else(|| self.bad(&format!("{ctx}/{name}"), &t))
    }
    fn cvx(&self, n: &Node, name: &str, ctx: &str) -> Result<Cvx, DataError> {
        let t = n.text_of(name);
        parse_cvx(&t).ok_or_else(|| self.bad(&format!("{ctx}/{name}"), &t))
    }
    fn cvx_list(&self, n: &Node, name: &str, ctx: &str) -> Result<Vec<Cvx>, DataError> {
        let t = n.text_of(name);
        split_list(&t)
            .map(|s| parse_cvx(s).ok_or_else(|| self.bad(&format!("{ctx}/{name}"), &t)))
            .collect()
    }
    fn yes_no(&self, n: &Node, name: &str, ctx: &str) -> Result<bool, DataError> {
        let t = n.text_of(name);
        parse_yes_no(&t).ok_or_else(|| self.bad(&format!("{ctx}/{name}"), &t))
    }
}

fn is_empty(t: &str) -> bool {
    let t = t.trim();
    t.is_empty() || t.eq_ignore_ascii_case("n/a")
}

/// Items of a `;` (or `,`) separated list, trimmed, empty items dropped.
fn split_list(t: &str) -> impl Iterator<Item = &str> {
    t.split([';', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("n/a"))
}

fn parse_yes_no(t: &str) -> Option<bool> {
    match norm(t).as_str() {
        "y" | "yes" | "true" | "override" => Some(true),
        "n" | "no" | "false" | "" | "n/a" => Some(false),
        _ => None,
    }
}

fn code_titles(n: &Node, code: &str, title: &str) -> CodeTitle {
    CodeTitle {
        code: n.text_of(code),
        title: n.text_of(title),
    }
}

/// What one XML file turned out to be.
pub(crate) enum Parsed {
    Antigen(Antigen),
    Schedule {
        conflicts: Vec<LiveVirusConflict>,
        groups: Vec<VaccineGroup>,
        cvx_map: Vec<CvxMapping>,
        observations: Vec<Observation>,
    },
}

pub(crate) fn parse_file(file: &str, xml: &str) -> Result<Parsed, DataError> {
    let root = parse_tree(file, xml)?;
    let c = Ctx { file };
    if root.name.eq_ignore_ascii_case("antigenSupportingData") {
        Ok(Parsed::Antigen(antigen(&c, &root)?))
    } else if root.name.eq_ignore_ascii_case("scheduleSupportingData") {
        schedule(&c, &root)
    } else {
        Err(DataError::UnknownRoot {
            file: file.to_string(),
            root: root.name,
        })
    }
}

fn antigen(c: &Ctx, root: &Node) -> Result<Antigen, DataError> {
    let mut immunity = Immunity::default();
    if let Some(im) = root.child("immunity") {
        for ch in im.all("clinicalHistory") {
            immunity
                .clinical_history
                .push(code_titles(ch, "guidelineCode", "guidelineTitle"));
        }
        for dob in im.all("dateOfBirth") {
            let Some(date) = c.date(dob, "immunityBirthDate", "immunity")? else {
                continue;
            };
            let country = dob.text_of("birthCountry");
            immunity.birth_date.push(BirthDateImmunity {
                immunity_birth_date: date,
                birth_country: (!is_empty(&country)).then_some(country),
                exclusions: dob
                    .all("exclusion")
                    .map(|e| code_titles(e, "exclusionCode", "exclusionTitle"))
                    .filter(|ct| !ct.code.is_empty())
                    .collect(),
            });
        }
    }
    let mut antigen_ci = Vec::new();
    let mut vaccine_ci = Vec::new();
    if let Some(cis) = root.child("contraindications") {
        if let Some(vg) = cis.child("vaccineGroup") {
            for ci in vg.all("contraindication") {
                antigen_ci.push(AntigenContraindication {
                    code: ci.text_of("observationCode"),
                    title: ci.text_of("observationTitle"),
                    text: ci.text_of("contraindicationText"),
                    guidance: ci.text_of("contraindicationGuidance"),
                    begin_age: c.offset(ci, "beginAge", "contraindication")?,
                    end_age: c.offset(ci, "endAge", "contraindication")?,
                });
            }
        }
        if let Some(v) = cis.child("vaccine") {
            for ci in v.all("contraindication") {
                let mut vaccines = Vec::new();
                for cv in ci.all("contraindicatedVaccine") {
                    vaccines.push(ContraindicatedVaccine {
                        vaccine_type: cv.text_of("vaccineType"),
                        cvx: c.cvx(cv, "cvx", "contraindicatedVaccine")?,
                        begin_age: c.offset(cv, "beginAge", "contraindicatedVaccine")?,
                        end_age: c.offset(cv, "endAge", "contraindicatedVaccine")?,
                    });
                }
                vaccine_ci.push(VaccineContraindication {
                    code: ci.text_of("observationCode"),
                    title: ci.text_of("observationTitle"),
                    text: ci.text_of("contraindicationText"),
                    guidance: ci.text_of("contraindicationGuidance"),
                    vaccines,
                });
            }
        }
    }
    let mut series = Vec::new();
    for s in root.all("series") {
        series.push(one_series(c, s)?);
    }
    let name = series
        .first()
        .map(|s| s.target_disease.clone())
        .unwrap_or_default();
    if name.is_empty() {
        return Err(c.bad("series/targetDisease", ""));
    }
    Ok(Antigen {
        name,
        immunity,
        antigen_contraindications: antigen_ci,
        vaccine_contraindications: vaccine_ci,
        series,
    })
}

fn one_series(c: &Ctx, s: &Node) -> Result<Series, DataError> {
    let name = s.text_of("seriesName");
    let ctx = format!("series {name:?}");
    let st = s.text_of("seriesType");
    let series_type = SeriesType::parse(&st).ok_or_else(|| c.bad(&ctx, &st))?;
    let mut required_gender = Vec::new();
    for g in s.all("requiredGender") {
        for item in split_list(&g.text) {
            let gender = Gender::parse(item).ok_or_else(|| c.bad(&ctx, item))?;
            if !required_gender.contains(&gender) {
                required_gender.push(gender);
            }
        }
    }
    let sel = s.child("selectSeries");
    let select = match sel {
        Some(n) => {
            let pref = n.text_of("seriesPreference");
            SelectSeries {
                default_series: c.yes_no(n, "defaultSeries", &ctx)?,
                product_path: c.yes_no(n, "productPath", &ctx)?,
                group_name: n.text_of("seriesGroupName"),
                group: n.text_of("seriesGroup"),
                priority: n.text_of("seriesPriority"),
                preference: if is_empty(&pref) {
                    None
                } else {
                    Some(pref.parse().map_err(|_| c.bad(&ctx, &pref))?)
                },
                min_age_to_start: c.offset(n, "minAgeToStart", &ctx)?,
                max_age_to_start: c.offset(n, "maxAgeToStart", &ctx)?,
            }
        }
        None => SelectSeries::default(),
    };
    let mut indications = Vec::new();
    for ind in s.all("indication") {
        let (code, text) = match ind.child("observationCode") {
            Some(oc) => (oc.text_of("code"), oc.text_of("text")),
            None => (String::new(), String::new()),
        };
        if code.is_empty() {
            continue;
        }
        indications.push(Indication {
            code,
            text,
            description: ind.text_of("description"),
            begin_age: c.offset(ind, "beginAge", &ctx)?,
            end_age: c.offset(ind, "endAge", &ctx)?,
            guidance: ind.text_of("guidance"),
        });
    }
    let mut doses = Vec::new();
    for d in s.all("seriesDose") {
        doses.push(series_dose(c, d, &ctx)?);
    }
    Ok(Series {
        name: name.clone(),
        target_disease: s.text_of("targetDisease"),
        vaccine_group: s.text_of("vaccineGroup"),
        admin_guidance: s.text_of("seriesAdminGuidance"),
        series_type,
        equivalent_series_groups: split_list(&s.text_of("equivalentSeriesGroups"))
            .map(String::from)
            .collect(),
        required_gender,
        select,
        indications,
        doses,
    })
}

fn has_content(n: &Node) -> bool {
    !n.children.is_empty() || !n.text.trim().is_empty()
}

fn series_dose(c: &Ctx, d: &Node, sctx: &str) -> Result<SeriesDose, DataError> {
    let dose_number = d.text_of("doseNumber");
    let ctx = format!("{sctx} {dose_number}");
    let mut out = SeriesDose {
        dose_number: dose_number.clone(),
        ..SeriesDose::default()
    };
    for a in d.all("age") {
        let row = AgeRule {
            abs_min: c.offset(a, "absMinAge", &ctx)?,
            min: c.offset(a, "minAge", &ctx)?,
            earliest_rec: c.offset(a, "earliestRecAge", &ctx)?,
            latest_rec: c.offset(a, "latestRecAge", &ctx)?,
            max: c.offset(a, "maxAge", &ctx)?,
            effective: c.date(a, "effectiveDate", &ctx)?,
            cessation: c.date(a, "cessationDate", &ctx)?,
        };
        if row != AgeRule::default() {
            out.ages.push(row);
        }
    }
    for i in d.all("interval") {
        if !has_content(i) {
            continue;
        }
        let rel = i.child("fromRelevantObs").and_then(|o| {
            let code = o.text_of("code");
            (!is_empty(&code)).then(|| CodeText {
                code,
                text: o.text_of("text"),
            })
        });
        let ftd = i.text_of("fromTargetDose");
        out.intervals.push(Interval {
            from_previous: c.yes_no(i, "fromPrevious", &ctx)?,
            from_target_dose: if is_empty(&ftd) {
                None
            } else {
                Some(ftd.parse().map_err(|_| c.bad(&ctx, &ftd))?)
            },
            from_most_recent: c.cvx_list(i, "fromMostRecent", &ctx)?,
            from_relevant_obs: rel,
            abs_min: c.offset(i, "absMinInt", &ctx)?,
            min: c.offset(i, "minInt", &ctx)?,
            earliest_rec: c.offset(i, "earliestRecInt", &ctx)?,
            latest_rec: c.offset(i, "latestRecInt", &ctx)?,
            priority: c.yes_no(i, "intervalPriority", &ctx)?,
            effective: c.date(i, "effectiveDate", &ctx)?,
            cessation: c.date(i, "cessationDate", &ctx)?,
        });
    }
    for i in d.all("allowableInterval") {
        if !has_content(i) {
            continue;
        }
        let ftd = i.text_of("fromTargetDose");
        out.allowable_intervals.push(AllowableInterval {
            from_previous: c.yes_no(i, "fromPrevious", &ctx)?,
            from_target_dose: if is_empty(&ftd) {
                None
            } else {
                Some(ftd.parse().map_err(|_| c.bad(&ctx, &ftd))?)
            },
            abs_min: c.offset(i, "absMinInt", &ctx)?,
            effective: c.date(i, "effectiveDate", &ctx)?,
            cessation: c.date(i, "cessationDate", &ctx)?,
        });
    }
    for v in d.all("preferableVaccine") {
        if !has_content(v) {
            continue;
        }
        out.preferable_vaccines.push(PreferableVaccine {
            vaccine_type: v.text_of("vaccineType"),
            cvx: c.cvx(v, "cvx", &ctx)?,
            begin_age: c.offset(v, "beginAge", &ctx)?,
            end_age: c.offset(v, "endAge", &ctx)?,
            trade_name: v.text_of("tradeName"),
            mvx: v.text_of("mvx"),
            volume: v.text_of("volume"),
            forecast: c.yes_no(v, "forecastVaccineType", &ctx)?,
        });
    }
    for v in d.all("allowableVaccine") {
        if !has_content(v) {
            continue;
        }
        out.allowable_vaccines.push(AllowableVaccine {
            vaccine_type: v.text_of("vaccineType"),
            cvx: c.cvx(v, "cvx", &ctx)?,
            begin_age: c.offset(v, "beginAge", &ctx)?,
            end_age: c.offset(v, "endAge", &ctx)?,
        });
    }
    for v in d.all("inadvertentVaccine") {
        if !has_content(v) {
            continue;
        }
        out.inadvertent_vaccines.push(VaccineRef {
            vaccine_type: v.text_of("vaccineType"),
            cvx: c.cvx(v, "cvx", &ctx)?,
        });
    }
    for cs in d.all("conditionalSkip") {
        if !has_content(cs) {
            continue;
        }
        let ct = cs.text_of("context");
        let context = SkipContext::parse(&ct).ok_or_else(|| c.bad(&ctx, &ct))?;
        let sl = cs.text_of("setLogic");
        let set_logic = Logic::parse(&sl).map_err(|_| c.bad(&ctx, &sl))?;
        let mut sets = Vec::new();
        for st in cs.all("set") {
            let cl = st.text_of("conditionLogic");
            let mut conditions = Vec::new();
            for cd in st.all("condition") {
                let kt = cd.text_of("conditionType");
                let kind = ConditionKind::parse(&kt).ok_or_else(|| c.bad(&ctx, &kt))?;
                let dc = cd.text_of("doseCount");
                let dt = cd.text_of("doseType");
                let dl = cd.text_of("doseCountLogic");
                conditions.push(SkipCondition {
                    id: cd.text_of("conditionID"),
                    kind,
                    start_date: c.date(cd, "startDate", &ctx)?,
                    end_date: c.date(cd, "endDate", &ctx)?,
                    begin_age: c.offset(cd, "beginAge", &ctx)?,
                    end_age: c.offset(cd, "endAge", &ctx)?,
                    interval: c.offset(cd, "interval", &ctx)?,
                    dose_count: if is_empty(&dc) {
                        None
                    } else {
                        Some(dc.parse().map_err(|_| c.bad(&ctx, &dc))?)
                    },
                    dose_type: DoseType::parse(&dt).map_err(|_| c.bad(&ctx, &dt))?,
                    count_logic: CountLogic::parse(&dl).map_err(|_| c.bad(&ctx, &dl))?,
                    vaccine_types: c.cvx_list(cd, "vaccineTypes", &ctx)?,
                    series_groups: split_list(&cd.text_of("seriesGroups"))
                        .map(String::from)
                        .collect(),
                });
            }
            sets.push(SkipSet {
                id: st.text_of("setID"),
                description: st.text_of("setDescription"),
                effective: c.date(st, "effectiveDate", &ctx)?,
                cessation: c.date(st, "cessationDate", &ctx)?,
                condition_logic: Logic::parse(&cl).map_err(|_| c.bad(&ctx, &cl))?,
                conditions,
            });
        }
        out.conditional_skips.push(ConditionalSkip {
            context,
            set_logic,
            sets,
        });
    }
    out.recurring = c.yes_no(d, "recurringDose", &ctx)?;
    if let Some(sr) = d.child("seasonalRecommendation") {
        let season = Season {
            start: c.date(sr, "startDate", &ctx)?,
            end: c.date(sr, "endDate", &ctx)?,
        };
        if season != Season::default() {
            out.season = Some(season);
        }
    }
    Ok(out)
}

fn schedule(c: &Ctx, root: &Node) -> Result<Parsed, DataError> {
    let mut conflicts = Vec::new();
    if let Some(lv) = root.child("liveVirusConflicts") {
        for x in lv.all("liveVirusConflict") {
            let (Some(p), Some(cur)) = (x.child("previous"), x.child("current")) else {
                return Err(c.bad("liveVirusConflict", "missing previous/current"));
            };
            conflicts.push(LiveVirusConflict {
                previous_type: p.text_of("vaccineType"),
                previous_cvx: c.cvx(p, "cvx", "liveVirusConflict/previous")?,
                current_type: cur.text_of("vaccineType"),
                current_cvx: c.cvx(cur, "cvx", "liveVirusConflict/current")?,
                begin: c.offset(x, "conflictBeginInterval", "liveVirusConflict")?,
                min_end: c.offset(x, "minConflictEndInterval", "liveVirusConflict")?,
                end: c.offset(x, "conflictEndInterval", "liveVirusConflict")?,
            });
        }
    }
    let mut groups: Vec<VaccineGroup> = Vec::new();
    if let Some(vgs) = root.child("vaccineGroups") {
        for g in vgs.all("vaccineGroup") {
            let af = g.text_of("administerFullVaccineGroup");
            groups.push(VaccineGroup {
                name: g.text_of("name"),
                administer_full: if is_empty(&af) {
                    None
                } else {
                    Some(
                        parse_yes_no(&af)
                            .ok_or_else(|| c.bad("administerFullVaccineGroup", &af))?,
                    )
                },
                antigens: Vec::new(),
            });
        }
    }
    if let Some(m) = root.child("vaccineGroupToAntigenMap") {
        for g in m.all("vaccineGroupMap") {
            let name = g.text_of("name");
            let ants: Vec<String> = g
                .all("antigen")
                .map(|a| a.text.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect();
            match groups.iter_mut().find(|x| key(&x.name) == key(&name)) {
                Some(x) => x.antigens = ants,
                None => groups.push(VaccineGroup {
                    name,
                    administer_full: None,
                    antigens: ants,
                }),
            }
        }
    }
    let mut cvx_map = Vec::new();
    if let Some(m) = root.child("cvxToAntigenMap") {
        for x in m.all("cvxMap") {
            let mut associations = Vec::new();
            for a in x.all("association") {
                associations.push(Association {
                    antigen: a.text_of("antigen"),
                    begin_age: c.offset(a, "associationBeginAge", "cvxMap")?,
                    end_age: c.offset(a, "associationEndAge", "cvxMap")?,
                });
            }
            cvx_map.push(CvxMapping {
                cvx: c.cvx(x, "cvx", "cvxMap")?,
                description: x.text_of("shortDescription"),
                associations,
            });
        }
    }
    let mut observations = Vec::new();
    if let Some(m) = root.child("observations") {
        for o in m.all("observation") {
            let mut coded = Vec::new();
            if let Some(cv) = o.child("codedValues") {
                for v in cv.all("codedValue") {
                    coded.push(CodedValue {
                        code: v.text_of("code"),
                        system: v.text_of("codeSystem"),
                        text: v.text_of("text"),
                    });
                }
            }
            observations.push(Observation {
                code: o.text_of("observationCode"),
                title: o.text_of("observationTitle"),
                group: o.text_of("group"),
                indication_text: o.text_of("indicationText"),
                contraindication_text: o.text_of("contraindicationText"),
                clarifying_text: o.text_of("clarifyingText"),
                coded_values: coded,
            });
        }
    }
    Ok(Parsed::Schedule {
        conflicts,
        groups,
        cvx_map,
        observations,
    })
}

impl SupportingData {
    /// Reads CDC's supporting-data XML: every antigen file plus ScheduleSupportingData, each as
    /// (file name, text). The file name is only used in error messages; each file is recognised
    /// by its root element. The XML carries no version: label the set with
    /// [`SupportingData::with_version`].
    pub fn from_xml<'a, N: AsRef<str>>(
        files: impl IntoIterator<Item = (N, &'a str)>,
    ) -> Result<SupportingData, DataError> {
        let mut antigens: Vec<Antigen> = Vec::new();
        let mut sched = None;
        for (name, text) in files {
            match parse_file(name.as_ref(), text)? {
                Parsed::Antigen(a) => antigens.push(a),
                Parsed::Schedule {
                    conflicts,
                    groups,
                    cvx_map,
                    observations,
                } => sched = Some((conflicts, groups, cvx_map, observations)),
            }
        }
        let (conflicts, groups, cvx_map, observations) = sched.ok_or(DataError::MissingSchedule)?;
        Ok(SupportingData::new(
            String::new(),
            antigens,
            conflicts,
            groups,
            cvx_map,
            observations,
        ))
    }

    /// Sets the version label (CDC's release, e.g. `4.64`).
    pub fn with_version(mut self, version: &str) -> SupportingData {
        self.version = version.trim().to_string();
        self
    }
}
