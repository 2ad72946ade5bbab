//! HL7 v2 codec (v2.5.1 as profiled by the CDC immunization implementation guide).
//!
//! * [`parse`]: a zero-copy parser. [`Message::parse`] borrows the input text, records
//!   segment and field boundaries in one pass, and finds repetitions, components and
//!   subcomponents lazily when they are asked for. Escape sequences are decoded on access.
//! * [`escape`]: [`escape`]/[`unescape`] of field text, and [`reencode`] to move raw
//!   (already-encoded) text from one set of delimiters to another.
//! * [`encode`]: [`MessageBuilder`]/[`SegmentBuilder`] for outbound messages.
//! * [`ack`]: the CDC Z23 acknowledgement ([`build_ack`]).
//! * [`datatypes`]: HL7 DTM/TS/DT values ([`parse_dtm`]).
//!
//! No I/O; dates are the service's one date type ([`crate::date::Date`]).

pub mod ack;
pub mod datatypes;
pub mod encode;
pub mod escape;
pub mod parse;

pub use ack::{
    build_ack, cdc_0533_text, hl7_0357_text, AckCode, AckContext, AckParams, AppCode, ErrEntry,
    ErrLocation, Severity,
};
pub use datatypes::{parse_dtm, Dtm, DtmError, DtmPrecision};
pub use encode::{MessageBuilder, SegmentBuilder};
pub use escape::{escape, reencode, unescape};
pub use parse::{
    count_messages, Component, Components, Delimiters, Field, Fields, Message, ParseError,
    Repetition, Repetitions, Segment, Segments, SegmentsNamed, Subcomponents,
};
