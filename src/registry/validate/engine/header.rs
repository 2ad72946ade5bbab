//! MSH: what decides whether the message is processed at all, and the header's own fields.

use super::*;

impl<'a, 'm, 'x> Engine<'a, 'm, 'x> {
    pub(super) fn msh(&mut self, msh: Segment<'a, 'm>, seq: u32) {
        let i = msh.index();
        let l = |f| loc("MSH", seq, f);
        if msh.field(1).raw() != "|" {
            self.emit(
                R::MSH_1_INVALID,
                i,
                l(1),
                None,
                format!(
                    "The field separator (MSH-1) is {}; it should be '|'.",
                    shown(msh.field(1).raw())
                ),
            );
        }
        if msh.field(2).raw() != "^~\\&" {
            self.emit(
                R::MSH_2_INVALID,
                i,
                l(2),
                None,
                format!(
                    "The encoding characters (MSH-2) are {}; they should be '^~\\&'.",
                    shown(msh.field(2).raw())
                ),
            );
        }
        for f in 3..=6u32 {
            let hd = msh.field(f as usize);
            let Some(uid) = comp(hd.component(2)) else {
                continue;
            };
            if !is_oid(&uid) {
                self.emit(
                    R::MSH_HD_OID,
                    i,
                    l(f).with_component(2),
                    None,
                    format!(
                        "The universal ID in MSH-{f} ({}) is not an OID such as 2.16.840.1.113883.3.72.",
                        shown(&uid)
                    ),
                );
            } else if comp(hd.component(3)).as_deref() != Some("ISO") {
                self.emit(
                    R::MSH_HD_OID,
                    i,
                    l(f).with_component(3),
                    None,
                    format!("The universal ID type in MSH-{f} (component 3) should be ISO."),
                );
            }
        }
        match val(&msh, 7, 1) {
            None => self.emit(
                R::MSH_7_MISSING,
                i,
                l(7),
                None,
                "The message date and time (MSH-7) is missing.".into(),
            ),
            Some(raw) => match when(&raw) {
                None => self.emit(
                    R::MSH_7_INVALID,
                    i,
                    l(7),
                    None,
                    format!(
                        "The message date and time (MSH-7) {} is not a valid HL7 date/time \
                         (YYYYMMDDHHMM[SS][+/-ZZZZ]).",
                        shown(&raw)
                    ),
                ),
                Some(w) => {
                    if w.precision < DtmPrecision::Minute {
                        self.emit(
                            R::MSH_7_PRECISION,
                            i,
                            l(7),
                            None,
                            "The message date and time (MSH-7) must give at least the hour and \
                             minute (YYYYMMDDHHMM)."
                                .into(),
                        );
                    }
                    if !w.has_offset {
                        self.emit(
                            R::MSH_7_TIMEZONE,
                            i,
                            l(7),
                            None,
                            "The message date and time (MSH-7) has no time zone offset (e.g. \
                             -0500)."
                                .into(),
                        );
                    }
                    if w.first > self.limit {
                        self.emit(
                            R::MSH_7_FUTURE,
                            i,
                            l(7),
                            None,
                            format!("The message date (MSH-7) {} is in the future.", w.first),
                        );
                    } else {
                        self.msg_date = w.day();
                    }
                }
            },
        }
        let kind = val(&msh, 9, 1);
        let event = val(&msh, 9, 2);
        match (kind.as_deref(), event.as_deref()) {
            (None, _) => self.emit(
                R::MSH_9_MISSING,
                i,
                l(9),
                None,
                "The message type (MSH-9) is missing; this service accepts VXU^V04.".into(),
            ),
            (Some("VXU"), Some("V04")) => {
                if val(&msh, 9, 3).as_deref() != Some("VXU_V04") {
                    self.emit(
                        R::MSH_9_STRUCTURE,
                        i,
                        l(9).with_component(3),
                        None,
                        "The message structure (MSH-9.3) should be VXU_V04.".into(),
                    );
                }
            }
            (Some("VXU"), other) => self.emit(
                R::MSH_9_EVENT,
                i,
                l(9).with_component(2),
                None,
                format!(
                    "The trigger event {} is not supported for VXU; only VXU^V04 is accepted.",
                    shown(other.unwrap_or(""))
                ),
            ),
            (Some("QBP"), _) => self.emit(
                R::MSH_9_TYPE,
                i,
                l(9),
                None,
                "A history query (QBP) is not an immunization update; only VXU^V04 is \
                 validated here."
                    .into(),
            ),
            (Some(other), _) => self.emit(
                R::MSH_9_TYPE,
                i,
                l(9),
                None,
                format!(
                    "The message type {} is not supported; this service accepts VXU^V04.",
                    shown(other)
                ),
            ),
        }
        if val(&msh, 10, 1).is_none() {
            self.emit(
                R::MSH_10_MISSING,
                i,
                l(10),
                None,
                "The message control ID (MSH-10) is missing, so this acknowledgement cannot be \
                 matched to the message."
                    .into(),
            );
        }
        let processing = val(&msh, 11, 1);
        if !matches!(processing.as_deref(), Some("P" | "T" | "D")) {
            self.emit(
                R::MSH_11_INVALID,
                i,
                l(11),
                None,
                match processing {
                    None => "The processing ID (MSH-11) is missing; send P, T or D.".to_string(),
                    Some(p) => {
                        format!("The processing ID (MSH-11) {} is not P, T or D.", shown(&p))
                    }
                },
            );
        }
        let version = val(&msh, 12, 1);
        if version.as_deref() != Some("2.5.1") {
            self.emit(
                R::MSH_12_VERSION,
                i,
                l(12),
                None,
                format!(
                    "The HL7 version (MSH-12) {} is not supported; send version 2.5.1.",
                    shown(version.as_deref().unwrap_or(""))
                ),
            );
        }
        for (f, missing, invalid) in [
            (15u32, R::MSH_15_MISSING, R::MSH_15_INVALID),
            (16, R::MSH_16_MISSING, R::MSH_16_INVALID),
        ] {
            match val(&msh, f as usize, 1) {
                None => self.emit(
                    missing,
                    i,
                    l(f),
                    None,
                    format!("The acknowledgment type MSH-{f} is missing; send AL, NE, ER or SU."),
                ),
                Some(v) if !matches!(v.as_ref(), "AL" | "NE" | "ER" | "SU") => self.emit(
                    invalid,
                    i,
                    l(f),
                    None,
                    format!(
                        "The acknowledgment type MSH-{f} {} is not AL, NE, ER or SU.",
                        shown(&v)
                    ),
                ),
                Some(_) => {}
            }
        }
        let profiles = msh.field(21);
        let mut any_profile = false;
        let mut z22 = false;
        for rep in profiles.repetitions() {
            let Some(id) = comp(rep.component(1)) else {
                continue;
            };
            any_profile = true;
            z22 |= id == "Z22" && comp(rep.component(2)).as_deref() == Some("CDCPHINVS");
        }
        if !any_profile {
            self.emit(
                R::MSH_21_MISSING,
                i,
                l(21),
                None,
                "The message profile (MSH-21) is missing; send Z22^CDCPHINVS.".into(),
            );
        } else if !z22 {
            self.emit(
                R::MSH_21_PROFILE,
                i,
                l(21).with_component(1),
                None,
                "The message profile (MSH-21) does not name Z22^CDCPHINVS.".into(),
            );
        }
    }
}
