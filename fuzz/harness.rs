//! What each fuzz target does with one input, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`) and the regression tests that replay the inputs the fuzzer found
//! (`tests/it/fuzz.rs`, over `tests/data/fuzz/<target>/`). Only the library's public API.
//!
//! Each function must never panic for any input: a panic inside izport is a finding, and so is
//! a failed `assert!` here, which checks a property the code documents (an escaped value
//! unescapes to itself, an acknowledgement parses, a decoded request's text survives being
//! written back).

// Each target uses one of the functions below.
#![allow(dead_code)]

use std::borrow::Cow;

use izport::batch::reader::{self, Item, Scanner, Splitter};
use izport::hl7::{
    build_ack, count_messages, escape, parse_dtm, reencode, unescape, AckCode, AckContext,
    AckParams, Delimiters, ErrEntry, Field, Message, MessageBuilder, SegmentBuilder,
};
use izport::registry::codes::CodeSets;
use izport::registry::query::{parse_query, QueryLimits};
use izport::registry::validate::{ack_errors, validate, Context};
use izport::registry::vxu;
use izport::soap::envelope::{self, Operation};

/// The production limit on an HTTP body (`--max-body-bytes`' default).
pub const MAX_BODY_BYTES: usize = 524_288;
/// The production limit on one HL7 message (`--max-message-bytes`' default).
pub const MAX_MESSAGE_BYTES: usize = 65_536;

const PARAMS: AckParams<'static> = AckParams {
    control_id: "FUZZ-0001",
    timestamp: "20240601120000+0000",
    sending_application: "IZPORT",
    sending_facility: "IZPORT",
};

/// A field's decoded values: repetitions, their components, their subcomponents.
type Shape = Vec<Vec<Vec<String>>>;

/// A segment's id and its fields' values by field number.
type SegmentValues = (String, Vec<(usize, Shape)>);

/// A field's decoded values, repetition by repetition, component by component.
fn shape(field: &Field<'_>) -> Shape {
    field
        .repetitions()
        .map(|rep| {
            rep.components()
                .map(|c| {
                    (1..=c.subcomponents().count().max(1))
                        .map(|s| c.subcomponent_value(s).into_owned())
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Trailing empty values dropped at every level (a builder leaves them out).
fn trimmed(mut v: Shape) -> Shape {
    for rep in &mut v {
        for comp in rep.iter_mut() {
            while comp.last().is_some_and(String::is_empty) {
                comp.pop();
            }
        }
        while rep.last().is_some_and(Vec::is_empty) {
            rep.pop();
        }
    }
    while v.last().is_some_and(Vec::is_empty) {
        v.pop();
    }
    v
}

/// The acknowledgement izport would send parses, says `code` and echoes the control id.
fn check_ack(ack: &str, ctx: &AckContext<'_>, code: AckCode, errors: usize) {
    let parsed = Message::parse(ack);
    assert!(parsed.is_ok(), "an ACK that does not parse: {ack:?}");
    let Ok(msg) = parsed else { return };
    assert_eq!(msg.segment_count(), 2 + errors, "ACK segments: {ack:?}");
    let msa = msg.segment_at(1).map(|s| (s.id(), s.field(1).raw()));
    assert_eq!(msa, Some(("MSA", code.as_str())), "{ack:?}");
    if let Some(msa) = msg.segment_at(1) {
        let echoed = shape(&msa.field(2));
        let sent = shape(&Field::new(ctx.control_id, ctx.delimiters));
        assert_eq!(echoed, sent, "MSA-2 does not echo MSH-10: {ack:?}");
    }
}

/// Every accessor of every segment, and the documented round trips of the codec.
fn walk(msg: &Message<'_>) {
    let d = msg.delimiters();
    let mut rebuilt = MessageBuilder::new(d);
    let mut expected = Vec::new();
    for seg in msg.segments() {
        let id = seg.id();
        let header = matches!(id, "MSH" | "FHS" | "BHS");
        let first = if header { 3 } else { 1 };
        let mut sb = SegmentBuilder::new(id);
        let mut fields = Vec::new();
        for f in 0..seg.field_count() + 2 {
            let field = seg.field(f);
            let _ = (
                field.is_empty(),
                field.is_null(),
                field.value(),
                field.decoded(),
            );
            let _ = (seg.get(f, 1), seg.get_sub(f, 2, 2, 2));
            if f < first {
                continue;
            }
            for (r, rep) in field.repetitions().enumerate() {
                let _ = (
                    rep.is_null(),
                    rep.value(),
                    rep.decoded(),
                    rep.component_count(),
                );
                for (c, comp) in rep.components().enumerate() {
                    let _ = (comp.is_null(), comp.decoded());
                    for (s, sub) in comp.subcomponents().enumerate() {
                        let value = comp.subcomponent_value(s + 1);
                        // Documented: unescape(escape(s)) == s for every string.
                        let escaped = escape(&value, &d);
                        assert_eq!(unescape(&escaped, &d), value, "escape round trip");
                        let _ = unescape(sub, &d);
                        if let Ok(dtm) = parse_dtm(&value) {
                            assert_eq!(parse_dtm(&dtm.to_string()), Ok(dtm), "DTM round trip");
                        }
                        sb.set_rep_sub(f, r + 1, c + 1, s + 1, value.into_owned());
                    }
                }
            }
            // Moving a field to the standard delimiters keeps every value.
            let moved = reencode(field.raw(), &d, &Delimiters::DEFAULT);
            assert_eq!(
                shape(&Field::new(&moved, Delimiters::DEFAULT)),
                shape(&field),
                "reencode changed {id}-{f}"
            );
            fields.push((f, trimmed(shape(&field))));
        }
        rebuilt.push(&sb);
        expected.push((id.to_string(), fields));
        for path in [
            format!("{id}-1"),
            format!("{id}(2)-3(2)-1-1"),
            format!("{id}.9.2"),
        ] {
            let _ = msg.get(&path);
        }
    }
    let _ = msg.segment_at(usize::MAX);
    // Encode → parse: the message written back by the builder reads the same values.
    let text = rebuilt.finish();
    let again = Message::parse(&text);
    assert!(
        again.is_ok(),
        "a rebuilt message that does not parse: {text:?}"
    );
    let Ok(again) = again else { return };
    let got: Vec<_> = again
        .segments()
        .map(|seg| {
            let header = matches!(seg.id(), "MSH" | "FHS" | "BHS");
            let first = if header { 3 } else { 1 };
            let fields: Vec<_> = (first..seg.field_count() + 2)
                .map(|f| (f, trimmed(shape(&seg.field(f)))))
                .collect();
            (seg.id().to_string(), fields)
        })
        .collect();
    let strip = |v: Vec<SegmentValues>| {
        v.into_iter()
            .map(|(id, fields)| {
                let fields: Vec<_> = fields.into_iter().filter(|(_, v)| !v.is_empty()).collect();
                (id, fields)
            })
            .filter(|(id, fields)| !(fields.is_empty() && id.bytes().all(is_blank_byte)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        strip(got),
        strip(expected),
        "encode/parse round trip: {text:?}"
    );
}

fn is_blank_byte(b: u8) -> bool {
    b.is_ascii_whitespace() || b == 0x0b || b == 0x1c
}

/// One HL7 message as either door reads it: bytes that are not UTF-8 are read as
/// Windows-1252 (the batch door), then the codec, the acknowledgement of a message that does
/// not parse, and the registry's checks that need no store (VXU validation and what it would
/// keep, a query's reading).
pub fn hl7_parse(data: &[u8]) {
    let (text, _) = reader::decode(data);
    hl7_text(&text);
}

/// [`hl7_parse`] on text.
pub fn hl7_text(text: &str) {
    let _ = count_messages(text);
    let salvaged = AckContext::salvage(text);
    let errors = [ErrEntry::error(102, "fuzz")];
    let ack = build_ack(&salvaged, AckCode::AR, &errors, &PARAMS);
    check_ack(&ack, &salvaged, AckCode::AR, errors.len());
    let msg = match Message::parse(text) {
        Ok(msg) => msg,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    walk(&msg);
    let Some(today) = izport::date::ymd(2024, 6, 1) else {
        return;
    };
    let codes = CodeSets::builtin();
    let mut findings = validate(&msg, &Context::new(today, codes));
    let _ = vxu::extract(&msg, codes, &mut findings);
    for f in &findings {
        assert!(!f.message.is_empty(), "a finding without a message");
    }
    let errs = ack_errors(&findings, 20);
    assert!(errs.len() <= 20);
    let ctx = AckContext::from_message(&msg);
    let ack = build_ack(&ctx, AckCode::AE, &errs, &PARAMS);
    check_ack(&ack, &ctx, AckCode::AE, errs.len());
    match parse_query(&msg, &QueryLimits::default(), today) {
        Ok(q) => assert!(q.max_candidates <= QueryLimits::default().max_candidates),
        Err(findings) => assert!(!findings.is_empty(), "a refused query without a reason"),
    }
}

/// A SOAP request body as the handler sees it (at most the production body limit), the
/// envelope decoder, and for a decoded request what the handler does next without a store:
/// the reply written back and decoded again, and the hl7Message's size and message count
/// checks and parse.
pub fn soap_decode(data: &[u8]) {
    let body = &data[..data.len().min(MAX_BODY_BYTES)];
    let _ = envelope::envelope_version(body);
    let request = match envelope::decode(body) {
        Ok(request) => request,
        Err(e) => {
            let text = e.to_string();
            assert!(!text.is_empty());
            return;
        }
    };
    let _ = request.addressing.as_ref().map(|a| a.non_anonymous());
    match &request.operation {
        Operation::ConnectivityTest { echo_back } => {
            // The echo written into a request of the same version decodes to itself.
            let echo = echo_back.as_deref().unwrap_or("");
            let again = envelope::decode(connectivity_request(request.version, echo).as_bytes());
            match again {
                Ok(envelope::Request {
                    operation: Operation::ConnectivityTest { echo_back: back },
                    ..
                }) => assert_eq!(back.as_deref().unwrap_or(""), echo, "echoBack round trip"),
                other => panic!("an echoBack that does not come back: {other:?}"),
            }
        }
        Operation::SubmitSingleMessage { hl7_message, .. } => {
            assert!(
                !hl7_message.trim().is_empty(),
                "an empty hl7Message accepted"
            );
            if hl7_message.len() <= MAX_MESSAGE_BYTES && count_messages(hl7_message) <= 1 {
                hl7_text(hl7_message);
            }
        }
    }
}

/// A connectivity test request carrying `echo`, escaped as izport's clients escape text.
fn connectivity_request(version: envelope::SoapVersion, echo: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"{}\" xmlns:i=\"{}\"><s:Body><i:connectivityTest><i:echoBack>{}</i:echoBack></i:connectivityTest></s:Body></s:Envelope>",
        version.namespace(),
        izport::soap::wire::CDC_2011_NS,
        izport::soap::wire::escape(echo)
    )
}

/// A batch file as the worker reads it: the scanner over the whole file, then the splitter
/// in chunks whose sizes come from the input itself, each message decoded and read as HL7.
/// Both passes must agree on the messages (indexes and count), whatever the chunking.
pub fn batch_reader(data: &[u8]) {
    // The first byte picks the chunk size, so the fuzzer explores chunk boundaries.
    let (chunk, file) = match data.split_first() {
        Some((&c, rest)) => (usize::from(c % 64) + 1, rest),
        None => (1, data),
    };
    let max = 256;
    let mut scanner = Scanner::new(max);
    for c in file.chunks(chunk) {
        scanner.feed(c);
    }
    let structure = scanner.finish();
    for p in &structure.problems {
        assert!(!p.text.is_empty());
    }
    let _ = structure.unreadable();
    let mut splitter = Splitter::new(max);
    let mut items = Vec::new();
    for c in file.chunks(chunk) {
        splitter.feed(c, &mut items);
    }
    splitter.finish(&mut items);
    // The same file in one piece gives the same items.
    let mut whole = Splitter::new(max);
    let mut once = Vec::new();
    whole.feed(file, &mut once);
    whole.finish(&mut once);
    assert_eq!(items, once, "the items depend on the chunking");
    let mut next = 0;
    for item in &items {
        match item {
            Item::Message {
                index,
                text,
                oversize,
                ..
            } => {
                assert_eq!(*index, next, "message indexes skip");
                next += 1;
                assert!(text.len() <= max + 1, "a message over the limit was kept");
                assert!(text.starts_with(b"MSH"));
                let _ = structure.batch_of(*index);
                let (decoded, _) = reader::decode(text);
                let decoded: Cow<'_, str> = decoded;
                let _ = AckContext::salvage(&decoded);
                if !oversize {
                    hl7_text(&decoded);
                }
            }
            Item::Envelope { text, .. } => {
                for n in 0..13 {
                    let _ = reader::envelope_field(text, n);
                }
            }
            Item::Stray { .. } => {}
        }
    }
    assert_eq!(structure.messages, next, "scanner and splitter disagree");
}
