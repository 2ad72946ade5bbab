//! Synthetic patients and the HL7 messages about them: VXU^V04 (CDC IG 1.5 shape, Z22
//! profile) and QBP^Q11 Z34 history queries.
//!
//! Everything is drawn from a seeded RNG, so a [`Generator`] with the same seed, stream and
//! clock produces the same patients and messages. Identifiers (MRN, MSH-10, ORC-3, query tag)
//! come from counters, not from the RNG: unique within a run for every (seed, stream), and
//! the same again when a run is repeated with the same seed.
//!
//! The data are plausible, not real: names come from the small lists below, phone numbers
//! use the fictional 555 exchange, and vaccines follow the childhood schedule by age.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use izport::hl7::{Delimiters, MessageBuilder};

/// MSH-3 of every generated message, and the assigning authority of MRNs and dose ids.
pub const SENDING_APPLICATION: &str = "IZLOAD";
/// MSH-5/MSH-6 of every generated message.
pub const RECEIVING_APPLICATION: &str = "IZPORT";

const FEMALE_NAMES: &[&str] = &[
    "Olivia",
    "Emma",
    "Charlotte",
    "Amelia",
    "Sophia",
    "Mia",
    "Isabella",
    "Ava",
    "Evelyn",
    "Luna",
    "Harper",
    "Sofia",
    "Camila",
    "Eleanor",
    "Elizabeth",
    "Violet",
    "Scarlett",
    "Emily",
    "Hazel",
    "Lily",
    "Gianna",
    "Aurora",
    "Penelope",
    "Aria",
    "Nora",
    "Chloe",
    "Ellie",
    "Mila",
    "Avery",
    "Layla",
    "Abigail",
    "Ella",
    "Isla",
    "Eliana",
    "Nova",
    "Madison",
    "Zoe",
    "Ivy",
    "Grace",
    "Lucy",
    "Maria",
    "Ana",
    "Fatima",
    "Mei",
    "Priya",
    "Aaliyah",
    "Jasmine",
    "Naomi",
];

const MALE_NAMES: &[&str] = &[
    "Liam",
    "Noah",
    "Oliver",
    "James",
    "Elijah",
    "Mateo",
    "Theodore",
    "Henry",
    "Lucas",
    "William",
    "Benjamin",
    "Levi",
    "Sebastian",
    "Jack",
    "Ezra",
    "Michael",
    "Daniel",
    "Leo",
    "Owen",
    "Samuel",
    "Hudson",
    "Alexander",
    "Asher",
    "Luca",
    "Ethan",
    "John",
    "David",
    "Jackson",
    "Joseph",
    "Mason",
    "Luke",
    "Matthew",
    "Julian",
    "Dylan",
    "Elias",
    "Jacob",
    "Isaac",
    "Santiago",
    "Gabriel",
    "Carter",
    "Diego",
    "Omar",
    "Wei",
    "Arjun",
    "Malik",
    "Andre",
    "Kai",
    "Miguel",
];

const FAMILY_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "O'Brien",
    "Kowalski",
    "Okafor",
    "Yamamoto",
    "Patel",
    "Chen",
    "Nakamura",
    "Schmidt",
];

const STREETS: &[&str] = &[
    "Main St",
    "Oak Ave",
    "Maple Dr",
    "Cedar Ln",
    "Pine St",
    "Elm St",
    "Washington Ave",
    "Lake Rd",
    "Hill St",
    "Park Ave",
    "Sunset Blvd",
    "River Rd",
    "Church St",
    "Highland Ave",
    "Meadow Ln",
    "Forest Dr",
    "Spring St",
    "Walnut St",
    "Chestnut St",
    "Willow Way",
];

/// City, state, ZIP prefix, area code.
const PLACES: &[(&str, &str, &str, &str)] = &[
    ("Springfield", "IL", "627", "217"),
    ("Madison", "WI", "537", "608"),
    ("Columbus", "OH", "432", "614"),
    ("Albany", "NY", "122", "518"),
    ("Salem", "OR", "973", "503"),
    ("Austin", "TX", "787", "512"),
    ("Richmond", "VA", "232", "804"),
    ("Denver", "CO", "802", "303"),
    ("Atlanta", "GA", "303", "404"),
    ("Boise", "ID", "837", "208"),
    ("Lansing", "MI", "489", "517"),
    ("Raleigh", "NC", "276", "919"),
    ("Phoenix", "AZ", "850", "602"),
    ("Helena", "MT", "596", "406"),
    ("Augusta", "ME", "043", "207"),
    ("Santa Fe", "NM", "875", "505"),
];

/// CDCREC race codes.
const RACES: &[(&str, &str)] = &[
    ("2106-3", "White"),
    ("2054-5", "Black or African-American"),
    ("2028-9", "Asian"),
    ("1002-5", "American Indian or Alaska Native"),
    ("2076-8", "Native Hawaiian or Other Pacific Islander"),
    ("2131-1", "Other Race"),
];

/// CDCREC ethnicity codes.
const ETHNICITIES: &[(&str, &str)] = &[
    ("2186-5", "Not Hispanic or Latino"),
    ("2135-2", "Hispanic or Latino"),
];

/// HL70064 VFC eligibility (OBX 64994-7).
const VFC: &[(&str, &str)] = &[
    ("V01", "Not VFC eligible"),
    ("V02", "VFC eligible - Medicaid/Medicaid Managed Care"),
    ("V02", "VFC eligible - Medicaid/Medicaid Managed Care"),
    ("V03", "VFC eligible - Uninsured"),
    ("V04", "VFC eligible - American Indian/Alaskan Native"),
    (
        "V05",
        "VFC eligible - Federally Qualified Health Center Patient (under-insured)",
    ),
];

/// Ordering/administering providers: NPI-shaped id, family, given.
const PROVIDERS: &[(&str, &str, &str)] = &[
    ("1902836471", "Welby", "Marcus"),
    ("1356472890", "Quinn", "Michaela"),
    ("1467239085", "Kildare", "James"),
    ("1538904726", "Grey", "Meredith"),
    ("1629384750", "Carter", "John"),
];

#[derive(Clone, Copy)]
enum Route {
    Intramuscular,
    Subcutaneous,
    Oral,
}

impl Route {
    fn coded(self) -> (&'static str, &'static str) {
        match self {
            Route::Intramuscular => ("C28161", "Intramuscular"),
            Route::Subcutaneous => ("C38299", "Subcutaneous"),
            Route::Oral => ("C38288", "Oral"),
        }
    }
}

/// A vaccine of the childhood schedule.
struct Vaccine {
    cvx: &'static str,
    name: &'static str,
    /// Age window, in days, in which it is given.
    min_age: i32,
    max_age: i32,
    /// MVX code and manufacturer name.
    makers: &'static [(&'static str, &'static str)],
    amount: &'static str,
    route: Route,
}

const MSD: (&str, &str) = ("MSD", "Merck and Co., Inc.");
const SKB: (&str, &str) = ("SKB", "GlaxoSmithKline");
const PMC: (&str, &str) = ("PMC", "Sanofi Pasteur");
const PFR: (&str, &str) = ("PFR", "Pfizer, Inc");
const SEQ: (&str, &str) = ("SEQ", "Seqirus");

const YEAR: i32 = 365;
const EIGHTEEN_YEARS: i32 = 18 * YEAR + 4;

const VACCINES: &[Vaccine] = &[
    Vaccine {
        cvx: "08",
        name: "Hep B, adolescent or pediatric",
        min_age: 0,
        max_age: EIGHTEEN_YEARS,
        makers: &[MSD, SKB],
        amount: "0.5",
        route: Route::Intramuscular,
    },
    Vaccine {
        cvx: "20",
        name: "DTaP",
        min_age: 42,
        max_age: 7 * YEAR,
        makers: &[SKB, PMC],
        amount: "0.5",
        route: Route::Intramuscular,
    },
    Vaccine {
        cvx: "110",
        name: "DTaP-Hep B-IPV",
        min_age: 42,
        max_age: 7 * YEAR,
        makers: &[SKB],
        amount: "0.5",
        route: Route::Intramuscular,
    },
    Vaccine {
        cvx: "10",
        name: "IPV",
        min_age: 42,
        max_age: EIGHTEEN_YEARS,
        makers: &[PMC],
        amount: "0.5",
        route: Route::Subcutaneous,
    },
    Vaccine {
        cvx: "49",
        name: "Hib (PRP-OMP)",
        min_age: 42,
        max_age: 5 * YEAR,
        makers: &[MSD],
        amount: "0.5",
        route: Route::Intramuscular,
    },
    Vaccine {
        cvx: "133",
        name: "Pneumococcal conjugate PCV 13",
        min_age: 42,
        max_age: 5 * YEAR,
        makers: &[PFR],
        amount: "0.5",
        route: Route::Intramuscular,
    },
    Vaccine {
        cvx: "116",
        name: "rotavirus, pentavalent",
        min_age: 42,
        max_age: 240,
        makers: &[MSD],
        amount: "2",
        route: Route::Oral,
    },
    Vaccine {
        cvx: "150",
        name: "Influenza, split virus, quadrivalent, PF",
        min_age: 183,
        max_age: EIGHTEEN_YEARS,
        makers: &[SKB, PMC, SEQ],
        amount: "0.5",
        route: Route::Intramuscular,
    },
    Vaccine {
        cvx: "03",
        name: "MMR",
        min_age: YEAR,
        max_age: EIGHTEEN_YEARS,
        makers: &[MSD],
        amount: "0.5",
        route: Route::Subcutaneous,
    },
    Vaccine {
        cvx: "21",
        name: "varicella",
        min_age: YEAR,
        max_age: EIGHTEEN_YEARS,
        makers: &[MSD],
        amount: "0.5",
        route: Route::Subcutaneous,
    },
    Vaccine {
        cvx: "83",
        name: "Hep A, ped/adol, 2 dose",
        min_age: YEAR,
        max_age: EIGHTEEN_YEARS,
        makers: &[SKB, MSD],
        amount: "0.5",
        route: Route::Intramuscular,
    },
    Vaccine {
        cvx: "115",
        name: "Tdap",
        min_age: 7 * YEAR,
        max_age: EIGHTEEN_YEARS,
        makers: &[SKB, PMC],
        amount: "0.5",
        route: Route::Intramuscular,
    },
    Vaccine {
        cvx: "165",
        name: "HPV9",
        min_age: 9 * YEAR,
        max_age: EIGHTEEN_YEARS,
        makers: &[MSD],
        amount: "0.5",
        route: Route::Intramuscular,
    },
    Vaccine {
        cvx: "114",
        name: "meningococcal MCV4P",
        min_age: 11 * YEAR,
        max_age: EIGHTEEN_YEARS,
        makers: &[PMC],
        amount: "0.5",
        route: Route::Intramuscular,
    },
];

/// A calendar date as a count of days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i32);

impl Day {
    /// The day of a civil date (proleptic Gregorian).
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Day {
        let (y, m, d) = (i64::from(year), i64::from(month), i64::from(day));
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Day((era * 146_097 + doe - 719_468) as i32)
    }

    /// (year, month, day).
    pub fn ymd(self) -> (i32, u32, u32) {
        let z = i64::from(self.0) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y as i32, m as u32, d as u32)
    }

    /// HL7 DT: `YYYYMMDD`.
    pub fn hl7(self) -> String {
        let (y, m, d) = self.ymd();
        format!("{y:04}{m:02}{d:02}")
    }

    fn plus(self, days: i32) -> Day {
        Day(self.0 + days)
    }
}

/// A synthetic patient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patient {
    /// Medical record number (PID-3.1 with type MR), unique per (seed, stream, index).
    pub mrn: String,
    pub family: &'static str,
    pub given: &'static str,
    pub middle: &'static str,
    /// `F` or `M`.
    pub sex: &'static str,
    pub birth: Day,
    pub mother_maiden: &'static str,
    pub mother_given: &'static str,
    pub street: String,
    pub city: &'static str,
    pub state: &'static str,
    pub zip: String,
    pub area_code: &'static str,
    pub phone: String,
    pub race: (&'static str, &'static str),
    pub ethnicity: (&'static str, &'static str),
}

/// A generated message and the ids a response is checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The HL7 text, segments terminated by CR.
    pub text: String,
    /// MSH-10.
    pub control_id: String,
    /// QPD-2 for a query; empty for a VXU.
    pub query_tag: String,
}

/// 64-bit mixer (splitmix64 finaliser): spreads a seed over all bits.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 20 bits derived from the seed, printed in every identifier of a run.
fn run_tag(seed: u64) -> u32 {
    (mix64(seed) >> 44) as u32
}

/// The MRN of the `index`-th patient (0-based) created by stream `stream` of a run with
/// `seed`: `L` + 5 hex digits of the seed + 3 of the stream + 6 (or more) of the index.
pub fn mrn(seed: u64, stream: u32, index: u64) -> String {
    format!("L{:05X}{:03X}{:06X}", run_tag(seed), stream, index)
}

/// Deterministic generator of patients and messages for one stream (one worker) of a run.
pub struct Generator {
    rng: StdRng,
    seed: u64,
    stream: u32,
    tag: u32,
    facility: String,
    patients: u64,
    messages: u64,
    doses: u64,
    /// The latest date given to a dose or a birth: the day before `now` (UTC), so clock skew
    /// between this host and the server never makes a date "in the future".
    latest: Day,
    /// MSH-7 of every message of this generator.
    timestamp: String,
}

impl Generator {
    /// A generator for `stream` of a run with `seed`, sending as `facility` (MSH-4), with
    /// `now` as the message time and the reference for "today".
    pub fn new(seed: u64, stream: u32, facility: &str, now: jiff::Timestamp) -> Generator {
        let utc = now.to_zoned(jiff::tz::TimeZone::UTC);
        let date = utc.date();
        let today = Day::from_ymd(
            i32::from(date.year()),
            date.month().unsigned_abs().into(),
            date.day().unsigned_abs().into(),
        );
        let timestamp = utc.strftime("%Y%m%d%H%M%S+0000").to_string();
        Generator {
            rng: StdRng::seed_from_u64(mix64(seed ^ mix64(u64::from(stream) + 1))),
            seed,
            stream,
            tag: run_tag(seed),
            facility: facility.to_string(),
            patients: 0,
            messages: 0,
            doses: 0,
            latest: today.plus(-1),
            timestamp,
        }
    }

    /// The seed this generator was made with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn next_id(&mut self, prefix: char, counter: Counter) -> String {
        let n = match counter {
            Counter::Message => &mut self.messages,
            Counter::Dose => &mut self.doses,
        };
        let id = format!("{prefix}{:05X}{:03X}{:08X}", self.tag, self.stream, *n);
        *n += 1;
        id
    }

    fn pick<T: Copy>(&mut self, list: &[T]) -> T {
        list[self.rng.gen_range(0..list.len())]
    }

    /// A new patient with a new MRN, born between 2 days and 18 years before today.
    pub fn patient(&mut self) -> Patient {
        let mrn = mrn(self.seed, self.stream, self.patients);
        self.patients += 1;
        let female = self.rng.gen_bool(0.5);
        let names = if female { FEMALE_NAMES } else { MALE_NAMES };
        let given = self.pick(names);
        let mut middle = self.pick(names);
        if middle == given {
            middle = "";
        }
        let family = self.pick(FAMILY_NAMES);
        let mut mother_maiden = self.pick(FAMILY_NAMES);
        if mother_maiden == family {
            mother_maiden = self.pick(FAMILY_NAMES);
        }
        let mother_given = self.pick(FEMALE_NAMES);
        // Younger children are more common in immunization traffic: square a uniform draw.
        let u: f64 = self.rng.gen();
        let age = 1 + (u * u * f64::from(EIGHTEEN_YEARS - 8)) as i32;
        let birth = self.latest.plus(-age);
        let (city, state, zip_prefix, area_code) = self.pick(PLACES);
        let street = format!("{} {}", self.rng.gen_range(1..=9899), self.pick(STREETS));
        let zip = format!("{zip_prefix}{:02}", self.rng.gen_range(1..=99));
        let phone = format!("555{:04}", self.rng.gen_range(100..=9999));
        Patient {
            mrn,
            family,
            given,
            middle,
            sex: if female { "F" } else { "M" },
            birth,
            mother_maiden,
            mother_given,
            street,
            city,
            state,
            zip,
            area_code,
            phone,
            race: self.pick(RACES),
            ethnicity: self.pick(ETHNICITIES),
        }
    }

    fn msh(
        &self,
        b: &mut MessageBuilder,
        kind: (&str, &str, &str),
        control_id: &str,
        profile: &str,
    ) {
        b.msh(|s| {
            s.set(3, SENDING_APPLICATION);
            s.set(4, self.facility.as_str());
            s.set(5, RECEIVING_APPLICATION);
            s.set(6, RECEIVING_APPLICATION);
            s.set(7, self.timestamp.as_str());
            s.set_comp(9, 1, kind.0)
                .set_comp(9, 2, kind.1)
                .set_comp(9, 3, kind.2);
            s.set(10, control_id);
            s.set(11, "P");
            s.set(12, "2.5.1");
            s.set(15, "ER");
            s.set(16, "AL");
            s.set_comp(21, 1, profile).set_comp(21, 2, "CDCPHINVS");
            s.set(22, self.facility.as_str());
            s.set(23, RECEIVING_APPLICATION);
        });
    }

    /// A VXU^V04 reporting 1–3 doses given to `patient`, with a new MSH-10 and new ORC-3s.
    pub fn vxu(&mut self, p: &Patient) -> Generated {
        let control_id = self.next_id('M', Counter::Message);
        let mut b = MessageBuilder::new(Delimiters::DEFAULT);
        self.msh(&mut b, ("VXU", "V04", "VXU_V04"), &control_id, "Z22");
        let birth = p.birth.hl7();
        let phone_area = p.area_code;
        b.segment("PID", |s| {
            s.set(1, "1");
            s.set_comp(3, 1, p.mrn.as_str())
                .set_comp(3, 4, SENDING_APPLICATION)
                .set_comp(3, 5, "MR");
            set_name(s, 5, p.family, p.given, p.middle, "L");
            set_name(s, 6, p.mother_maiden, p.mother_given, "", "M");
            s.set(7, birth.as_str());
            s.set(8, p.sex);
            s.set_comp(10, 1, p.race.0)
                .set_comp(10, 2, p.race.1)
                .set_comp(10, 3, "CDCREC");
            set_address(s, 11, p);
            s.set_comp(13, 2, "PRN")
                .set_comp(13, 3, "PH")
                .set_comp(13, 6, phone_area)
                .set_comp(13, 7, p.phone.as_str());
            s.set_comp(22, 1, p.ethnicity.0)
                .set_comp(22, 2, p.ethnicity.1)
                .set_comp(22, 3, "CDCREC");
            s.set(24, "N");
        });
        let effective = p.birth.hl7();
        b.segment("PD1", |s| {
            s.set_comp(11, 1, "02")
                .set_comp(11, 2, "Reminder/Recall - any method")
                .set_comp(11, 3, "HL70215");
            s.set(12, "N");
            s.set(13, effective.as_str());
            s.set(16, "A");
            s.set(17, effective.as_str());
        });
        b.segment("NK1", |s| {
            s.set(1, "1");
            set_name(s, 2, p.family, p.mother_given, "", "L");
            s.set_comp(3, 1, "MTH")
                .set_comp(3, 2, "Mother")
                .set_comp(3, 3, "HL70063");
            set_address(s, 4, p);
            s.set_comp(5, 2, "PRN")
                .set_comp(5, 3, "PH")
                .set_comp(5, 6, phone_area)
                .set_comp(5, 7, p.phone.as_str());
        });

        let mut doses: Vec<(Day, &'static Vaccine)> = Vec::with_capacity(3);
        let wanted = self.rng.gen_range(1..=3);
        let mut attempts = 0;
        while doses.len() < wanted && attempts < 12 {
            attempts += 1;
            let span = (self.latest.0 - p.birth.0).max(0);
            let given_on = p.birth.plus(self.rng.gen_range(0..=span));
            let age = given_on.0 - p.birth.0;
            let eligible = VACCINES
                .iter()
                .filter(|v| (v.min_age..=v.max_age).contains(&age))
                .count();
            if eligible == 0 {
                continue;
            }
            let nth = self.rng.gen_range(0..eligible);
            let Some(vaccine) = VACCINES
                .iter()
                .filter(|v| (v.min_age..=v.max_age).contains(&age))
                .nth(nth)
            else {
                continue;
            };
            if doses
                .iter()
                .any(|(d, v)| *d == given_on && v.cvx == vaccine.cvx)
            {
                continue;
            }
            doses.push((given_on, vaccine));
        }
        if doses.is_empty() {
            // Hep B fits every age; keeps "at least one dose" whatever the draws were.
            doses.push((p.birth, &VACCINES[0]));
        }
        doses.sort_by_key(|(d, v)| (*d, v.cvx));

        for (n, (given_on, vaccine)) in doses.iter().enumerate() {
            self.dose(&mut b, p, n + 1, *given_on, vaccine);
        }
        Generated {
            text: b.finish(),
            control_id,
            query_tag: String::new(),
        }
    }

    fn dose(&mut self, b: &mut MessageBuilder, p: &Patient, n: usize, on: Day, v: &Vaccine) {
        let dose_id = self.next_id('D', Counter::Dose);
        let provider = self.pick(PROVIDERS);
        let (mvx, maker) = self.pick(v.makers);
        let lot = format!(
            "{}{}{:05}",
            char::from(b'A' + self.rng.gen_range(0..26u8)),
            char::from(b'A' + self.rng.gen_range(0..26u8)),
            self.rng.gen_range(0..100_000)
        );
        let expires = on.plus(self.rng.gen_range(120..=720)).hl7();
        let (vfc_code, vfc_text) = self.pick(VFC);
        let right = self.rng.gen_bool(0.5);
        let young = on.0 - p.birth.0 < 3 * YEAR;
        let date = on.hl7();
        let seq = n.to_string();

        b.segment("ORC", |s| {
            s.set(1, "RE");
            s.set_comp(3, 1, dose_id.as_str())
                .set_comp(3, 2, SENDING_APPLICATION);
            set_provider(s, 12, provider);
        });
        b.segment("RXA", |s| {
            s.set(1, "0");
            s.set(2, "1");
            s.set(3, date.as_str());
            s.set(4, date.as_str());
            s.set_comp(5, 1, v.cvx)
                .set_comp(5, 2, v.name)
                .set_comp(5, 3, "CVX");
            s.set(6, v.amount);
            s.set_comp(7, 1, "mL")
                .set_comp(7, 2, "milliliters")
                .set_comp(7, 3, "UCUM");
            s.set_comp(9, 1, "00")
                .set_comp(9, 2, "New immunization record")
                .set_comp(9, 3, "NIP001");
            set_provider(s, 10, provider);
            s.set_comp(11, 4, self.facility.as_str());
            s.set(15, lot.as_str());
            s.set(16, expires.as_str());
            s.set_comp(17, 1, mvx)
                .set_comp(17, 2, maker)
                .set_comp(17, 3, "MVX");
            s.set(20, "CP");
            s.set(21, "A");
        });
        let (route_code, route_name) = v.route.coded();
        let site = match (v.route, young, right) {
            (Route::Oral, _, _) => None,
            (_, true, true) => Some(("RT", "Right Thigh")),
            (_, true, false) => Some(("LT", "Left Thigh")),
            (_, false, true) => Some(("RA", "Right Arm")),
            (_, false, false) => Some(("LA", "Left Arm")),
        };
        b.segment("RXR", |s| {
            s.set_comp(1, 1, route_code)
                .set_comp(1, 2, route_name)
                .set_comp(1, 3, "NCIT");
            if let Some((code, name)) = site {
                s.set_comp(2, 1, code)
                    .set_comp(2, 2, name)
                    .set_comp(2, 3, "HL70163");
            }
        });
        b.segment("OBX", |s| {
            s.set(1, seq.as_str());
            s.set(2, "CE");
            s.set_comp(3, 1, "64994-7")
                .set_comp(3, 2, "Vaccine funding program eligibility category")
                .set_comp(3, 3, "LN");
            s.set(4, seq.as_str());
            s.set_comp(5, 1, vfc_code)
                .set_comp(5, 2, vfc_text)
                .set_comp(5, 3, "HL70064");
            s.set(11, "F");
            s.set(14, date.as_str());
            s.set_comp(17, 1, "VXC40")
                .set_comp(17, 2, "Eligibility captured at the immunization level")
                .set_comp(17, 3, "CDCPHINVS");
        });
    }

    /// A QBP^Q11 Z34 query (request immunization history) for `patient`, with a new MSH-10
    /// and query tag.
    pub fn z34(&mut self, p: &Patient) -> Generated {
        let control_id = self.next_id('M', Counter::Message);
        let query_tag = format!("Q{}", &control_id[1..]);
        let mut b = MessageBuilder::new(Delimiters::DEFAULT);
        self.msh(&mut b, ("QBP", "Q11", "QBP_Q11"), &control_id, "Z34");
        let birth = p.birth.hl7();
        b.segment("QPD", |s| {
            s.set_comp(1, 1, "Z34")
                .set_comp(1, 2, "Request Immunization History")
                .set_comp(1, 3, "CDCPHINVS");
            s.set(2, query_tag.as_str());
            s.set_comp(3, 1, p.mrn.as_str())
                .set_comp(3, 4, SENDING_APPLICATION)
                .set_comp(3, 5, "MR");
            set_name(s, 4, p.family, p.given, p.middle, "L");
            set_name(s, 5, p.mother_maiden, p.mother_given, "", "M");
            s.set(6, birth.as_str());
            s.set(7, p.sex);
            set_address(s, 8, p);
            s.set_comp(9, 2, "PRN")
                .set_comp(9, 3, "PH")
                .set_comp(9, 6, p.area_code)
                .set_comp(9, 7, p.phone.as_str());
        });
        b.segment("RCP", |s| {
            s.set(1, "I");
            s.set_comp(2, 1, "10");
            s.set_sub(2, 2, 1, "RD")
                .set_sub(2, 2, 2, "records")
                .set_sub(2, 2, 3, "HL70126");
        });
        Generated {
            text: b.finish(),
            control_id,
            query_tag,
        }
    }
}

#[derive(Clone, Copy)]
enum Counter {
    Message,
    Dose,
}

fn set_name<'s>(
    s: &mut izport::hl7::SegmentBuilder<'s>,
    field: usize,
    family: &'s str,
    given: &'s str,
    middle: &'s str,
    kind: &'s str,
) {
    s.set_comp(field, 1, family)
        .set_comp(field, 2, given)
        .set_comp(field, 3, middle)
        .set_comp(field, 7, kind);
}

fn set_address<'s>(s: &mut izport::hl7::SegmentBuilder<'s>, field: usize, p: &'s Patient) {
    s.set_comp(field, 1, p.street.as_str())
        .set_comp(field, 3, p.city)
        .set_comp(field, 4, p.state)
        .set_comp(field, 5, p.zip.as_str())
        .set_comp(field, 6, "USA")
        .set_comp(field, 7, "P");
}

fn set_provider<'s>(
    s: &mut izport::hl7::SegmentBuilder<'s>,
    field: usize,
    provider: (&'s str, &'s str, &'s str),
) {
    s.set_comp(field, 1, provider.0)
        .set_comp(field, 2, provider.1)
        .set_comp(field, 3, provider.2)
        .set_comp(field, 9, "CMS")
        .set_comp(field, 13, "NPI");
}

#[cfg(test)]
mod tests {
    use super::*;
    use izport::hl7::Message;

    fn now() -> jiff::Timestamp {
        "2025-03-04T15:16:17Z".parse().unwrap()
    }

    #[test]
    fn day_arithmetic_round_trips() {
        assert_eq!(Day::from_ymd(1970, 1, 1), Day(0));
        assert_eq!(Day(0).ymd(), (1970, 1, 1));
        assert_eq!(Day::from_ymd(2000, 2, 29).ymd(), (2000, 2, 29));
        assert_eq!(
            Day::from_ymd(2024, 3, 1).0 - Day::from_ymd(2024, 2, 28).0,
            2
        );
        assert_eq!(
            Day::from_ymd(2023, 3, 1).0 - Day::from_ymd(2023, 2, 28).0,
            1
        );
        for n in (-800_000..800_000).step_by(997) {
            let (y, m, d) = Day(n).ymd();
            assert_eq!(Day::from_ymd(y, m, d), Day(n));
        }
        assert_eq!(Day::from_ymd(2025, 12, 31).hl7(), "20251231");
    }

    #[test]
    fn mrns_are_unique_and_stable() {
        let a = mrn(1, 0, 0);
        assert_eq!(a, mrn(1, 0, 0));
        assert_ne!(a, mrn(1, 0, 1));
        assert_ne!(a, mrn(1, 1, 0));
        assert_ne!(a, mrn(2, 0, 0));
        assert_eq!(a.len(), 15);
        let mut g = Generator::new(1, 0, "FAC", now());
        assert_eq!(g.patient().mrn, a);
        assert_eq!(g.patient().mrn, mrn(1, 0, 1));
    }

    #[test]
    fn vxu_has_the_fields_izport_checks() {
        let mut g = Generator::new(42, 3, "LFAC", now());
        let today = Day::from_ymd(2025, 3, 4);
        let mut seen_ids = std::collections::HashSet::new();
        let mut dose_counts = [0usize; 4];
        for _ in 0..500 {
            let p = g.patient();
            let vxu = g.vxu(&p);
            let msg = Message::parse(&vxu.text).expect("VXU parses");
            let get = |path: &str| msg.get(path).map(|v| v.into_owned());
            assert_eq!(get("MSH-3").as_deref(), Some(SENDING_APPLICATION));
            assert_eq!(get("MSH-4").as_deref(), Some("LFAC"));
            assert_eq!(get("MSH-7").as_deref(), Some("20250304151617+0000"));
            assert_eq!(get("MSH-9-1").as_deref(), Some("VXU"));
            assert_eq!(get("MSH-9-2").as_deref(), Some("V04"));
            assert_eq!(get("MSH-9-3").as_deref(), Some("VXU_V04"));
            assert_eq!(get("MSH-10").as_deref(), Some(vxu.control_id.as_str()));
            assert!(seen_ids.insert(vxu.control_id.clone()), "MSH-10 repeats");
            assert_eq!(get("MSH-11").as_deref(), Some("P"));
            assert_eq!(get("MSH-12").as_deref(), Some("2.5.1"));
            assert_eq!(get("MSH-21-1").as_deref(), Some("Z22"));
            assert_eq!(get("MSH-21-2").as_deref(), Some("CDCPHINVS"));
            let ids: Vec<_> = msg.segments().map(|s| s.id()).collect();
            assert_eq!(&ids[..4], ["MSH", "PID", "PD1", "NK1"]);
            assert_eq!(get("PID-3-1").as_deref(), Some(p.mrn.as_str()));
            assert_eq!(get("PID-3-5").as_deref(), Some("MR"));
            assert_eq!(get("PID-5-1").as_deref(), Some(p.family));
            assert_eq!(get("PID-5-2").as_deref(), Some(p.given));
            assert_eq!(get("PID-5-7").as_deref(), Some("L"));
            assert_eq!(get("PID-6-1").as_deref(), Some(p.mother_maiden));
            assert_eq!(get("PID-6-7").as_deref(), Some("M"));
            assert!(matches!(get("PID-8").as_deref(), Some("F" | "M")));
            assert!(get("PID-11-1").is_some() && get("PID-13-7").is_some());
            let birth = get("PID-7").expect("PID-7");
            let birth_day = izport::hl7::parse_dtm(&birth).expect("PID-7 is a date");
            let bd = birth_day.date().expect("PID-7 has a day");
            let birth = Day::from_ymd(bd.year().into(), bd.month() as u32, bd.day() as u32);
            assert!(
                birth < today && birth.0 >= today.0 - EIGHTEEN_YEARS,
                "{birth:?}"
            );

            // 1–3 ORC/RXA/RXR/OBX groups, in that order.
            let groups = &ids[4..];
            assert_eq!(groups.len() % 4, 0, "{ids:?}");
            let n = groups.len() / 4;
            assert!((1..=3).contains(&n));
            dose_counts[n] += 1;
            for (i, chunk) in groups.chunks(4).enumerate() {
                assert_eq!(chunk, ["ORC", "RXA", "RXR", "OBX"]);
                let k = i + 1;
                let at = |seg: &str, rest: &str| get(&format!("{seg}({k})-{rest}"));
                assert_eq!(at("ORC", "1").as_deref(), Some("RE"));
                let dose_id = at("ORC", "3").expect("ORC-3");
                assert!(seen_ids.insert(dose_id), "ORC-3 repeats");
                let given = at("RXA", "3").expect("RXA-3");
                let g = izport::hl7::parse_dtm(&given).unwrap().date().unwrap();
                let given = Day::from_ymd(g.year().into(), g.month() as u32, g.day() as u32);
                assert!(
                    given >= birth && given < today,
                    "dose {given:?} birth {birth:?}"
                );
                let cvx = at("RXA", "5-1").expect("CVX");
                assert_eq!(at("RXA", "5-3").as_deref(), Some("CVX"));
                let v = VACCINES.iter().find(|v| v.cvx == cvx).expect("known CVX");
                assert!((v.min_age..=v.max_age).contains(&(given.0 - birth.0)));
                assert!(cvx.len() <= 3 && cvx.bytes().all(|b| b.is_ascii_digit()));
                assert_eq!(at("RXA", "9-1").as_deref(), Some("00"));
                assert!(at("RXA", "15").is_some());
                assert_eq!(at("RXA", "17-3").as_deref(), Some("MVX"));
                assert_eq!(at("RXA", "20").as_deref(), Some("CP"));
                assert_eq!(at("RXA", "21").as_deref(), Some("A"));
                assert_eq!(at("OBX", "3-1").as_deref(), Some("64994-7"));
                assert!(at("OBX", "5-1").is_some_and(|c| c.starts_with('V')));
                assert_eq!(at("RXR", "1-3").as_deref(), Some("NCIT"));
            }
        }
        assert!(
            dose_counts[1] > 0 && dose_counts[2] > 0 && dose_counts[3] > 0,
            "{dose_counts:?}"
        );
    }

    #[test]
    fn z34_query_shape() {
        let mut g = Generator::new(9, 0, "LFAC", now());
        let p = g.patient();
        let q = g.z34(&p);
        assert!(
            q.text.contains("|RCP|I|10^RD&records&HL70126\r")
                || q.text.contains("\rRCP|I|10^RD&records&HL70126\r")
        );
        let msg = Message::parse(&q.text).expect("QBP parses");
        let get = |path: &str| msg.get(path).map(|v| v.into_owned());
        assert_eq!(get("MSH-9-1").as_deref(), Some("QBP"));
        assert_eq!(get("MSH-9-2").as_deref(), Some("Q11"));
        assert_eq!(get("MSH-21-1").as_deref(), Some("Z34"));
        assert_eq!(get("MSH-10").as_deref(), Some(q.control_id.as_str()));
        assert_eq!(get("QPD-1-1").as_deref(), Some("Z34"));
        assert_eq!(get("QPD-1-3").as_deref(), Some("CDCPHINVS"));
        assert_eq!(get("QPD-2").as_deref(), Some(q.query_tag.as_str()));
        assert_eq!(get("QPD-3-1").as_deref(), Some(p.mrn.as_str()));
        assert_eq!(get("QPD-3-4").as_deref(), Some(SENDING_APPLICATION));
        assert_eq!(get("QPD-3-5").as_deref(), Some("MR"));
        assert_eq!(get("QPD-4-1").as_deref(), Some(p.family));
        assert_eq!(get("QPD-5-1").as_deref(), Some(p.mother_maiden));
        assert_eq!(get("QPD-6").as_deref(), Some(p.birth.hl7().as_str()));
        assert_eq!(get("QPD-7").as_deref(), Some(p.sex));
        assert_eq!(get("RCP-1").as_deref(), Some("I"));
        assert_eq!(get("RCP-2-1").as_deref(), Some("10"));
        assert_eq!(get("RCP-2-2-1").as_deref(), Some("RD"));
        assert_eq!(get("RCP-2-2-3").as_deref(), Some("HL70126"));
        assert_ne!(g.z34(&p).query_tag, q.query_tag);
    }

    #[test]
    fn names_with_apostrophes_survive() {
        let mut g = Generator::new(5, 0, "LFAC", now());
        let mut p = g.patient();
        p.family = "O'Brien";
        let vxu = g.vxu(&p);
        let msg = Message::parse(&vxu.text).unwrap();
        assert_eq!(msg.get("PID-5-1").as_deref(), Some("O'Brien"));
    }

    #[test]
    fn same_seed_same_messages() {
        let run = |seed: u64, stream: u32| {
            let mut g = Generator::new(seed, stream, "LFAC", now());
            let mut out = Vec::new();
            for _ in 0..20 {
                let p = g.patient();
                out.push(g.vxu(&p).text);
                out.push(g.z34(&p).text);
            }
            out
        };
        assert_eq!(run(77, 2), run(77, 2));
        assert_ne!(run(77, 2), run(78, 2));
        assert_ne!(run(77, 2), run(77, 3));
    }
}
