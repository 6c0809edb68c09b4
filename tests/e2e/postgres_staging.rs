//! What a run stages on PostgreSQL: only its own apply reads it back, so
//! it is not written to the write-ahead log as well (schema 21).

use crate::common::Bench;

#[test]
fn a_runs_staging_is_not_written_to_the_log() {
    let bench = Bench::new();
    bench.add_integration("isp", None);
    bench.sync_ok("isp");
    for table in ["run_elements", "run_kinds"] {
        let persistence = bench.sql_row(&format!(
            "SELECT relpersistence FROM pg_class WHERE relname = '{table}'"
        ));
        assert_eq!(
            persistence,
            vec![Some("u".to_string())],
            "{table} should be unlogged"
        );
    }
    // The elements themselves are kept as any table is.
    let persistence =
        bench.sql_row("SELECT relpersistence FROM pg_class WHERE relname = 'elements'");
    assert_eq!(persistence, vec![Some("p".to_string())]);
    assert!(bench.sql_i64("SELECT count(*) FROM elements") > 0);
    assert_eq!(bench.sql_i64("SELECT count(*) FROM run_elements"), 0);
}
