use serde_json::json;

use crate::records::{merge_facets, visible_facets};
use crate::*;

fn version(time: i64, hash: u64) -> Version {
    Version { time: Timestamp(time), hash }
}

fn facets(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    value.as_object().cloned().unwrap_or_default()
}

#[test]
fn later_facet_replaces_earlier_whatever_the_arrival_order() {
    let early = facets(json!({"doc": {"description": "old"}}));
    let late = facets(json!({"doc": {"description": "new"}}));

    let mut in_order = Facets::new();
    merge_facets(&mut in_order, &early, version(1, 0));
    merge_facets(&mut in_order, &late, version(2, 0));

    let mut reversed = Facets::new();
    merge_facets(&mut reversed, &late, version(2, 0));
    let changed = merge_facets(&mut reversed, &early, version(1, 0));

    assert!(changed.is_empty());
    assert_eq!(in_order, reversed);
    assert_eq!(visible_facets(&in_order)["doc"]["description"], "new");
}

#[test]
fn deleted_facet_stays_deleted_when_an_older_event_arrives_late() {
    let set = facets(json!({"doc": {"description": "x"}}));
    let delete = facets(json!({"doc": {"_deleted": true}}));
    let mut merged = Facets::new();
    merge_facets(&mut merged, &delete, version(5, 0));
    merge_facets(&mut merged, &set, version(3, 0));
    assert!(visible_facets(&merged).is_empty());
    merge_facets(&mut merged, &set, version(6, 0));
    assert_eq!(visible_facets(&merged).len(), 1);
}

#[test]
fn run_state_is_the_same_in_any_order() {
    let run_id = RunId::parse("6c8e0d06-5a1a-4c55-a5a3-4a2d9c9d3a11").unwrap();
    let job = JobId::new("ns", "job");
    let events = [
        (RunState::Start, version(10, 1), 1),
        (RunState::Running, version(20, 2), 2),
        (RunState::Complete, version(30, 3), 3),
    ];
    let mut orders = vec![vec![0, 1, 2], vec![2, 1, 0], vec![1, 2, 0], vec![2, 0, 1]];
    let mut results = Vec::new();
    for order in orders.drain(..) {
        let first = events[order[0]];
        let mut run = RunRecord::new(run_id, job.clone(), first.1);
        for index in order {
            let (state, v, seq) = events[index];
            run.observe(&job, Some(state), v, seq);
        }
        results.push(run);
    }
    for run in &results {
        assert_eq!(run.state, RunState::Complete);
        assert_eq!(run.started_at, Some(Timestamp(10)));
        assert_eq!(run.ended_at, Some(Timestamp(30)));
        assert_eq!(run.events, vec![1, 2, 3]);
        assert_eq!(run, &results[0]);
    }
}

#[test]
fn running_event_after_complete_does_not_reopen_the_run() {
    let run_id = RunId::parse("6c8e0d06-5a1a-4c55-a5a3-4a2d9c9d3a11").unwrap();
    let job = JobId::new("ns", "job");
    let mut run = RunRecord::new(run_id, job.clone(), version(1, 0));
    run.observe(&job, Some(RunState::Complete), version(5, 0), 1);
    run.observe(&job, Some(RunState::Running), version(9, 0), 2);
    assert_eq!(run.state, RunState::Complete);
}

#[test]
fn settled_observations_beat_later_unsettled_ones() {
    let run_a = RunId::parse("00000000-0000-4000-8000-000000000001").unwrap();
    let run_b = RunId::parse("00000000-0000-4000-8000-000000000002").unwrap();
    let complete = ObservationKey { settled: true, time: Timestamp(5), source: ObservationSource::Run(run_a) };
    let failed_later = ObservationKey { settled: false, time: Timestamp(9), source: ObservationSource::Run(run_b) };
    assert!(complete > failed_later);
    assert!(complete.to_bytes() > failed_later.to_bytes());
    let negative = ObservationKey { settled: true, time: Timestamp(-5), source: ObservationSource::Run(run_a) };
    assert!(negative < complete);
    assert!(negative.to_bytes() < complete.to_bytes());
}

#[test]
fn timestamps_parse_with_and_without_offset() {
    let with_offset = Timestamp::parse("2020-12-28T19:52:00.001+10:00").unwrap();
    let utc = Timestamp::parse("2020-12-28T09:52:00.001Z").unwrap();
    assert_eq!(with_offset, utc);
    let naive = Timestamp::parse("2020-12-28T09:52:00.001").unwrap();
    assert_eq!(naive, utc);
    assert_eq!(utc.to_rfc3339(), "2020-12-28T09:52:00.001Z");
    assert!(Timestamp::parse("yesterday").is_err());
}

#[test]
fn schema_fields_keep_nesting() {
    let fields = parse_schema_fields(&json!([
        {"name": "id", "type": "int"},
        {"name": "address", "type": "struct", "fields": [{"name": "zip", "type": "string"}]}
    ]));
    assert_eq!(fields.len(), 2);
    assert_eq!(fields[1].fields[0].name, "zip");
}

#[test]
fn column_lineage_reads_new_and_legacy_shapes() {
    let facet = json!({
        "fields": {
            "total": {"inputFields": [
                {"namespace": "db", "name": "orders", "field": "amount",
                 "transformations": [{"type": "DIRECT", "subtype": "AGGREGATION"}]},
                {"namespace": "db", "name": "orders", "field": "customer_id",
                 "transformations": [{"type": "INDIRECT", "subtype": "GROUP_BY"}]}
            ]},
            "email_hash": {"inputFields": [
                {"namespace": "db", "name": "customers", "field": "email",
                 "transformations": [{"type": "DIRECT", "subtype": "TRANSFORMATION", "masking": true}]}
            ]},
            "legacy": {"inputFields": [{"namespace": "db", "name": "old", "field": "x"}], "transformationType": "IDENTITY"}
        },
        "dataset": [{"namespace": "db", "name": "orders", "field": "status"}]
    });
    let edges = column_lineage_edges(&facet);
    let rendered: Vec<String> = edges
        .iter()
        .map(|e| {
            format!(
                "{}.{} -> {} {} direct={} masked={}",
                e.input.name,
                e.input_field,
                e.output_field,
                e.transformations
                    .iter()
                    .map(|t| format!("{}/{}", t.kind.as_str(), t.subtype))
                    .collect::<Vec<_>>()
                    .join(","),
                e.is_direct(),
                e.is_masked()
            )
        })
        .collect();
    assert_eq!(
        rendered,
        vec![
            "customers.email -> email_hash DIRECT/TRANSFORMATION direct=true masked=true",
            "old.x -> legacy DIRECT/IDENTITY direct=true masked=false",
            "orders.amount -> total DIRECT/AGGREGATION direct=true masked=false",
            "orders.customer_id -> total INDIRECT/GROUP_BY direct=false masked=false",
            "orders.status -> * INDIRECT/ direct=false masked=false",
        ]
    );
}
