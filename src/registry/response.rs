//! What the registry answers, and what it did: enough for a caller to report on a message
//! (a batch file's data-quality report, a log line) without parsing the HL7 response again.

use crate::hl7::AckCode;

use super::finding::Finding;
use super::matching::MatchedBy;
use super::query::{QueryProfile, QueryStatus};

/// The HL7 response to one message and how it was judged.
#[derive(Clone, Debug)]
pub struct Response {
    /// The ACK or RSP, segments separated by CR.
    pub hl7: String,
    /// MSA-1.
    pub ack: AckCode,
    /// The message-log entry written for it; `None` for a resend answered from the log.
    pub message_id: Option<i64>,
    /// The patient the message was about: the record a VXU wrote to, the patient a query returned
    /// (the first candidate of a list).
    pub patient_id: Option<i64>,
    /// The same message (organization, MSH-10, content) was answered before: `hl7` is that
    /// answer, byte for byte, and nothing else was done (the other fields are empty).
    pub resent: bool,
    /// Every finding, in message order, as the ERR segments report them (before the ACK's limit
    /// on ERR segments): rule id, severity, scope, ERR-2 location, codes, dose ordinal.
    pub findings: Vec<Finding>,
    /// A VXU whose patient was kept: how the record was found.
    pub patient: Option<PatientOutcome>,
    /// What a VXU stored (all zero when nothing was).
    pub stored: Stored,
    /// A query's profile (when readable) and QAK-2.
    pub query: Option<QueryReport>,
}

impl Response {
    /// A response whose only content is the HL7 text (the report fields empty).
    pub(crate) fn bare(hl7: String, ack: AckCode) -> Response {
        Response {
            hl7,
            ack,
            message_id: None,
            patient_id: None,
            resent: false,
            findings: Vec::new(),
            patient: None,
            stored: Stored::default(),
            query: None,
        }
    }
}

/// How a VXU's patient was placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatientOutcome {
    /// The existing record the report was linked to, and how; `None`: a new record.
    pub matched: Option<MatchedBy>,
    /// Possible matches put on the review list for a person to decide.
    pub reviews: usize,
}

/// Counts of what one VXU wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// Doses added or updated (RXA-21 A or U).
    pub doses: usize,
    /// Doses deleted (RXA-21 D).
    pub deleted: usize,
    pub refusals: usize,
    pub not_administered: usize,
    pub immunity: usize,
}

/// What a query was and what its answer says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryReport {
    pub profile: Option<QueryProfile>,
    /// QAK-2.
    pub status: QueryStatus,
    /// Patients the answer shows (one for Z32, the candidates for Z31).
    pub returned: usize,
}
