//! `izport codes import`: CDC's published files into the database, read back as the tables in
//! force.

use izport::cli::codes;
use izport::store::Db;

use crate::inputs::codes_dir;

async fn fresh_db(dir: &tempfile::TempDir) -> Db {
    let db = Db::connect(&format!("sqlite:{}", dir.path().join("codes.db").display()))
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    db
}

#[tokio::test]
async fn a_folder_without_cdc_files_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = fresh_db(&dir).await;
    // Nothing imported: the built-in tables are in force.
    assert!(codes::imported(&db).await.expect("read").is_none());
    let empty = tempfile::tempdir().expect("empty dir");
    assert!(codes::import(&db, empty.path()).await.is_err());
    assert!(codes::imported(&db).await.expect("read").is_none());
}

#[tokio::test]
#[ignore = "needs IZPORT_CODES_DIR: CDC's code-set files"]
async fn cdc_files_import_and_read_back() {
    let cdc = codes_dir();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = fresh_db(&dir).await;
    let summary = codes::import(&db, &cdc).await.expect("import");
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
