//! Golden tests: each `test_data/cases/{case}.sql` is a statement with its job in `--`
//! header lines, rendered by [`check`] into `{case}.expected.txt`. The expected files are
//! reviewed by hand; `UPDATE_EXPECT=1` rewrites them, and the diff must be reviewed.
//!
//! Header lines: `-- about: …`, `-- dialect: …` (absent: none given), and any number of
//! `-- input: <namespace> <name> [col, col, …]` and `-- output: …` (without the brackets
//! the schema is unknown).

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::{
    Derived, Kind, MAX_EXPRESSION_TOKENS, MAX_SET_OPERATIONS, MAX_SQL_BYTES, Relation, SqlError, derive, dialect_name,
};

fn test_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data")
}

/// Compares `actual` with the golden file under `test_data/` (see `tributary_golden`).
fn check_golden(name: &str, actual: &str) {
    tributary_golden::check(&test_data().join(name), actual);
}

struct Case {
    about: String,
    dialect: Option<String>,
    inputs: Vec<Relation>,
    outputs: Vec<Relation>,
    sql: String,
}

fn parse_relation(spec: &str) -> Relation {
    let (head, fields) = match spec.split_once('[') {
        Some((head, rest)) => {
            let list = rest.trim_end().strip_suffix(']').expect("relation columns end with `]`");
            let fields = list.split(',').map(str::trim).filter(|f| !f.is_empty()).map(str::to_owned).collect();
            (head, Some(fields))
        }
        None => (spec, None),
    };
    let mut words = head.split_whitespace();
    let namespace = words.next().expect("relation namespace").to_owned();
    let name = words.next().expect("relation name").to_owned();
    Relation { namespace, name, fields }
}

fn read_case(case: &str) -> Case {
    let sql = std::fs::read_to_string(test_data().join(format!("cases/{case}.sql"))).unwrap();
    let mut about = String::new();
    let mut dialect = None;
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    for line in sql.lines() {
        let Some(header) = line.strip_prefix("-- ") else { continue };
        let Some((key, value)) = header.split_once(": ") else { continue };
        match key {
            "about" => about = value.to_owned(),
            "dialect" => dialect = Some(value.to_owned()),
            "input" => inputs.push(parse_relation(value)),
            "output" => outputs.push(parse_relation(value)),
            _ => {}
        }
    }
    Case { about, dialect, inputs, outputs, sql }
}

fn dataset((namespace, name): &(String, String)) -> String {
    if namespace.is_empty() { format!("?{name}") } else { name.clone() }
}

fn render(derived: &Derived) -> String {
    let mut out = String::new();
    for output in &derived.outputs {
        match &output.output {
            Some(target) => writeln!(out, "output `{}`", dataset(target)).unwrap(),
            None => writeln!(out, "output (the job's output)").unwrap(),
        }
        let columns = if output.columns.is_empty() { "(none listed)".to_owned() } else { output.columns.join(", ") };
        writeln!(out, "  columns: {columns}").unwrap();
        for edge in &output.edges {
            assert_eq!(edge.kind, edge.subtype.kind());
            let masking = if edge.masking { " (masking)" } else { "" };
            writeln!(
                out,
                "  {} <- {}.{}: {} {}{masking}",
                edge.output_field,
                dataset(&edge.input),
                edge.input_field,
                edge.kind.as_str(),
                edge.subtype.as_str()
            )
            .unwrap();
        }
        for edge in &output.dataset_wide {
            assert_eq!(edge.subtype.kind(), Kind::Indirect);
            writeln!(out, "  * <- {}.{}: INDIRECT {}", dataset(&edge.input), edge.input_field, edge.subtype.as_str())
                .unwrap();
        }
    }
    if !derived.positional_reads.is_empty() {
        writeln!(out, "positional:").unwrap();
        for read in &derived.positional_reads {
            writeln!(out, "  {} {}", dataset(&read.dataset), read.reason.as_str()).unwrap();
        }
    }
    if !derived.unresolved.is_empty() {
        writeln!(out, "unresolved:").unwrap();
        for note in &derived.unresolved {
            writeln!(out, "  - {note}").unwrap();
        }
    }
    out
}

/// Runs `test_data/cases/{case}.sql` and compares with `{case}.expected.txt`.
fn check(case: &str) {
    let input = read_case(case);
    let mut report = format!("# {}\n", input.about);
    let requested = input.dialect.as_deref();
    match derive(&input.sql, requested, &input.inputs, &input.outputs) {
        Ok(derived) => {
            writeln!(report, "dialect: {} (parsed as {})\n", requested.unwrap_or("none"), derived.dialect).unwrap();
            report.push_str(&render(&derived));
        }
        Err(error) => writeln!(report, "dialect: {}\n\nerror: {error}", requested.unwrap_or("none")).unwrap(),
    }
    check_golden(&format!("cases/{case}.expected.txt"), &report);
}

tributary_golden::cases! {
    check;
    dbt_join_and_filter_keys,
    join_using_and_natural,
    dbt_import_ctes_unknown_schemas,
    window_functions,
    window_named_and_qualify,
    case_and_conditional_functions,
    aggregates_group_by_having,
    group_by_positions_and_aliases,
    select_star_known_schema,
    select_star_unknown_schema,
    select_star_output_schema_fills_in,
    star_in_cte_read_by_name,
    union_all_by_position,
    intersect_and_except,
    nested_subqueries,
    correlated_and_exists_subqueries,
    insert_with_column_list,
    insert_without_column_list,
    create_table_and_view_as,
    merge_snowflake,
    update_from,
    several_statements_with_temp_table,
    recursive_cte,
    bigquery_backticks_unnest_struct,
    spark_lateral_view_insert_overwrite,
    duckdb_group_by_all_exclude_replace,
    snowflake_upper_case_flatten,
    masking_functions,
    ambiguous_and_unmatched_names,
    quoted_identifiers_case_insensitive,
    mssql_brackets_top,
    redshift_and_mysql,
    trino_maps_to_generic,
    dialect_fallback_postgres_backticks,
    snowflake_pivot_and_unpivot,
    mssql_select_into,
    lateral_subquery_and_values,
    star_over_join_using,
    date_part_arguments_are_not_columns,
    templating_left_in_does_not_parse,
    lateral_alias_and_struct_access,
}

/// Every case file has a test, and every test its files.
#[test]
fn every_case_is_listed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(test_data().join("cases"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".sql").map(str::to_owned))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| (*c).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn dialect_names() {
    let cases = [
        (None, "generic"),
        (Some("postgres"), "postgres"),
        (Some("PostgreSQL"), "postgres"),
        (Some("snowflake"), "snowflake"),
        (Some("bigquery"), "bigquery"),
        (Some("redshift"), "redshift"),
        (Some("mysql"), "mysql"),
        (Some("hive"), "hive"),
        (Some("spark"), "spark"),
        (Some("Spark SQL"), "spark"),
        (Some("sparksql"), "spark"),
        (Some("databricks"), "databricks"),
        (Some("duckdb"), "duckdb"),
        (Some("mssql"), "mssql"),
        (Some("sql_server"), "mssql"),
        (Some("sqlite"), "sqlite"),
        (Some("ansi"), "ansi"),
        (Some("generic"), "generic"),
        (Some("trino"), "generic"),
        (Some("presto"), "generic"),
        (Some("no such dialect"), "generic"),
        (Some(""), "generic"),
    ];
    for (given, expected) in cases {
        assert_eq!(dialect_name(given), expected, "{given:?}");
    }
}

#[test]
fn parse_errors_carry_the_message_and_position() {
    let error = derive("SELECT a\nFROM t WHERE", Some("postgres"), &[], &[]).unwrap_err();
    let SqlError::Parse { dialect, message, line, column } = &error else { panic!("{error:?}") };
    assert_eq!(*dialect, "postgres");
    assert!(message.contains("Expected"), "{message}");
    assert_eq!((*line, *column), (Some(2), Some(13)), "{message}");
    assert!(error.to_string().starts_with("sql does not parse as postgres: "), "{error}");
}

#[test]
fn empty_text_has_no_outputs() {
    let derived = derive("  -- nothing\n", None, &[], &[]).unwrap();
    assert!(derived.outputs.is_empty() && derived.unresolved.is_empty());
}

#[test]
fn namespaces_come_from_the_matched_datasets() {
    let inputs = [
        Relation::new("postgres://db:5432", "shop.public.orders", Some(vec!["id".into(), "total".into()])),
        Relation::new("s3://lake", "events", None),
    ];
    let outputs = [Relation::new("postgres://db:5432", "shop.marts.summary", None)];
    let sql = "insert into marts.summary (id, total, kind) select o.id, o.total, e.kind from orders o join events e on e.order_id = o.id";
    let derived = derive(sql, Some("postgres"), &inputs, &outputs).unwrap();
    let output = &derived.outputs[0];
    assert_eq!(output.output, Some(("postgres://db:5432".to_owned(), "shop.marts.summary".to_owned())));
    let kind = output.edges.iter().find(|e| e.output_field == "kind").unwrap();
    assert_eq!(kind.input, ("s3://lake".to_owned(), "events".to_owned()));
    assert!(derived.unresolved.is_empty(), "{:?}", derived.unresolved);
}

/// SQL names match datasets by their dot-separated suffix either way, an exact match first.
#[test]
fn relation_names_match_by_suffix() {
    let inputs = [
        Relation::new("ns", "public.orders", Some(vec!["id".into()])),
        Relation::new("ns", "analytics.staging.orders", Some(vec!["id".into()])),
        Relation::new("ns", "analytics.staging.customers", Some(vec!["id".into()])),
    ];
    let input_of = |sql: &str| {
        let derived = derive(sql, None, &inputs, &[]).unwrap();
        let edge = &derived.outputs[0].edges[0];
        (edge.input.1.clone(), derived.unresolved.clone())
    };
    // The producer dropped the database: the dataset's name is a suffix of the SQL's.
    assert_eq!(input_of("select id from warehouse.public.orders").0, "public.orders");
    // The SQL dropped database and schema: suffix of the dataset's name.
    assert_eq!(input_of("select id from CUSTOMERS").0, "analytics.staging.customers");
    assert_eq!(input_of("select id from staging.orders").0, "analytics.staging.orders");
    // Exact beats suffix; `orders` alone is a suffix of two datasets: ambiguous.
    assert_eq!(input_of("select id from public.orders").0, "public.orders");
    let (name, unresolved) = input_of("select id from orders");
    assert_eq!(name, "orders");
    assert!(unresolved[0].contains("matches several datasets"), "{unresolved:?}");
}

/// The texts of every case, cut at many points, and garbage: never a panic, and a failure
/// is an error with a message.
#[test]
fn truncated_and_garbage_sql_never_panics() {
    let mut texts: Vec<String> = Vec::new();
    for case in CASES {
        let sql = read_case(case).sql;
        let boundaries: Vec<usize> = (0..=sql.len()).filter(|&i| sql.is_char_boundary(i)).collect();
        let step = (boundaries.len() / 40).max(1);
        texts.extend(boundaries.iter().step_by(step).map(|&i| sql[..i].to_owned()));
        texts.extend(boundaries.iter().step_by(step).map(|&i| sql[i..].to_owned()));
    }
    // A small deterministic generator of SQL-ish noise.
    let alphabet: Vec<&str> = vec![
        "SELECT",
        "FROM",
        "WHERE",
        "(",
        ")",
        ",",
        "*",
        "a",
        "b.c",
        "JOIN",
        "ON",
        "=",
        "UNION",
        "WITH",
        "AS",
        "CASE",
        "WHEN",
        "THEN",
        "END",
        "'x'",
        "1",
        ";",
        "GROUP BY",
        "OVER",
        "PARTITION BY",
        "INSERT INTO",
        "t",
        "VALUES",
        "MERGE",
        "USING",
        "`q`",
        "\"Q\"",
        "::",
        "[",
        "]",
        "{{",
        "}}",
        "--",
        "/*",
        "\u{e9}",
        "\0",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        let mut text = String::new();
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let n = (seed >> 59) as usize + 1;
        for _ in 0..n * 3 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            text.push_str(alphabet[(seed >> 33) as usize % alphabet.len()]);
            text.push(' ');
        }
        texts.push(text);
    }
    let inputs = [Relation::new("ns", "t", Some(vec!["a".into(), "c".into()])), Relation::new("ns", "b", None)];
    let mut n_errors = 0;
    for text in &texts {
        for dialect in [None, Some("postgres"), Some("bigquery"), Some("snowflake")] {
            match derive(text, dialect, &inputs, &[]) {
                Ok(_) => {}
                Err(error) => {
                    n_errors += 1;
                    assert!(!error.to_string().is_empty());
                    if let SqlError::Parse { message, .. } = &error {
                        assert!(!message.is_empty(), "{text:?}");
                    }
                }
            }
        }
    }
    assert!(n_errors > 0);
}

/// Inputs built to exhaust the stack: each is refused or analysed within bounds.
#[test]
fn deep_and_long_inputs_are_bounded() {
    let n = 200_000;
    let long_chain = format!("SELECT {}1 FROM t", "a + ".repeat(n));
    assert!(matches!(derive(&long_chain, None, &[], &[]), Err(SqlError::ExpressionTooLong { .. })));
    let long_cast_chain = format!("SELECT a{} FROM t", "::int".repeat(n));
    assert!(matches!(derive(&long_cast_chain, Some("postgres"), &[], &[]), Err(SqlError::ExpressionTooLong { .. })));
    let parens = format!("SELECT {}a{} FROM t", "(".repeat(n), ")".repeat(n));
    assert!(derive(&parens, None, &[], &[]).is_err());
    let subqueries = format!("SELECT * FROM {}t{}", "(SELECT * FROM ".repeat(100), ")".repeat(100));
    assert!(derive(&subqueries, None, &[], &[]).is_err());
    let unions = format!("SELECT a, b FROM t{}", " UNION ALL SELECT a, b FROM t".repeat(MAX_SET_OPERATIONS + 1));
    assert!(matches!(derive(&unions, None, &[], &[]), Err(SqlError::TooManySetOperations { .. })));
    let unions = format!("SELECT a, b FROM t{}", " UNION ALL SELECT a, b FROM t".repeat(MAX_SET_OPERATIONS - 1));
    let derived = derive(&unions, None, &[Relation::new("ns", "t", None)], &[]).unwrap();
    assert_eq!(derived.outputs[0].edges.len(), 2);
    let huge = "x".repeat(MAX_SQL_BYTES + 1);
    assert!(matches!(derive(&huge, None, &[], &[]), Err(SqlError::TooLarge { .. })));

    // Under the limits: long chains are walked without recursion, casts to the depth limit.
    let inputs = [Relation::new("ns", "t", Some(vec!["a".into(), "b".into()]))];
    let chain = format!("SELECT {}b AS s FROM t", "a + ".repeat(MAX_EXPRESSION_TOKENS / 2 - 10));
    let derived = derive(&chain, None, &inputs, &[]).unwrap();
    assert_eq!(derived.outputs[0].edges.len(), 2);
    let casts = format!("SELECT a{} AS s FROM t", "::int".repeat(MAX_EXPRESSION_TOKENS / 2 - 10));
    let derived = derive(&casts, Some("postgres"), &inputs, &[]).unwrap();
    assert!(derived.unresolved.iter().any(|n| n.contains("nested deeper")), "{:?}", derived.unresolved);
    let ctes: String = (1..2000).map(|i| format!(", c{i} AS (SELECT * FROM c{})", i - 1)).collect();
    let chained = format!("WITH c0 AS (SELECT * FROM u){ctes} SELECT x FROM c1999");
    let derived = derive(&chained, None, &[Relation::new("ns", "u", None)], &[]).unwrap();
    assert_eq!(derived.outputs[0].edges.len(), 1, "{:?}", derived);

    // Self-joined stars double the columns (and unknown relations) at each step.
    let doubling: String = (1..40).map(|i| format!(", c{i} AS (SELECT * FROM c{} a, c{} b)", i - 1, i - 1)).collect();
    for (schema, note) in [(Some(vec!["x".to_owned()]), "more than"), (None, "")] {
        let sql = format!("WITH c0 AS (SELECT * FROM u){doubling} SELECT * FROM c39");
        let started = Instant::now();
        let derived = derive(&sql, None, &[Relation::new("ns", "u", schema)], &[]).unwrap();
        assert!(started.elapsed().as_secs() < 30);
        assert!(derived.unresolved.iter().any(|n| n.contains(note)), "{:?}", derived.unresolved);
    }
    // Wide lineages referenced many times stop at the work budget.
    let sum: Vec<String> = (0..4000).map(|i| format!("a{i}")).collect();
    let refs = vec!["s"; 20_000].join(", ");
    let sql = format!("WITH w AS (SELECT {} AS s FROM u) SELECT {refs} FROM w", sum.join(" + "));
    let started = Instant::now();
    let derived = derive(&sql, None, &[Relation::new("ns", "u", None)], &[]).unwrap();
    assert!(derived.unresolved.iter().any(|n| n.contains("too large")), "{:?}", derived.unresolved);
    println!("work budget reached in {:?}", started.elapsed());
}

/// Wide statements stay linear: name lookups are hashed, not scanned.
#[test]
fn wide_statements_stay_fast() {
    let n = 20_000;
    let items: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let list = items.join(", ");
    let sql = format!("WITH w AS (SELECT {list} FROM u) SELECT {list} FROM w UNION ALL BY NAME SELECT {list} FROM w");
    let started = Instant::now();
    let derived = derive(&sql, Some("duckdb"), &[Relation::new("ns", "u", None)], &[]).unwrap();
    assert_eq!(derived.outputs[0].columns.len(), n);
    let unmatched: Vec<String> = (0..2000).map(|i| format!("t{i}")).collect();
    let sql = format!("SELECT 1 FROM {}", unmatched.join(", "));
    let derived = derive(&sql, None, &[], &[]).unwrap();
    assert_eq!(derived.unresolved.len(), 101, "capped, with a count of the rest");
    println!("{n} columns through a CTE and a union by name, 2000 unmatched tables: {:?}", started.elapsed());
}

/// How long deriving takes for a 200-line dbt-style model (printed, not asserted; the
/// micro benchmarks measure it properly).
#[test]
fn timing_of_a_200_line_statement() {
    let mut sql = String::from("with\n");
    let mut inputs = Vec::new();
    for i in 0..10 {
        inputs.push(Relation::new(
            "postgres://db:5432",
            format!("analytics.raw.source_{i}"),
            Some((0..12).map(|c| format!("col_{c}")).collect()),
        ));
        sql.push_str(&format!("src_{i} as (\n  select * from raw.source_{i}\n),\n"));
        sql.push_str(&format!("renamed_{i} as (\n  select\n"));
        for c in 0..12 {
            sql.push_str(&format!("    cast(col_{c} as varchar) as c{i}_{c},\n"));
        }
        sql.push_str(&format!("    col_0 as key_{i}\n  from src_{i}\n  where col_1 is not null\n),\n"));
    }
    sql.push_str("joined as (\n  select\n");
    for i in 0..10 {
        sql.push_str(&format!("    r{i}.c{i}_2, sum(r{i}.c{i}_3) over (partition by r{i}.key_{i}) as total_{i},\n"));
    }
    sql.push_str("    r0.key_0\n  from renamed_0 r0\n");
    for i in 1..10 {
        sql.push_str(&format!("  left join renamed_{i} r{i} on r{i}.key_{i} = r0.key_0\n"));
    }
    sql.push_str(")\nselect * from joined where key_0 is not null order by key_0\n");
    let n_lines = sql.lines().count();
    assert!(n_lines >= 200, "{n_lines} lines");
    let started = Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        let derived = derive(&sql, Some("postgres"), &inputs, &[]).unwrap();
        assert_eq!(derived.outputs[0].columns.len(), 21);
    }
    let per_statement = started.elapsed() / rounds;
    println!("deriving a {n_lines}-line statement ({} bytes) took {per_statement:?}", sql.len());
}
