//! The small HL7 and CDC tables the VXU validator checks coded fields against: route, site,
//! VFC eligibility, funding source, information source, completion status, action code, refusal
//! reason, relationship, race, ethnicity, publicity, protection, registry status, the OBX-3
//! observation codes (with their OBX-2 value types), evidence of immunity, contraindications and
//! the VFC-eligibility capture method.
//!
//! Codes and statuses follow the immregistries "codebase" sets (HL7 2.5.1 and CDC IIS
//! Implementation Guide R1.5 tables); labels are ours. Where that source is inconsistent it is
//! corrected here: site `LA`/`RA` are HL70163's "Left Arm"/"Right Arm" (the source lists LA twice),
//! race `2076-8` is listed once, the ethnicity codes `2135-2`/`2186-5` are deprecated as race
//! values, and the schedule observation is LOINC `59779-9` (the source's `59799-9` is a typo).

use EntryStatus::{Deprecated, Ignored, Invalid, Valid};

/// Status of a code in a small table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryStatus {
    /// Current and meaningful.
    Valid,
    /// Still recognized, but senders should use the replacement code.
    Deprecated,
    /// Recognized but carries no information the registry uses (e.g. NK1 relationship
    /// "Employer" for a guardian).
    Ignored,
    /// Recognized as not allowed (e.g. VFC eligibility V00).
    Invalid,
}

impl EntryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Valid => "Valid",
            EntryStatus::Deprecated => "Deprecated",
            EntryStatus::Ignored => "Ignored",
            EntryStatus::Invalid => "Invalid",
        }
    }
}

/// One code of a small table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub code: &'static str,
    pub label: &'static str,
    /// The coding system to send in CE.3 / CWE.3, e.g. "NCIT", "HL70162", "CDCREC", "LN", "SCT",
    /// "CDCPHINVS"; "local" for state-defined codes.
    pub system: &'static str,
    pub status: EntryStatus,
    /// An older code kept for compatibility, e.g. HL70162 route "IM" beside NCIT "C28161".
    pub legacy: bool,
    /// [`Table::Observation`] only: the OBX-2 value types, the guide's own first. Empty elsewhere.
    pub value_types: &'static [&'static str],
}

impl Entry {
    /// Whether an OBX-2 value type is acceptable for this observation (trimmed, any case).
    /// Always true for entries without value types.
    pub fn accepts_value_type(&self, value_type: &str) -> bool {
        let vt = value_type.trim();
        self.value_types.is_empty() || self.value_types.iter().any(|t| t.eq_ignore_ascii_case(vt))
    }

    /// The value type the implementation guide gives for this observation.
    pub fn expected_value_type(&self) -> Option<&'static str> {
        self.value_types.first().copied()
    }
}

/// The small tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    /// RXR-1: NCIT, plus legacy HL70162.
    Route,
    /// RXR-2: HL70163.
    Site,
    /// OBX-5 of 64994-7: HL70064 and CDC/state extensions.
    VfcEligibility,
    /// OBX-5 of 30963-3.
    FundingSource,
    /// RXA-9: NIP001.
    InformationSource,
    /// RXA-20: HL70322.
    CompletionStatus,
    /// RXA-21: HL70323.
    ActionCode,
    /// RXA-18: NIP002.
    RefusalReason,
    /// NK1-3: HL70063.
    Relationship,
    /// PID-10: CDCREC (legacy HL70005 letters).
    Race,
    /// PID-22: CDCREC (legacy HL70189 letters).
    Ethnicity,
    /// PD1-11: HL70215.
    Publicity,
    /// PD1-12: HL70136.
    Protection,
    /// PD1-16: HL70441.
    RegistryStatus,
    /// OBX-3: LOINC codes of the immunization guide, with OBX-2 value types.
    Observation,
    /// OBX-5 of 59784-9 / 75505-8: SNOMED (legacy NIP004).
    ImmunityEvidence,
    /// OBX-5 of 30945-0: CDC VXC codes and SNOMED.
    Contraindication,
    /// OBX-17 of 64994-7: how VFC eligibility was captured.
    VfcObservationMethod,
}

impl Table {
    pub const ALL: [Table; 18] = [
        Table::Route,
        Table::Site,
        Table::VfcEligibility,
        Table::FundingSource,
        Table::InformationSource,
        Table::CompletionStatus,
        Table::ActionCode,
        Table::RefusalReason,
        Table::Relationship,
        Table::Race,
        Table::Ethnicity,
        Table::Publicity,
        Table::Protection,
        Table::RegistryStatus,
        Table::Observation,
        Table::ImmunityEvidence,
        Table::Contraindication,
        Table::VfcObservationMethod,
    ];

    /// A short human name, e.g. for error texts ("unknown route code").
    pub fn name(self) -> &'static str {
        match self {
            Table::Route => "route",
            Table::Site => "site",
            Table::VfcEligibility => "VFC eligibility",
            Table::FundingSource => "funding source",
            Table::InformationSource => "information source",
            Table::CompletionStatus => "completion status",
            Table::ActionCode => "action code",
            Table::RefusalReason => "refusal reason",
            Table::Relationship => "relationship",
            Table::Race => "race",
            Table::Ethnicity => "ethnicity",
            Table::Publicity => "publicity",
            Table::Protection => "protection",
            Table::RegistryStatus => "registry status",
            Table::Observation => "observation identifier",
            Table::ImmunityEvidence => "evidence of immunity",
            Table::Contraindication => "contraindication or precaution",
            Table::VfcObservationMethod => "VFC eligibility capture method",
        }
    }

    /// The HL7/CDC table identifier(s).
    pub fn hl7_table(self) -> &'static str {
        match self {
            Table::Route => "NCIT/HL70162",
            Table::Site => "HL70163",
            Table::VfcEligibility => "HL70064",
            Table::FundingSource => "CDCPHINVS",
            Table::InformationSource => "NIP001",
            Table::CompletionStatus => "HL70322",
            Table::ActionCode => "HL70323",
            Table::RefusalReason => "NIP002",
            Table::Relationship => "HL70063",
            Table::Race => "CDCREC",
            Table::Ethnicity => "CDCREC",
            Table::Publicity => "HL70215",
            Table::Protection => "HL70136",
            Table::RegistryStatus => "HL70441",
            Table::Observation => "LN",
            Table::ImmunityEvidence => "SCT",
            Table::Contraindication => "CDCPHINVS/SCT",
            Table::VfcObservationMethod => "CDCPHINVS",
        }
    }

    pub fn entries(self) -> &'static [Entry] {
        match self {
            Table::Route => ROUTE,
            Table::Site => SITE,
            Table::VfcEligibility => VFC_ELIGIBILITY,
            Table::FundingSource => FUNDING_SOURCE,
            Table::InformationSource => INFORMATION_SOURCE,
            Table::CompletionStatus => COMPLETION_STATUS,
            Table::ActionCode => ACTION_CODE,
            Table::RefusalReason => REFUSAL_REASON,
            Table::Relationship => RELATIONSHIP,
            Table::Race => RACE,
            Table::Ethnicity => ETHNICITY,
            Table::Publicity => PUBLICITY,
            Table::Protection => PROTECTION,
            Table::RegistryStatus => REGISTRY_STATUS,
            Table::Observation => OBSERVATION,
            Table::ImmunityEvidence => IMMUNITY_EVIDENCE,
            Table::Contraindication => CONTRAINDICATION,
            Table::VfcObservationMethod => VFC_OBSERVATION_METHOD,
        }
    }

    pub fn code_table(self) -> CodeTable {
        CodeTable {
            table: self,
            entries: self.entries(),
        }
    }
}

/// One small table, ready for lookups.
#[derive(Clone, Copy, Debug)]
pub struct CodeTable {
    table: Table,
    entries: &'static [Entry],
}

impl CodeTable {
    pub fn table(&self) -> Table {
        self.table
    }

    /// The entry for a code, compared after trimming whitespace; case matters.
    pub fn lookup(&self, code: &str) -> Option<&'static Entry> {
        let code = code.trim();
        self.entries.iter().find(|e| e.code == code)
    }

    /// Like [`CodeTable::lookup`], ignoring ASCII case ("im" finds "IM").
    pub fn lookup_ignore_case(&self, code: &str) -> Option<&'static Entry> {
        let code = code.trim();
        self.entries
            .iter()
            .find(|e| e.code.eq_ignore_ascii_case(code))
    }

    pub fn entries(&self) -> &'static [Entry] {
        self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

const fn entry(
    system: &'static str,
    code: &'static str,
    label: &'static str,
    status: EntryStatus,
    legacy: bool,
) -> Entry {
    Entry {
        code,
        label,
        system,
        status,
        legacy,
        value_types: &[],
    }
}

const fn valid(system: &'static str, code: &'static str, label: &'static str) -> Entry {
    entry(system, code, label, EntryStatus::Valid, false)
}

const fn obs(
    code: &'static str,
    label: &'static str,
    value_types: &'static [&'static str],
) -> Entry {
    Entry {
        code,
        label,
        system: "LN",
        status: EntryStatus::Valid,
        legacy: false,
        value_types,
    }
}

const DATE_TYPES: &[&str] = &["TS", "DT"];

pub const ROUTE: &[Entry] = &[
    valid("NCIT", "C28161", "Intramuscular"),
    valid("NCIT", "C38238", "Intradermal"),
    valid("NCIT", "C38276", "Intravenous"),
    valid("NCIT", "C38284", "Nasal"),
    valid("NCIT", "C38288", "Oral"),
    valid("NCIT", "C38299", "Subcutaneous"),
    valid("NCIT", "C38305", "Transdermal"),
    valid("NCIT", "C38676", "Percutaneous"),
    entry("HL70162", "ID", "Intradermal", Valid, true),
    entry("HL70162", "IM", "Intramuscular", Valid, true),
    entry("HL70162", "IN", "Intranasal", Deprecated, true),
    entry("HL70162", "IV", "Intravenous", Valid, true),
    entry("HL70162", "NS", "Nasal", Valid, true),
    entry("HL70162", "OTH", "Other or miscellaneous", Valid, true),
    entry("HL70162", "PO", "Oral", Valid, true),
    entry("HL70162", "SC", "Subcutaneous", Valid, true),
    entry("HL70162", "TD", "Transdermal", Valid, true),
];

pub const SITE: &[Entry] = &[
    valid("HL70163", "BN", "Bilateral nares"),
    valid("HL70163", "LA", "Left arm"),
    valid("HL70163", "LD", "Left deltoid"),
    valid("HL70163", "LG", "Left gluteus medius"),
    valid("HL70163", "LLFA", "Left lower forearm"),
    valid("HL70163", "LN", "Left naris"),
    valid("HL70163", "LT", "Left thigh"),
    valid("HL70163", "LVL", "Left vastus lateralis"),
    valid("HL70163", "MO", "Mouth"),
    valid("HL70163", "RA", "Right arm"),
    valid("HL70163", "RD", "Right deltoid"),
    valid("HL70163", "RG", "Right gluteus medius"),
    valid("HL70163", "RLFA", "Right lower forearm"),
    valid("HL70163", "RN", "Right naris"),
    valid("HL70163", "RT", "Right thigh"),
    valid("HL70163", "RVL", "Right vastus lateralis"),
];

pub const VFC_ELIGIBILITY: &[Entry] = &[
    entry(
        "HL70064",
        "V00",
        "VFC eligibility not determined or unknown",
        Invalid,
        false,
    ),
    valid("HL70064", "V01", "Not VFC eligible"),
    valid(
        "HL70064",
        "V02",
        "VFC eligible: Medicaid or Medicaid managed care",
    ),
    valid("HL70064", "V03", "VFC eligible: uninsured"),
    valid(
        "HL70064",
        "V04",
        "VFC eligible: American Indian or Alaska Native",
    ),
    valid(
        "HL70064",
        "V05",
        "VFC eligible: underinsured, at an FQHC or RHC",
    ),
    valid(
        "HL70064",
        "V06",
        "VFC eligible: state-specific eligibility (e.g. S-CHIP)",
    ),
    valid("HL70064", "V07", "Local-specific eligibility"),
    valid("HL70064", "V08", "Not VFC eligible: underinsured"),
    valid("CDCPHINVS", "V22", "CHIP"),
    valid("CDCPHINVS", "V23", "317 special funding"),
    valid("CDCPHINVS", "V24", "Medicare"),
    valid("CDCPHINVS", "V25", "State program eligibility"),
    valid(
        "local",
        "MIA04",
        "Michigan: public vaccine, MI-VRP (Vaccine Replacement Program)",
    ),
    valid("local", "MIA05", "Michigan: Medicare parts A, B and D"),
    valid(
        "local",
        "MIA08",
        "Michigan: private stock vaccine, other public purchase",
    ),
    valid(
        "local",
        "MIA10",
        "Michigan: all-hazard eligible, public purchase",
    ),
    valid("local", "MIA14", "Michigan: Medicaid, not VFC"),
    valid("local", "OR01", "Oregon: special projects"),
];

pub const FUNDING_SOURCE: &[Entry] = &[
    valid("CDCPHINVS", "VXC1", "Federal funds"),
    valid("CDCPHINVS", "VXC2", "State funds"),
    valid("CDCPHINVS", "VXC3", "Tribal funds"),
    valid("CDCPHINVS", "VXC50", "Public"),
    valid("CDCPHINVS", "VXC51", "Public, VFC"),
    valid("CDCPHINVS", "VXC52", "Public, non-VFC"),
    valid("CDCPHINVS", "PHC68", "Military funds"),
    valid("CDCPHINVS", "PHC70", "Private funds"),
    valid("NULLFL", "OTH", "Other"),
    valid("NULLFL", "UNK", "Unspecified"),
];

pub const INFORMATION_SOURCE: &[Entry] = &[
    valid("NIP001", "00", "New immunization record"),
    valid("NIP001", "01", "Historical, source unspecified"),
    valid("NIP001", "02", "Historical, from another provider"),
    valid("NIP001", "03", "Historical, from parent's written record"),
    valid("NIP001", "04", "Historical, from parent's recall"),
    valid("NIP001", "05", "Historical, from another registry"),
    valid("NIP001", "06", "Historical, from birth certificate"),
    valid("NIP001", "07", "Historical, from school record"),
    valid("NIP001", "08", "Historical, from public agency"),
];

pub const COMPLETION_STATUS: &[Entry] = &[
    valid("HL70322", "CP", "Complete"),
    valid("HL70322", "NA", "Not administered"),
    valid("HL70322", "PA", "Partially administered"),
    valid("HL70322", "RE", "Refused"),
];

pub const ACTION_CODE: &[Entry] = &[
    valid("HL70323", "A", "Add"),
    valid("HL70323", "D", "Delete"),
    valid("HL70323", "U", "Update"),
];

pub const REFUSAL_REASON: &[Entry] = &[
    valid("NIP002", "00", "Parental decision"),
    valid("NIP002", "01", "Religious exemption"),
    valid("NIP002", "02", "Other"),
    valid("NIP002", "03", "Patient decision"),
];

pub const RELATIONSHIP: &[Entry] = &[
    entry("HL70063", "ASC", "Associate", Ignored, false),
    entry("HL70063", "BRO", "Brother", Ignored, false),
    valid("HL70063", "CGV", "Care giver"),
    valid("HL70063", "CHD", "Child"),
    entry("HL70063", "DEP", "Handicapped dependent", Ignored, false),
    entry("HL70063", "DOM", "Life partner", Ignored, false),
    entry("HL70063", "EMC", "Emergency contact", Ignored, false),
    entry("HL70063", "EME", "Employee", Ignored, false),
    entry("HL70063", "EMR", "Employer", Ignored, false),
    entry("HL70063", "EXF", "Extended family", Ignored, false),
    valid("HL70063", "FCH", "Foster child"),
    entry("HL70063", "FND", "Friend", Ignored, false),
    valid("HL70063", "FTH", "Father"),
    entry("HL70063", "GCH", "Grandchild", Ignored, false),
    valid("HL70063", "GRD", "Guardian"),
    valid("HL70063", "GRP", "Grandparent"),
    entry("HL70063", "MGR", "Manager", Ignored, false),
    valid("HL70063", "MTH", "Mother"),
    entry("HL70063", "NCH", "Natural child", Ignored, false),
    entry("HL70063", "NON", "None", Ignored, false),
    entry("HL70063", "OAD", "Other adult", Ignored, false),
    entry("HL70063", "OTH", "Other", Ignored, false),
    entry("HL70063", "OWN", "Owner", Ignored, false),
    valid("HL70063", "PAR", "Parent"),
    entry("HL70063", "SCH", "Stepchild", Ignored, false),
    entry("HL70063", "SEL", "Self", Ignored, false),
    entry("HL70063", "SIB", "Sibling", Ignored, false),
    entry("HL70063", "SIS", "Sister", Ignored, false),
    entry("HL70063", "SPO", "Spouse", Ignored, false),
    entry("HL70063", "TRA", "Trainer", Ignored, false),
    entry("HL70063", "UNK", "Unknown", Ignored, false),
    entry("HL70063", "WRD", "Ward of court", Ignored, false),
];

pub const RACE: &[Entry] = &[
    valid("CDCREC", "1002-5", "American Indian or Alaska Native"),
    valid("CDCREC", "2028-9", "Asian"),
    valid("CDCREC", "2034-7", "Chinese"),
    valid("CDCREC", "2036-2", "Filipino"),
    valid("CDCREC", "2039-6", "Japanese"),
    valid("CDCREC", "2054-5", "Black or African American"),
    valid(
        "CDCREC",
        "2076-8",
        "Native Hawaiian or Other Pacific Islander",
    ),
    valid("CDCREC", "2106-3", "White"),
    valid("CDCREC", "2131-1", "Other race"),
    // Ethnicity codes sent as a race.
    entry(
        "CDCREC",
        "2135-2",
        "Hispanic or Latino (an ethnicity)",
        Deprecated,
        false,
    ),
    entry(
        "CDCREC",
        "2186-5",
        "Not Hispanic or Latino (an ethnicity)",
        Deprecated,
        false,
    ),
    entry(
        "HL70005",
        "A",
        "Asian or Pacific Islander",
        Deprecated,
        true,
    ),
    entry(
        "HL70005",
        "B",
        "Black or African American",
        Deprecated,
        true,
    ),
    entry(
        "HL70005",
        "I",
        "American Indian or Alaska Native",
        Deprecated,
        true,
    ),
    entry("HL70005", "O", "Other race", Deprecated, true),
    entry("HL70005", "U", "Unknown", Deprecated, true),
    entry("HL70005", "W", "White", Deprecated, true),
];

pub const ETHNICITY: &[Entry] = &[
    valid("CDCREC", "2135-2", "Hispanic or Latino"),
    valid("CDCREC", "2186-5", "Not Hispanic or Latino"),
    entry("HL70189", "H", "Hispanic or Latino", Deprecated, true),
    entry("HL70189", "N", "Not Hispanic or Latino", Deprecated, true),
    entry("HL70189", "U", "Unknown", Deprecated, true),
];

pub const PUBLICITY: &[Entry] = &[
    valid("HL70215", "01", "No reminder or recall"),
    valid("HL70215", "02", "Reminder and recall, any method"),
    valid("HL70215", "03", "Reminder and recall, no calls"),
    valid("HL70215", "04", "Reminder only, any method"),
    valid("HL70215", "05", "Reminder only, no calls"),
    valid("HL70215", "06", "Recall only, any method"),
    valid("HL70215", "07", "Recall only, no calls"),
    valid("HL70215", "08", "Reminder and recall, to provider"),
    valid("HL70215", "09", "Reminder to provider"),
    valid("HL70215", "10", "Only reminder to provider, no recall"),
    valid("HL70215", "11", "Recall to provider"),
    valid("HL70215", "12", "Only recall to provider, no reminder"),
];

pub const PROTECTION: &[Entry] = &[
    valid("HL70136", "N", "No, data may be shared"),
    valid("HL70136", "Y", "Yes, protect: do not share data"),
];

pub const REGISTRY_STATUS: &[Entry] = &[
    valid("HL70441", "A", "Active"),
    valid("HL70441", "I", "Inactive, unspecified"),
    valid("HL70441", "L", "Inactive, lost to follow-up"),
    valid("HL70441", "M", "Inactive, moved or gone elsewhere"),
    entry("HL70441", "O", "Other", Invalid, false),
    valid("HL70441", "P", "Inactive, permanently (deceased)"),
    valid("HL70441", "U", "Unknown"),
];

pub const OBSERVATION: &[Entry] = &[
    obs("29768-9", "Date VIS published", DATE_TYPES),
    obs("29769-7", "Date VIS presented", DATE_TYPES),
    obs(
        "30944-3",
        "Temporary contraindication/precaution expiration date",
        DATE_TYPES,
    ),
    obs(
        "30945-0",
        "Vaccination contraindication/precaution",
        &["CE"],
    ),
    obs(
        "30946-8",
        "Contraindication/precaution effective date",
        DATE_TYPES,
    ),
    obs("30956-7", "Vaccine type", &["CE"]),
    obs("30963-3", "Vaccine funding source", &["CE"]),
    obs("30973-2", "Dose number in series", &["NM"]),
    obs("30979-9", "Vaccines due next", &["CE"]),
    obs("30980-7", "Date vaccine due", DATE_TYPES),
    obs("30981-5", "Earliest date to give", DATE_TYPES),
    obs("30982-3", "Reason applied by forecast logic", &["CE"]),
    obs("31044-1", "Reaction", &["CE"]),
    obs("38890-0", "Component vaccine type", &["CE"]),
    obs("46249-9", "Vaccination take-response type", &["CE"]),
    obs("46250-7", "Vaccination take-response date", DATE_TYPES),
    obs("59777-3", "Latest date to give", DATE_TYPES),
    obs("59778-1", "Date dose is overdue", DATE_TYPES),
    obs("59779-9", "Immunization schedule used", &["CE"]),
    obs("59780-7", "Immunization series name", &["CE"]),
    obs("59781-5", "Dose validity", &["ID"]),
    obs("59782-3", "Number of doses in primary series", &["NM"]),
    obs("59783-1", "Status in immunization series", &["CE"]),
    obs("59784-9", "Disease with presumed immunity", &["CE"]),
    obs("59785-6", "Indication to immunize", &["CE"]),
    obs(
        "64994-7",
        "Vaccine funding program eligibility category",
        &["CE"],
    ),
    obs("69764-9", "VIS document type (GS1 barcode)", &["CE"]),
    obs(
        "75505-8",
        "Disease with serological evidence of immunity",
        &["CE"],
    ),
];

pub const IMMUNITY_EVIDENCE: &[Entry] = &[
    valid("SCT", "111852003", "History of vaccinia infection"),
    valid("SCT", "14168008", "History of rabies infection"),
    valid("SCT", "14189004", "History of measles infection"),
    valid("SCT", "16541001", "History of yellow fever infection"),
    valid("SCT", "16814004", "History of pneumococcal infection"),
    valid("SCT", "18624000", "History of rotavirus infection"),
    valid("SCT", "23511006", "History of meningococcal infection"),
    valid("SCT", "240532009", "History of HPV infection"),
    valid("SCT", "271511000", "History of hepatitis B infection"),
    valid("SCT", "27836007", "History of pertussis infection"),
    valid("SCT", "36653000", "History of rubella infection"),
    valid("SCT", "36989005", "History of mumps infection"),
    valid("SCT", "38907003", "History of varicella infection"),
    valid("SCT", "397428000", "History of diphtheria infection"),
    valid("SCT", "398102009", "History of polio infection"),
    valid("SCT", "40468003", "History of hepatitis A infection"),
    valid("SCT", "409498004", "History of anthrax infection"),
    valid("SCT", "4834000", "History of typhoid infection"),
    valid(
        "SCT",
        "52947006",
        "History of Japanese encephalitis infection",
    ),
    valid("SCT", "6142004", "History of influenza infection"),
    valid("SCT", "66071002", "History of hepatitis B infection"),
    valid("SCT", "76902006", "History of tetanus infection"),
    valid("SCT", "91428005", "History of Hib infection"),
    entry(
        "NIP004",
        "24",
        "History of diphtheria infection",
        Deprecated,
        true,
    ),
    entry("NIP004", "25", "History of Hib infection", Deprecated, true),
    entry(
        "NIP004",
        "26",
        "History of hepatitis B infection",
        Deprecated,
        true,
    ),
    entry(
        "NIP004",
        "27",
        "History of measles infection",
        Deprecated,
        true,
    ),
    entry(
        "NIP004",
        "28",
        "History of mumps infection",
        Deprecated,
        true,
    ),
    entry(
        "NIP004",
        "29",
        "History of pertussis infection",
        Deprecated,
        true,
    ),
    entry(
        "NIP004",
        "30",
        "History of polio infection",
        Deprecated,
        true,
    ),
    entry(
        "NIP004",
        "31",
        "History of rubella infection",
        Deprecated,
        true,
    ),
    entry(
        "NIP004",
        "32",
        "History of tetanus infection",
        Deprecated,
        true,
    ),
];

pub const CONTRAINDICATION: &[Entry] = &[
    valid(
        "CDCPHINVS",
        "VXC17",
        "Allergy (anaphylactic) to 2-phenoxyethanol",
    ),
    valid(
        "CDCPHINVS",
        "VXC18",
        "Allergy (anaphylactic) to baker's yeast",
    ),
    valid("CDCPHINVS", "VXC19", "Allergy (anaphylactic) to thimerosal"),
    valid(
        "CDCPHINVS",
        "VXC20",
        "Allergy (anaphylactic) to a previous dose of this vaccine or a vaccine component",
    ),
    valid("CDCPHINVS", "VXC21", "Previous history of intussusception"),
    valid(
        "CDCPHINVS",
        "VXC22",
        "Encephalopathy within 7 days of a previous DTP or DTaP dose",
    ),
    valid(
        "CDCPHINVS",
        "VXC23",
        "Current fever with moderate-to-severe illness",
    ),
    valid(
        "CDCPHINVS",
        "VXC24",
        "Current acute illness, moderate to severe",
    ),
    valid(
        "CDCPHINVS",
        "VXC25",
        "Arthus hypersensitivity reaction to a tetanus-containing vaccine less than 10 years ago",
    ),
    valid(
        "CDCPHINVS",
        "VXC26",
        "Underlying unstable, evolving neurologic disorder",
    ),
    valid(
        "CDCPHINVS",
        "VXC27",
        "Immunodeficiency due to any cause, including HIV",
    ),
    valid(
        "CDCPHINVS",
        "VXC30",
        "Allergy (anaphylactic) to proteins of rodent or neural origin",
    ),
    valid("SCT", "161461006", "History of purpura"),
    valid("SCT", "27624003", "Chronic disease"),
    valid("SCT", "294466005", "Streptomycin allergy"),
    valid("SCT", "294530006", "Polymyxin B allergy"),
    valid("SCT", "294847001", "Gelatin allergy"),
    valid("SCT", "300916003", "Latex allergy"),
    valid("SCT", "302215000", "Thrombocytopenic disorder"),
    valid("SCT", "402306009", "Allergy to aluminum"),
    valid("SCT", "77386006", "Pregnant"),
    valid("SCT", "794468006", "Neomycin allergy"),
    valid("SCT", "91930004", "Allergy to eggs"),
];

pub const VFC_OBSERVATION_METHOD: &[Entry] = &[
    valid(
        "CDCPHINVS",
        "VXC40",
        "Eligibility captured at the immunization level",
    ),
    valid(
        "CDCPHINVS",
        "VXC41",
        "Eligibility captured at the visit level",
    ),
];
