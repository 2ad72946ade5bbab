//! A sentence on how to fix each rule, for people who maintain the sending system. The rule's
//! own description (from the catalogue) says what was wrong; this says what to do, by the kind
//! of rule its id names (missing, invalid, unknown code, a date in the future …) and where it
//! is reported.

/// How to fix a finding of `rule`, reported at `location` (the catalogue's, when known).
pub fn how_to_fix(rule: &str, location: Option<&str>) -> String {
    let at = location.unwrap_or_else(|| rule.split('-').next().unwrap_or(rule));
    let r = rule.to_ascii_lowercase();
    let ends = |s: &str| r.ends_with(s);
    let text = if r.starts_with("consent") || r.contains("-consent") {
        "Record the patient's consent in your system (PD1-12 and PD1-13) before sending, or send \
         only the doses the registry may keep without it."
            .to_string()
    } else if ends("-missing") || r.contains("-missing") {
        format!(
            "Fill {at} in the records your system sends: check that the value is captured at \
             the point of care and that the export maps it to {at}."
        )
    } else if ends("-unknown") || r.contains("-unknown") || ends("-system") || ends("-table") {
        format!(
            "Send a code from the value set the CDC guide names for {at} (with its code system), \
             or map your local code to it in the interface."
        )
    } else if ends("-deprecated") || ends("-inactive") {
        format!("Update the code sent in {at} to a current one from the CDC code tables.")
    } else if ends("-future") || ends("-too-old") || ends("-order") || r.contains("date") {
        format!(
            "Check the date in {at} against the other dates of the record (birth, \
             administration, message) and correct it at the source."
        )
    } else if ends("-precision") || ends("-timezone") {
        format!("Send {at} with the precision and time zone offset the CDC guide asks for.")
    } else if ends("-mismatch") || ends("-inconsistent") {
        format!(
            "Make {at} agree with the related fields of the same record (vaccine, product \
             code, manufacturer) in your system."
        )
    } else if ends("-repeated") || ends("-multiple") || ends("-reused") {
        format!("Send {at} once per record, and a new message control id for every new message.")
    } else if r.starts_with("msh") || r.starts_with("msg") || r.starts_with("file") {
        format!(
            "Correct the message header ({at}) in your interface's settings: message type, \
             version, processing id and control id."
        )
    } else {
        format!("Correct {at} in the sending system so that it meets the CDC implementation guide.")
    };
    text
}

#[cfg(test)]
mod tests {
    use super::how_to_fix;

    #[test]
    fn every_rule_gets_a_sentence_naming_its_place() {
        for rule in crate::registry::rules::rules() {
            let s = how_to_fix(rule.id, Some(rule.location));
            assert!(s.ends_with('.'), "{}: {s}", rule.id);
            assert!(
                s.contains(rule.location) || s.contains("PD1-12"),
                "{}: {s}",
                rule.id
            );
        }
    }
}
