//! `izport codes import`: CDC's published files into the database, read back as the tables in
//! force. Runs when IZPORT_CODES_DIR points at a folder of CDC code-set files.

use izport::cli::codes;
use izport::store::Db;

#[tokio::test]
async fn cdc_files_import_and_read_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::connect(&format!("sqlite:{}", dir.path().join("codes.db").display()))
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");

    // Nothing imported: the built-in tables are in force.
    assert!(codes::imported(&db).await.expect("read").is_none());

    // A folder without CDC's files is refused, and nothing changes.
    let empty = tempfile::tempdir().expect("empty dir");
    assert!(codes::import(&db, empty.path()).await.is_err());
    assert!(codes::imported(&db).await.expect("read").is_none());

    let Ok(cdc) = std::env::var("IZPORT_CODES_DIR") else {
        eprintln!("IZPORT_CODES_DIR not set: import of CDC files skipped");
        return;
    };
    let summary = codes::import(&db, std::path::Path::new(&cdc))
        .await
        .expect("import");
    let rows = |name: &str| {
        summary
            .iter()
            .find(|(t, _)| t == name)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    assert!(rows("cvx.tsv") > 200, "{summary:?}");
    assert!(rows("ndc.tsv") > 500, "{summary:?}");
    let (sets, _) = codes::imported(&db).await.expect("read").expect("imported");
    let hep_b = sets.cvx("8").expect("CVX 08");
    assert_eq!(hep_b.code, "08");
    assert!(sets.ndc("49281-0560-05").is_some());
    assert_eq!(sets.mvx("msd").map(|m| m.code.as_str()), Some("MSD"));
    // Imported from the same files the built-in tables were made from: the same answers.
    let builtin = izport::registry::codes::CodeSets::builtin();
    assert_eq!(sets.cvx_codes().count(), builtin.cvx_codes().count());
    assert_eq!(sets.ndc_codes().count(), builtin.ndc_codes().count());

    db.clear_code_tables().await.expect("reset");
    assert!(codes::imported(&db).await.expect("read").is_none());
}
