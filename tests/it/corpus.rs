//! Every message of the shared corpus through submitSingleMessage: a SOAP response or fault each time, never a panic, hang or empty body; every
//! HL7 response parses and echoes the request's MSH-10.

use crate::common::*;
use crate::inputs::corpus_dir;
use izport::hl7::Message;

/// MSH-10 of the first MSH in a raw file, read independently of the codec under test.
fn control_id(raw: &str) -> Option<String> {
    let text = raw.trim_start_matches('\u{feff}');
    let line = text.split(['\r', '\n']).find(|l| l.starts_with("MSH"))?;
    let sep = line.chars().nth(3)?;
    let value = line.split(sep).nth(9)?.trim().to_string();
    (!value.is_empty()).then_some(value)
}

#[tokio::test]
#[ignore = "needs IZPORT_CORPUS_DIR: the shared HL7 corpus"]
async fn every_corpus_message_gets_a_sane_answer() {
    let dir = corpus_dir();
    let app = spawn_app().await;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .collect();
    entries.sort();
    assert!(
        entries.len() >= 70,
        "corpus looks incomplete: {}",
        entries.len()
    );
    let mut faults = Vec::new();
    for path in &entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let bytes = std::fs::read(path).expect("read");
        let raw = String::from_utf8_lossy(&bytes).to_string();
        let (status, body) = app
            .soap12(&submit_envelope(USER, PASSWORD, FACILITY, &raw))
            .await;
        assert!(!body.is_empty(), "{name}: empty body");
        if status != 200 {
            assert!(
                body.contains("Fault"),
                "{name}: HTTP {status} without a SOAP fault: {body}"
            );
            faults.push(name);
            continue;
        }
        let hl7 = return_text(&body).unwrap_or_else(|| panic!("{name}: no return element"));
        let parsed =
            Message::parse(&hl7).unwrap_or_else(|e| panic!("{name}: response does not parse: {e}"));
        let msa1 = parsed.get("MSA-1").map(|v| v.into_owned());
        assert!(
            matches!(msa1.as_deref(), Some("AA" | "AE" | "AR")),
            "{name}: MSA-1 {msa1:?}"
        );
        if let Some(expected) = control_id(&raw) {
            assert_eq!(
                parsed.get("MSA-2").map(|v| v.into_owned()),
                Some(expected),
                "{name}: MSA-2 must echo MSH-10"
            );
        }
        eprintln!("{name}: HTTP {status} MSA-1 {}", msa1.unwrap_or_default());
        for err in parsed.segments_named("ERR") {
            eprintln!("    ERR {} {}", err.field(2).raw(), err.field(8).raw());
        }
    }
    // Only the files holding more than one message may be refused, with MessageTooLargeFault.
    for name in &faults {
        let raw =
            std::fs::read_to_string(std::path::Path::new(&dir).join(name)).unwrap_or_default();
        assert!(
            izport::hl7::count_messages(&raw) > 1,
            "{name}: fault for a single message"
        );
    }
}
