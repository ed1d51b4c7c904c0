use tributary_model::{
    DatasetId, DatasetRecord, JobId, JobRecord, NodeRef, Observation, ObservationKey, ObservationSource, RECORD_FORMAT,
    RunId, Timestamp,
};

use crate::{Store, StoreConfig, StoreError};

fn run(n: u8) -> RunId {
    RunId(uuid::Uuid::from_bytes([n; 16]))
}

#[test]
fn event_round_trip_with_and_without_compression() {
    for compress in [true, false] {
        let store = Store::open_temporary(&StoreConfig { compress, ..StoreConfig::default() }).unwrap();
        let body = br#"{"eventTime":"2024-01-01T00:00:00Z","x":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#;
        for sequence in 1..=3u64 {
            let mut write = store.write();
            write.put_event(sequence, u128::from(sequence), body);
            store.commit(write).unwrap();
        }
        assert_eq!(store.last_sequence().unwrap(), 3);
        assert_eq!(store.event(2).unwrap().unwrap(), body.to_vec());
        assert_eq!(store.sequence_of_hash(3).unwrap(), Some(3));
        let page = store.events_after(1, 10).unwrap();
        assert_eq!(page.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![2, 3]);
    }
}

#[test]
fn records_survive_reopen_and_names_with_shared_prefixes_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let a = DatasetId::new("db", "orders");
    let b = DatasetId::new("db", "orders_v2");
    {
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let mut write = store.write();
        write.put_dataset(&DatasetRecord::new(a.clone(), Timestamp(1))).unwrap();
        write.put_dataset(&DatasetRecord::new(b.clone(), Timestamp(2))).unwrap();
        write.put_graph_dataset(&a);
        write.put_graph_dataset(&b);
        write.put_alias(&DatasetId::new("s3", "bucket/orders"), &a);
        store.commit(write).unwrap();
        store.flush().unwrap();
    }
    let store = Store::open_waiting(dir.path(), &StoreConfig::default(), std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(store.dataset(&a).unwrap().unwrap().first_seen, Timestamp(1));
    let ids: Vec<DatasetId> = store.scan_dataset_ids().map(Result::unwrap).collect();
    assert_eq!(ids, vec![a.clone(), b]);
    assert_eq!(store.alias(&DatasetId::new("s3", "bucket/orders")).unwrap(), Some(a));
}

/// The start-up write that has sled account for the log it recovered leaves the content as
/// it was, also after a crash between its write and its removal (the next start removes the
/// scratch key left behind).
#[test]
fn stabilizing_the_recovered_log_leaves_the_content_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::default();
    let store = Store::open(dir.path(), &config).unwrap();
    store_events(&store, 1..=50);
    store.flush().unwrap();
    let before = everything(&store);
    store.stabilize_recovered_log().unwrap();
    assert_eq!(everything(&store), before);
    // As a crash between the two writes leaves it.
    store.db().unwrap().insert(crate::keys::META_SCRATCH, &[1u8][..]).unwrap();
    store.flush().unwrap();
    assert_eq!(everything(&store).len(), before.len() + 1);
    drop(store);
    let store = Store::open_waiting(dir.path(), &config, std::time::Duration::from_secs(10)).unwrap();
    store.stabilize_recovered_log().unwrap();
    assert_eq!(everything(&store), before);
}

#[test]
fn a_second_open_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    match Store::open(dir.path(), &StoreConfig::default()) {
        Err(StoreError::Locked { .. }) => {}
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("second open succeeded"),
    }
}

fn key(settled: bool, time: i64, n: u8) -> ObservationKey {
    ObservationKey { settled, time: Timestamp(time), source: ObservationSource::Run(run(n)) }
}

/// An observation of one input, no outputs.
fn observation(key: ObservationKey, input: &str) -> Observation {
    Observation { format: RECORD_FORMAT, key, inputs: vec![DatasetId::new("db", input)], outputs: vec![] }
}

#[test]
fn best_observation_skips_the_one_being_replaced() {
    let store = Store::open_temporary(&StoreConfig::default()).unwrap();
    let job = JobId::new("etl", "load");
    let mut write = store.write();
    write.put_observation(&job, &observation(key(true, 10, 1), "a")).unwrap();
    write.put_observation(&job, &observation(key(false, 50, 2), "b")).unwrap();
    write.put_observation(&job, &observation(key(true, 20, 3), "c")).unwrap();
    // Another job whose name extends this one's must not be seen.
    write.put_observation(&JobId::new("etl", "load2"), &observation(key(true, 99, 4), "z")).unwrap();
    store.commit(write).unwrap();
    let best = store.best_observation(&job, None).unwrap().unwrap();
    assert_eq!(best.inputs[0].name, "c");
    let second = store.best_observation(&job, Some(&key(true, 20, 3))).unwrap().unwrap();
    assert_eq!(second.inputs[0].name, "a");
}

#[test]
fn a_group_is_read_through_before_it_is_committed_and_committed_whole() {
    let store = Store::open_temporary(&StoreConfig::default()).unwrap();
    let job = JobId::new("etl", "load");
    // Stored before the group: one observation and event 1.
    let mut write = store.write();
    write.put_event(1, 11, b"{}");
    write.put_observation(&job, &observation(key(false, 10, 1), "stored")).unwrap();
    store.commit(write).unwrap();

    let mut group = crate::GroupWrite::default();
    // Event 2: a greater observation (a run's START), and its dataset.
    let mut write = store.write();
    write.put_event(2, 22, b"{}");
    write.put_observation(&job, &observation(key(false, 20, 2), "start")).unwrap();
    write.put_dataset(&DatasetRecord::new(DatasetId::new("db", "t"), Timestamp(5))).unwrap();
    group.add(write);
    let view = store.view(&group);
    assert_eq!(view.last_sequence().unwrap(), 2);
    assert_eq!(view.sequence_of_hash(22).unwrap(), Some(2), "a duplicate inside the group is found");
    assert_eq!(view.sequence_of_hash(11).unwrap(), Some(1));
    assert_eq!(view.best_observation(&job, None).unwrap().unwrap().inputs[0].name, "start");
    // Replacing the pending one falls back to the stored one.
    let fallback = view.best_observation(&job, Some(&key(false, 20, 2))).unwrap().unwrap();
    assert_eq!(fallback.inputs[0].name, "stored");
    assert_eq!(view.dataset(&DatasetId::new("db", "t")).unwrap().unwrap().first_seen, Timestamp(5));
    // Nothing reached the store yet.
    assert_eq!(store.last_sequence().unwrap(), 1);
    assert!(store.dataset(&DatasetId::new("db", "t")).unwrap().is_none());

    // Event 3 (the run's COMPLETE) replaces the START's observation by a settled one, and the
    // stored one by nothing.
    let mut write = store.write();
    write.put_event(3, 33, b"{}");
    write.delete_observation(&job, &key(false, 20, 2));
    write.delete_observation(&job, &key(false, 10, 1));
    write.put_observation(&job, &observation(key(true, 5, 2), "complete")).unwrap();
    group.add(write);
    let view = store.view(&group);
    assert_eq!(view.best_observation(&job, None).unwrap().unwrap().inputs[0].name, "complete");
    assert!(view.best_observation(&job, Some(&key(true, 5, 2))).unwrap().is_none());
    assert_eq!(view.last_sequence().unwrap(), 3);

    store.commit_group(group).unwrap();
    assert_eq!(store.last_sequence().unwrap(), 3);
    assert_eq!(store.sequence_of_hash(22).unwrap(), Some(2));
    assert_eq!(store.best_observation(&job, None).unwrap().unwrap().inputs[0].name, "complete");
    assert!(store.best_observation(&job, Some(&key(true, 5, 2))).unwrap().is_none());
    assert!(store.dataset(&DatasetId::new("db", "t")).unwrap().is_some());
}

/// A dataset's stored value read while a group is applied (its record, or a facet out of it)
/// is the one the commit folds the group's writes into: what the group did not write survives,
/// what it wrote replaces, for a record read, a facet read, and a dataset never read; and a
/// later group reads what the earlier one committed.
#[test]
fn datasets_read_while_a_group_is_applied_are_folded_at_its_commit() {
    let store = Store::open_temporary(&StoreConfig::default()).unwrap();
    let ids = [DatasetId::new("db", "record_read"), DatasetId::new("db", "facet_read"), DatasetId::new("db", "unread")];
    let mut write = store.write();
    for id in &ids {
        write.put_dataset(&DatasetRecord::new(id.clone(), Timestamp(5))).unwrap();
        write.put_dataset_facet(id, "kept", &serde_json::json!({"v": 1})).unwrap();
        write.put_dataset_facet(id, "replaced", &serde_json::json!({"v": 1})).unwrap();
    }
    store.commit(write).unwrap();
    for round in 2..4 {
        let mut group = crate::GroupWrite::default();
        let view = store.view(&group);
        assert_eq!(view.dataset(&ids[0]).unwrap().unwrap().first_seen, Timestamp(5));
        assert_eq!(view.dataset_facet(&ids[1], "replaced").unwrap(), Some(serde_json::json!({"v": round - 1})));
        let mut write = store.write();
        for id in &ids {
            write.put_dataset_facet(id, "replaced", &serde_json::json!({"v": round})).unwrap();
        }
        let mut record = DatasetRecord::new(ids[1].clone(), Timestamp(5));
        record.last_seen = Timestamp(round);
        write.put_dataset(&record).unwrap();
        group.add(write);
        // Read again after the group's own writes: those, not the stored value.
        assert_eq!(
            store.view(&group).dataset_facet(&ids[0], "replaced").unwrap(),
            Some(serde_json::json!({"v": round}))
        );
        store.commit_group(group).unwrap();
        for id in &ids {
            assert_eq!(store.dataset_facet(id, "kept").unwrap(), Some(serde_json::json!({"v": 1})), "{id}");
            assert_eq!(store.dataset_facet(id, "replaced").unwrap(), Some(serde_json::json!({"v": round})), "{id}");
            assert_eq!(store.dataset(id).unwrap().unwrap().first_seen, Timestamp(5), "{id}");
        }
        assert_eq!(store.dataset(&ids[1]).unwrap().unwrap().last_seen, Timestamp(round));
    }
}

#[test]
fn timelines_list_most_recent_first() {
    let store = Store::open_temporary(&StoreConfig::default()).unwrap();
    let job = JobId::new("etl", "load");
    let mut write = store.write();
    write.put_job_run(&job, Timestamp(5), &run(1));
    write.put_job_run(&job, Timestamp(-3), &run(2));
    write.put_job_run(&job, Timestamp(9), &run(3));
    store.commit(write).unwrap();
    assert_eq!(store.job_runs(&job, 10).unwrap(), vec![run(3), run(1), run(2)]);
    let mut write = store.write();
    write.delete_job_run(&job, Timestamp(9), &run(3));
    write.put_job(&JobRecord::new(job.clone(), Timestamp(1))).unwrap();
    store.commit(write).unwrap();
    assert_eq!(store.job_runs(&job, 1).unwrap(), vec![run(1)]);
    assert_eq!(store.scan_jobs().count(), 1);
}

/// Datasets are written in the binary layout; the JSON that earlier builds wrote (lz4 or raw
/// behind a codec byte, or bare) still reads.
#[test]
fn records_read_back_compressed_raw_and_as_bare_json_from_earlier_builds() {
    let id = DatasetId::new("db", "orders");
    let key = crate::keys::name_key(crate::keys::PREFIX_DATASET, &id.namespace, &id.name);
    for compress in [true, false] {
        let store = Store::open_temporary(&StoreConfig { compress, ..StoreConfig::default() }).unwrap();
        let mut write = store.write();
        write.put_dataset(&DatasetRecord::new(id.clone(), Timestamp(7))).unwrap();
        store.commit(write).unwrap();
        let stored = store.db().unwrap().get(&key).unwrap().unwrap();
        assert_eq!(stored[0], crate::keys::CODEC_BINARY);
        assert_eq!(store.dataset(&id).unwrap().unwrap().first_seen, Timestamp(7));
        // As builds before the binary layout wrote it: JSON behind a codec byte.
        let json = serde_json::to_vec(&DatasetRecord::new(id.clone(), Timestamp(8))).unwrap();
        let stored = crate::encode_blob(&json, compress);
        let expected_codec = if compress { crate::keys::CODEC_LZ4 } else { crate::keys::CODEC_RAW };
        assert_eq!(stored[0], expected_codec);
        store.db().unwrap().insert(&key, stored).unwrap();
        assert_eq!(store.dataset(&id).unwrap().unwrap().first_seen, Timestamp(8));
        // A record as builds before compressed records wrote it: bare JSON.
        let bare = serde_json::to_vec(&DatasetRecord::new(id.clone(), Timestamp(9))).unwrap();
        store.db().unwrap().insert(&key, bare).unwrap();
        assert_eq!(store.dataset(&id).unwrap().unwrap().first_seen, Timestamp(9));
        // Damage is reported with the key, not a panic.
        store.db().unwrap().insert(&key, &[crate::keys::CODEC_LZ4, 1, 2, 3][..]).unwrap();
        assert!(matches!(store.dataset(&id), Err(StoreError::Corrupt { .. })));
        store.db().unwrap().insert(&key, &[crate::keys::CODEC_BINARY, RECORD_FORMAT, 1, 2, 3][..]).unwrap();
        assert!(matches!(store.dataset(&id), Err(StoreError::Corrupt { .. })));
    }
}

#[test]
fn stats_count_keys_and_bytes_per_prefix() {
    let store = Store::open_temporary(&StoreConfig::default()).unwrap();
    let mut write = store.write();
    write.put_event(1, 1, b"{}");
    write.put_dataset(&DatasetRecord::new(DatasetId::new("db", "a"), Timestamp(1))).unwrap();
    write.put_dataset(&DatasetRecord::new(DatasetId::new("db", "b"), Timestamp(1))).unwrap();
    store.commit(write).unwrap();
    let stats = store.stats().unwrap();
    let datasets = stats.iter().find(|s| s.prefix == b'D').unwrap();
    assert_eq!(datasets.keys, 2);
    assert_eq!(datasets.key_bytes, 2 * "Ddb\0a".len() as u64);
    assert!(datasets.value_bytes > 0);
    assert_eq!(stats.iter().find(|s| s.prefix == b'E').unwrap().keys, 1);
    assert!(stats.windows(2).all(|pair| pair[0].prefix < pair[1].prefix));
}

#[test]
fn a_store_without_the_graph_keyspace_gets_it_filled_once_from_the_records() {
    let store = Store::open_temporary(&StoreConfig::default()).unwrap();
    // As an earlier build left it: records, no graph keys, no marker.
    store.db().unwrap().remove(crate::keys::META_GRAPH_KEYS).unwrap();
    let (a, b) = (DatasetId::new("db", "a"), DatasetId::new("db", "b"));
    let mut job = JobRecord::new(JobId::new("airflow", "load"), Timestamp(1));
    job.inputs = vec![a.clone()];
    job.outputs = vec![b.clone()];
    let mut write = store.write();
    write.put_dataset(&DatasetRecord::new(a.clone(), Timestamp(1))).unwrap();
    write.put_dataset(&DatasetRecord::new(b.clone(), Timestamp(1))).unwrap();
    write.put_job(&job).unwrap();
    store.commit(write).unwrap();
    // The dataset records are the graph's dataset keys; jobs have none yet.
    assert_eq!(store.scan_dataset_ids().count(), 2);
    assert_eq!(store.scan_job_io().count(), 0);

    assert!(store.ensure_graph_keys().unwrap());
    let ids: Vec<DatasetId> = store.scan_dataset_ids().map(Result::unwrap).collect();
    assert_eq!(ids, vec![a.clone(), b.clone()]);
    let jobs: Vec<_> = store.scan_job_io().map(Result::unwrap).collect();
    assert_eq!(jobs, vec![(job.id.clone(), vec![a], vec![b])]);
    assert!(!store.ensure_graph_keys().unwrap(), "filled only once");
}

/// A record written by a newer build (a greater `format`) is refused with the key and the
/// format, not misread; this build's records read as usual.
#[test]
fn records_from_a_newer_format_are_refused_by_name() {
    let store = Store::open_temporary(&StoreConfig::default()).unwrap();
    let id = DatasetId::new("db", "orders");
    let mut write = store.write();
    write.put_dataset(&DatasetRecord::new(id.clone(), Timestamp(1))).unwrap();
    store.commit(write).unwrap();
    assert_eq!(store.dataset(&id).unwrap().unwrap().format, RECORD_FORMAT);

    let mut newer = serde_json::to_value(DatasetRecord::new(id.clone(), Timestamp(1))).unwrap();
    newer["format"] = serde_json::json!(RECORD_FORMAT + 1);
    let key = crate::keys::name_key(crate::keys::PREFIX_DATASET, "db", "orders");
    store.db().unwrap().insert(&key, serde_json::to_vec(&newer).unwrap()).unwrap();
    match store.dataset(&id) {
        Err(StoreError::UnsupportedRecord { key, found }) => {
            assert_eq!(found, RECORD_FORMAT + 1);
            assert!(key.contains("orders"), "{key}");
        }
        other => panic!("expected UnsupportedRecord, got {other:?}"),
    }
}

fn sample_facets() -> tributary_model::Facets {
    let version = |time, hash| tributary_model::Version { time: Timestamp(time), hash };
    let mut facets = tributary_model::Facets::new();
    facets.insert(
        "jobType".into(),
        tributary_model::FacetEntry {
            version: version(5, 9),
            value: Some(serde_json::json!({"jobType": "TASK", "nested": [1, 2.5, null, {"ü": true}]})),
        },
    );
    facets.insert("gone".into(), tributary_model::FacetEntry { version: version(-3, u64::MAX), value: None });
    facets
}

/// Every record of the binary layout reads back equal, with the fields that are easy to get
/// wrong filled in (tombstones, negative times, a non-hex schema hash, parents, many events).
#[test]
fn binary_records_round_trip() {
    let store = Store::open_temporary(&StoreConfig::default()).unwrap();
    let version = |time, hash| tributary_model::Version { time: Timestamp(time), hash };
    let mut dataset = DatasetRecord::new(DatasetId::new("db://x", "s.t"), Timestamp(-5));
    dataset.last_seen = Timestamp(1 << 50);
    dataset.current_schema = Some(format!("{:032x}", 0x0123_4567_89ab_cdef_u128 << 60));
    dataset.schema_last_seen = Some(Timestamp(3));
    dataset.facets.insert("schema".into(), tributary_model::FacetStamp { version: version(2, 7), hash: Some(11) });
    dataset.facets.insert("old".into(), tributary_model::FacetStamp { version: version(1, 0), hash: None });
    dataset.aliases.insert(DatasetId::new("hive", "t"));
    let mut odd = dataset.clone();
    odd.id = DatasetId::new("db://x", "odd");
    odd.current_schema = Some("not-a-hash".into());

    let job_id = JobId::new("airflow", "dag.task");
    let mut job = JobRecord::new(job_id.clone(), Timestamp(1));
    job.facets = sample_facets();
    job.current =
        Some(ObservationKey { settled: true, time: Timestamp(-7), source: ObservationSource::JobEvent(0xdead_beef) });
    job.inputs = vec![DatasetId::new("db://x", "s.t")];
    job.outputs = vec![DatasetId::new("db://x", "odd"), DatasetId::new("d", "e")];
    job.sql_error = Some("parse error at 1:5".into());

    let mut run_record = tributary_model::RunRecord::new(run(4), job_id.clone(), version(10, 1));
    run_record.observe(&job_id, Some(tributary_model::RunState::Start), version(10, 1), 3);
    run_record.observe(&job_id, Some(tributary_model::RunState::Complete), version(20, 2), 900_000);
    run_record.facets = sample_facets();
    run_record.inputs.insert(DatasetId::new("db://x", "s.t"), sample_facets());
    run_record.outputs.insert(DatasetId::new("d", "e"), tributary_model::Facets::new());
    run_record.parent = Some((run(5), JobId::new("airflow", "dag")));
    let observation = run_record.observation().unwrap();

    let mut write = store.write();
    write.put_dataset(&dataset).unwrap();
    write.put_dataset(&odd).unwrap();
    write.put_job(&job).unwrap();
    write.put_run(&run_record).unwrap();
    write.put_observation(&job_id, &observation).unwrap();
    write.put_job_io(&job_id, &job.inputs, &job.outputs).unwrap();
    store.commit(write).unwrap();

    assert_eq!(store.dataset(&dataset.id).unwrap().unwrap(), dataset);
    assert_eq!(store.dataset(&odd.id).unwrap().unwrap(), odd);
    assert_eq!(store.job(&job_id).unwrap().unwrap(), job);
    assert_eq!(store.run(&run(4)).unwrap().unwrap(), run_record);
    assert_eq!(store.best_observation(&job_id, None).unwrap().unwrap(), observation);
    let io: Vec<_> = store.scan_job_io().map(Result::unwrap).collect();
    assert_eq!(io, vec![(job_id, job.inputs.clone(), job.outputs.clone())]);
}

/// A binary record from a newer build is refused by key and format before anything else of
/// it is read; a truncated one is reported as corrupt with its key.
#[test]
fn binary_records_from_a_newer_format_or_damaged_are_refused() {
    let store = Store::open_temporary(&StoreConfig::default()).unwrap();
    let job = JobRecord::new(JobId::new("airflow", "load"), Timestamp(1));
    let key = crate::keys::name_key(crate::keys::PREFIX_JOB, "airflow", "load");
    let mut stored = crate::codec::encode_job(&job);
    stored[1] = RECORD_FORMAT + 1;
    store.db().unwrap().insert(&key, stored.clone()).unwrap();
    match store.job(&job.id) {
        Err(StoreError::UnsupportedRecord { key, found }) => {
            assert_eq!(found, RECORD_FORMAT + 1);
            assert!(key.contains("load"), "{key}");
        }
        other => panic!("expected UnsupportedRecord, got {other:?}"),
    }
    let stored = crate::codec::encode_job(&job);
    store.db().unwrap().insert(&key, &stored[..stored.len() - 1]).unwrap();
    assert!(matches!(store.job(&job.id), Err(StoreError::Corrupt { key, .. }) if key.contains("load")));
}

/// `verify` compares a store with its rebuild through `same_stored`: a JSON record from an
/// earlier build and its binary form are the same; another value is not.
#[test]
fn same_stored_reads_json_and_binary_records_alike() {
    let mut record = DatasetRecord::new(DatasetId::new("db", "orders"), Timestamp(7));
    record.facets.insert(
        "schema".into(),
        tributary_model::FacetStamp {
            version: tributary_model::Version { time: Timestamp(7), hash: 1 },
            hash: Some(2),
        },
    );
    let store = Store::open_temporary(&StoreConfig::default()).unwrap();
    let key = crate::keys::name_key(crate::keys::PREFIX_DATASET, "db", "orders");
    let binary = crate::codec::encode_dataset(&record);
    let json = crate::encode_blob(&serde_json::to_vec(&record).unwrap(), true);
    assert!(store.same_stored(&store, &key, &binary, &json));
    record.last_seen = Timestamp(8);
    assert!(!store.same_stored(&store, &key, &crate::codec::encode_dataset(&record), &json));
    // Values behind a codec byte compare by content, compressed or not.
    let event_key = crate::keys::event_key(1);
    let event = br#"{"eventTime":"2024-01-01T00:00:00Z"}"#;
    assert!(store.same_stored(&store, &event_key, &crate::encode_blob(event, true), &crate::encode_blob(event, false)));
    assert!(!store.same_stored(
        &store,
        &event_key,
        &crate::encode_blob(event, true),
        &crate::encode_blob(b"{}", false)
    ));
}

/// An event whose `schema` facet is large (stored by reference) and whose `ownership` facet is
/// small (stored inline), with the byte ranges of both values in its JSON.
fn event_with_facets() -> (Vec<u8>, std::ops::Range<usize>, std::ops::Range<usize>) {
    let fields: Vec<String> = (0..40).map(|n| format!(r#"{{"name":"column_{n}","type":"VARCHAR"}}"#)).collect();
    let schema = format!(r#"{{"fields":[{}]}}"#, fields.join(","));
    let ownership = r#"{"owners":[{"name":"team:sales"}]}"#;
    let event = format!(r#"{{"outputs":[{{"facets":{{"ownership":{ownership},"schema":{schema}}}}}]}}"#);
    let start = |part: &str| event.find(part).unwrap();
    let (o, s) = (start(ownership), start(&schema));
    assert!(schema.len() >= crate::FACET_BY_REFERENCE_MIN && ownership.len() < crate::FACET_BY_REFERENCE_MIN);
    (event.clone().into_bytes(), o..o + ownership.len(), s..s + schema.len())
}

/// Large facet values are stored as references into their event and read back equal: through
/// the group before it is committed, after the commit, and after a reopen; small ones inline.
#[test]
fn large_facet_values_are_read_from_their_event() {
    let dir = tempfile::tempdir().unwrap();
    let id = DatasetId::new("db", "orders");
    let (event, ownership, schema) = event_with_facets();
    let value = |range: std::ops::Range<usize>| serde_json::from_slice::<serde_json::Value>(&event[range]).unwrap();
    {
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let mut group = crate::GroupWrite::default();
        let mut write = store.write();
        write.put_event(1, 1, &event);
        write.put_dataset_facet_from_event(&id, "schema", &event, 1, schema.clone());
        write.put_dataset_facet_from_event(&id, "ownership", &event, 1, ownership.clone());
        group.add(write);
        assert_eq!(store.view(&group).dataset_facet(&id, "schema").unwrap(), Some(value(schema.clone())));
        store.commit_group(group).unwrap();
        let stored = |key: &str| store.get_in(None, &crate::keys::facet_key(&id, key)).unwrap().unwrap();
        // Folded into the dataset's one value: no key of their own.
        assert_eq!(store.db().unwrap().scan_prefix([crate::keys::PREFIX_DATASET_FACET]).count(), 0);
        assert_eq!(store.db().unwrap().scan_prefix([crate::keys::PREFIX_DATASET]).count(), 1);
        assert_eq!(stored("schema").len(), 17, "a reference: codec, sequence, offset, length");
        assert_eq!(stored("schema")[0], crate::keys::CODEC_EVENT_SPAN);
        assert_ne!(stored("ownership")[0], crate::keys::CODEC_EVENT_SPAN);
        assert_eq!(store.dataset_facet(&id, "schema").unwrap(), Some(value(schema.clone())));
    }
    let store = Store::open_waiting(dir.path(), &StoreConfig::default(), std::time::Duration::from_secs(10)).unwrap();
    let facets = store.dataset_facets(&id).unwrap();
    assert_eq!(facets.get("schema"), Some(&value(schema)));
    assert_eq!(facets.get("ownership"), Some(&value(ownership)));
}

/// A damaged or dangling reference is a `Corrupt` error naming the key, never a panic or a
/// wrong value; `verify`'s comparison reads an inline value and a reference to it as equal.
#[test]
fn facet_references_that_do_not_resolve_are_refused_and_compare_by_value() {
    let store = Store::open_temporary(&StoreConfig::default()).unwrap();
    let id = DatasetId::new("db", "orders");
    let (event, _, schema) = event_with_facets();
    let mut write = store.write();
    write.put_event(1, 1, &event);
    write.put_dataset_facet_from_event(&id, "schema", &event, 1, schema.clone());
    store.commit(write).unwrap();
    let key = crate::keys::facet_key(&id, "schema");
    let reference = store.get_in(None, &key).unwrap().unwrap().to_vec();
    // `verify` compares the datasets' values: the facet inline or by reference is the same.
    let dataset = crate::keys::name_key(crate::keys::PREFIX_DATASET, "db", "orders");
    let folded =
        |facet: &[u8]| crate::fold::encode(None, [(b"schema".as_slice(), facet)].into_iter()).unwrap().unwrap();
    let inline = crate::encode_blob(&event[schema.clone()], true);
    assert!(store.same_stored(&store, &dataset, &folded(&reference), &folded(&inline)));
    assert!(!store.same_stored(&store, &dataset, &folded(&reference), &folded(&crate::encode_blob(b"{}", false))));

    let damaged = |bytes: Vec<u8>| {
        let mut write = store.write();
        write.batch.insert(key.clone(), bytes);
        store.commit(write).unwrap();
        match store.dataset_facet(&id, "schema") {
            Err(StoreError::Corrupt { key, reason }) => {
                assert!(key.contains("orders"), "{key}");
                reason
            }
            other => panic!("expected a corrupt-record error, got {other:?}"),
        }
    };
    let mut elsewhere = reference.clone();
    elsewhere[1..9].copy_from_slice(&9u64.to_be_bytes());
    assert!(damaged(elsewhere).contains("event 9, which is not stored"));
    let mut too_long = reference.clone();
    too_long[13..17].copy_from_slice(&(event.len() as u32).to_be_bytes());
    assert!(damaged(too_long).contains("outside event 1"));
    let mut shifted = reference.clone();
    shifted[9..13].copy_from_slice(&1u32.to_be_bytes());
    assert!(!damaged(shifted).is_empty());
    assert!(damaged(reference[..10].to_vec()).contains("takes 17 bytes"));
}

/// A store of a previous format opens (and is marked with this one, so older builds refuse
/// it); a store of a newer format is refused.
#[test]
fn previous_store_formats_are_upgraded_in_place_and_a_newer_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let meta = |format: u8| {
        // sled's threads of the store just dropped may hold its file lock a moment longer.
        let db =
            crate::open_db_waiting(dir.path(), &StoreConfig::default(), std::time::Duration::from_secs(10)).unwrap();
        db.insert(crate::keys::META_FORMAT, &[format]).unwrap();
        db.flush().unwrap();
    };
    drop(Store::open_waiting(dir.path(), &StoreConfig::default(), std::time::Duration::from_secs(10)).unwrap());
    for previous in crate::UPGRADABLE_FORMATS {
        meta(previous);
        let store =
            Store::open_waiting(dir.path(), &StoreConfig::default(), std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(store.db().unwrap().get(crate::keys::META_FORMAT).unwrap().unwrap().as_ref(), [crate::STORE_FORMAT]);
    }
    meta(crate::STORE_FORMAT + 1);
    assert!(matches!(
        Store::open_waiting(dir.path(), &StoreConfig::default(), std::time::Duration::from_secs(10)),
        Err(StoreError::UnsupportedFormat { found }) if found == crate::STORE_FORMAT + 1
    ));
}

/// A format-4 store (facet values under `F`, graph keys under `N`) is folded at its first open
/// by this build: every value reads back the same, no `F` or `N` key is left, and a dataset
/// written since keeps the facets it had.
#[test]
fn a_format_4_store_has_its_facet_values_folded_into_its_datasets_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (event, ownership, schema) = event_with_facets();
    let value = |range: std::ops::Range<usize>| serde_json::from_slice::<serde_json::Value>(&event[range]).unwrap();
    let reference = crate::FacetReference::new(1, &schema).unwrap().encode().to_vec();
    let ids: Vec<DatasetId> = (0..300).map(|n| DatasetId::new("db", format!("table_{n:03}"))).collect();
    {
        // As format 4 left it: a bare record, facet values and a graph key per dataset.
        let db = sled::open(dir.path()).unwrap();
        db.insert(crate::keys::META_FORMAT, &[4]).unwrap();
        db.insert(crate::keys::META_GRAPH_KEYS, &[1]).unwrap();
        db.insert(crate::keys::event_key(1), crate::encode_blob(&event, true)).unwrap();
        for (n, id) in ids.iter().enumerate() {
            let record = crate::codec::encode_dataset(&DatasetRecord::new(id.clone(), Timestamp(n as i64)));
            db.insert(crate::keys::name_key(crate::keys::PREFIX_DATASET, &id.namespace, &id.name), record).unwrap();
            db.insert(crate::keys::name_key(crate::keys::PREFIX_GRAPH_DATASET, &id.namespace, &id.name), &[]).unwrap();
            if n % 3 != 0 {
                db.insert(crate::keys::facet_key(id, "schema"), reference.clone()).unwrap();
                db.insert(crate::keys::facet_key(id, "ownership"), crate::encode_blob(&event[ownership.clone()], true))
                    .unwrap();
            }
        }
        db.flush().unwrap();
    }
    let store = Store::open_waiting(dir.path(), &StoreConfig::default(), std::time::Duration::from_secs(10)).unwrap();
    let db = store.db().unwrap();
    assert_eq!(db.get(crate::keys::META_FORMAT).unwrap().unwrap().as_ref(), [crate::STORE_FORMAT]);
    assert_eq!(db.scan_prefix([crate::keys::PREFIX_DATASET_FACET]).count(), 0);
    assert_eq!(db.scan_prefix([crate::keys::PREFIX_GRAPH_DATASET]).count(), 0);
    assert_eq!(store.scan_dataset_ids().map(Result::unwrap).collect::<Vec<_>>(), ids);
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(store.dataset(id).unwrap().unwrap().first_seen, Timestamp(n as i64));
        assert!(store.has_graph_dataset(id).unwrap());
        let facets = store.dataset_facets(id).unwrap();
        if n % 3 == 0 {
            assert!(facets.is_empty());
        } else {
            assert_eq!(facets.get("schema"), Some(&value(schema.clone())));
            assert_eq!(store.dataset_facet(id, "ownership").unwrap(), Some(value(ownership.clone())));
        }
    }
    // A record written since keeps its facet values; a facet removed goes alone.
    let mut write = store.write();
    let mut record = DatasetRecord::new(ids[1].clone(), Timestamp(1));
    record.last_seen = Timestamp(99);
    write.put_dataset(&record).unwrap();
    write.delete_dataset_facet(&ids[1], "ownership");
    store.commit(write).unwrap();
    assert_eq!(store.dataset(&ids[1]).unwrap().unwrap().last_seen, Timestamp(99));
    assert_eq!(store.dataset_facet(&ids[1], "schema").unwrap(), Some(value(schema)));
    assert_eq!(store.dataset_facet(&ids[1], "ownership").unwrap(), None);
}

/// Events shaped like a mesh's: the same producer, facets and field names, other datasets.
fn mesh_event(n: u64) -> Vec<u8> {
    let fields: Vec<String> = (0..12)
        .map(|c| format!(r#"{{"name":"column_{}_{c}","type":"VARCHAR","description":"from {n}"}}"#, n % 7))
        .collect();
    format!(
        r#"{{"eventTime":"2024-01-01T00:00:{:02}Z","eventType":"COMPLETE","producer":"https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/airflow","job":{{"namespace":"airflow","name":"sales.load_{n}"}},"outputs":[{{"namespace":"postgres://db","name":"public.orders_{n}","facets":{{"schema":{{"_producer":"https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/airflow","_schemaURL":"https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json","fields":[{}]}}}}}}],"run":{{"runId":"{:032x}"}}}}"#,
        n % 60,
        fields.join(","),
        n
    )
    .into_bytes()
}

fn store_events(store: &Store, range: std::ops::RangeInclusive<u64>) {
    let mut group = crate::GroupWrite::default();
    for n in range {
        let mut write = store.write();
        write.put_encoded_event(n, u128::from(n), store.encode_event(&mesh_event(n)));
        group.add(write);
    }
    store.commit_group(group).unwrap();
}

/// The first dictionary is trained once the store holds enough events, made durable, and
/// used for later events; every event reads back as stored, before and after a reopen, and
/// through a facet reference; the next training waits for many times as many events.
#[test]
fn events_are_compressed_with_a_dictionary_trained_on_the_stores_own_events() {
    use crate::dictionary::{FIRST_TRAINING_AT, RETRAIN_FACTOR};
    let dir = tempfile::tempdir().unwrap();
    let first = FIRST_TRAINING_AT;
    {
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        store_events(&store, 1..=first - 1);
        assert!(!store.event_dictionary_due().unwrap());
        assert!(store.train_event_dictionary().unwrap().is_none());
        store_events(&store, first..=first);
        assert!(store.event_dictionary_due().unwrap());
        let trained = store.train_event_dictionary().unwrap().expect("a dictionary");
        assert_eq!((trained.id, trained.trained_at, trained.samples), (1, first, first as usize));
        assert_eq!(store.event_dictionaries(), vec![1]);
        assert!(!store.event_dictionary_due().unwrap(), "the next one waits for more events");
        store_events(&store, first + 1..=first + 200);

        let codec = |n: u64| store.db().unwrap().get(crate::keys::event_key(n)).unwrap().unwrap()[0];
        assert_eq!(codec(first), crate::keys::CODEC_LZ4);
        assert_eq!(codec(first + 1), crate::keys::CODEC_ZSTD_DICT);
        let size = |n: u64| store.db().unwrap().get(crate::keys::event_key(n)).unwrap().unwrap().len();
        let lz4 = crate::encode_blob(&mesh_event(first + 1), true).len();
        assert!(size(first + 1) * 2 < lz4, "zstd with the dictionary {} against lz4 {lz4}", size(first + 1));
        for n in [1, first, first + 1, first + 200] {
            assert_eq!(store.event(n).unwrap(), Some(mesh_event(n)));
        }
        // A facet value by reference into a dictionary-compressed event.
        let id = DatasetId::new("postgres://db", "public.orders_1100");
        let event = mesh_event(1100);
        let text = std::str::from_utf8(&event).unwrap();
        let start = text.find(r#"{"_producer""#).unwrap();
        let end = text.rfind("]}").unwrap() + 2;
        let mut write = store.write();
        write.put_dataset_facet_from_event(&id, "schema", &event, 1100, start..end);
        store.commit(write).unwrap();
        let expected: serde_json::Value = serde_json::from_slice(&event[start..end]).unwrap();
        assert_eq!(store.dataset_facet(&id, "schema").unwrap(), Some(expected));
    }
    let store = Store::open_waiting(dir.path(), &StoreConfig::default(), std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(store.event_dictionaries(), vec![1]);
    let events = store.events_after(0, usize::MAX).unwrap();
    assert_eq!(events.len() as u64, first + 200);
    assert!(events.iter().all(|(n, json)| *json == mesh_event(*n)));
    assert_eq!(store.encode_event(b"{}").bytes()[0], crate::keys::CODEC_ZSTD_DICT);
    // Retraining: at RETRAIN_FACTOR times the events of the last training.
    store_events(&store, first + 201..=first * RETRAIN_FACTOR - 1);
    assert!(!store.event_dictionary_due().unwrap());
    store_events(&store, first * RETRAIN_FACTOR..=first * RETRAIN_FACTOR);
    assert_eq!(store.train_event_dictionary().unwrap().map(|trained| trained.id), Some(2));
    store_events(&store, first * RETRAIN_FACTOR + 1..=first * RETRAIN_FACTOR + 1);
    let stored = store.db().unwrap().get(crate::keys::event_key(first * RETRAIN_FACTOR + 1)).unwrap().unwrap();
    assert_eq!(stored[1..5], 2u32.to_be_bytes());
    assert_eq!(store.event(first + 1).unwrap(), Some(mesh_event(first + 1)), "older events keep theirs");
    // A store that does not compress keeps events raw and trains nothing.
    let raw = Store::open_temporary(&StoreConfig { compress: false, ..StoreConfig::default() }).unwrap();
    store_events(&raw, 1..=first);
    assert!(!raw.event_dictionary_due().unwrap());
    assert!(raw.train_event_dictionary().unwrap().is_none());
}

/// An event naming a dictionary the store does not hold, or whose frame is damaged, is a
/// `Corrupt` error naming the event, never a panic or other bytes; so is a damaged dictionary
/// at open. Stores compare events by content, whatever their dictionaries.
#[test]
fn dictionary_compressed_events_that_do_not_decode_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = crate::dictionary::FIRST_TRAINING_AT;
    let store = Store::open_waiting(dir.path(), &StoreConfig::default(), std::time::Duration::from_secs(10)).unwrap();
    store_events(&store, 1..=first);
    store.train_event_dictionary().unwrap().expect("a dictionary");
    store_events(&store, first + 1..=first + 1);
    let key = crate::keys::event_key(first + 1);
    let good = store.db().unwrap().get(key).unwrap().unwrap().to_vec();
    let plain = crate::encode_blob(&mesh_event(first + 1), true);
    assert!(store.same_stored(&store, &key, &good, &plain));
    assert!(!store.same_stored(&store, &key, &good, &crate::encode_blob(&mesh_event(1), true)));

    let refused = |bytes: Vec<u8>| {
        store.db().unwrap().insert(key, bytes).unwrap();
        match store.event(first + 1) {
            Err(StoreError::Corrupt { key, reason }) => {
                assert_eq!(key, format!("event {}", first + 1));
                reason
            }
            other => panic!("expected a corrupt-event error, got {other:?}"),
        }
    };
    let mut other_dictionary = good.clone();
    other_dictionary[1..5].copy_from_slice(&7u32.to_be_bytes());
    assert!(refused(other_dictionary).contains("dictionary 7, which the store does not hold"));
    assert!(refused(good[..3].to_vec()).contains("shorter than its dictionary id"));
    assert!(refused(good[..good.len() / 2].to_vec()).contains("dictionary 1"));
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    // A flipped byte inside the frame: refused, or (zstd keeps no checksum) other bytes,
    // which the event's hash would then not match; never a panic, never the event.
    store.db().unwrap().insert(key, flipped).unwrap();
    match store.event(first + 1) {
        Err(StoreError::Corrupt { .. }) => {}
        Ok(Some(bytes)) => assert_ne!(bytes, mesh_event(first + 1)),
        other => panic!("expected a corrupt-event error or other bytes, got {other:?}"),
    }
    let mut huge = good.clone();
    // The frame header's content size field, rewritten to claim more than any event.
    huge.truncate(5);
    huge.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert!(!refused(huge).is_empty());
    drop(store);

    // sled's threads let go of the directory's lock shortly after the last handle is dropped
    // (a loaded machine made the first open fail on it).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let db = loop {
        match sled::open(dir.path()) {
            Ok(db) => break db,
            Err(sled::Error::Io(error))
                if error.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(error) => panic!("reopening the store with sled: {error}"),
        }
    };
    db.insert(crate::dictionary::dictionary_key(1), &[0u8; 3][..]).unwrap();
    db.flush().unwrap();
    drop(db);
    // sled's threads let go of the directory's lock shortly after the last handle is dropped.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let opened = loop {
        match Store::open(dir.path(), &StoreConfig::default()) {
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.map(|_| ()),
        }
    };
    assert!(matches!(&opened, Err(StoreError::Corrupt { key, .. }) if key.starts_with("Mdict")), "{opened:?}");
}

/// The value `write` puts under `key`.
fn written(write: &crate::EventWrite, key: &[u8]) -> Vec<u8> {
    write.batch.0.iter().rev().find(|(k, _)| k.as_ref() == key).and_then(|(_, v)| v.as_ref()).unwrap().to_vec()
}

/// A schema version stored by reference reads back as the inline one would, through the
/// group, after the commit and after a reopen, with its span for a later rewrite; a damaged
/// one or one from a newer format is refused by key, and verify's comparison reads both
/// forms alike.
#[test]
fn schema_versions_by_reference_read_as_inline_ones() {
    let dir = tempfile::tempdir().unwrap();
    let id = DatasetId::new("db", "orders");
    let (event, _, schema) = event_with_facets();
    let text = std::str::from_utf8(&event).unwrap();
    let fields_start = schema.start + text[schema.clone()].find('[').unwrap();
    let fields = fields_start..schema.end - 1;
    let record = tributary_model::SchemaVersionRecord {
        format: RECORD_FORMAT,
        hash: format!("{:032x}", 7),
        fields: serde_json::from_slice(&event[fields.clone()]).unwrap(),
        first_seen: Timestamp(5),
        last_seen: Timestamp(5),
        first_sequence: 1,
    };
    let key = crate::schema_key(&id, &record.hash);
    {
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let mut group = crate::GroupWrite::default();
        let mut write = store.write();
        write.put_event(1, 1, &event);
        assert!(write.put_schema_version_from_event(&id, &record.hash, Timestamp(5), 1, fields.clone()));
        group.add(write);
        let view = store.view(&group);
        assert!(view.has_schema_version(&id, &record.hash).unwrap());
        assert!(!view.has_schema_version(&id, &format!("{:032x}", 8)).unwrap());
        assert_eq!(view.schema_version(&id, &record.hash).unwrap(), Some(record.clone()));
        assert_eq!(view.schema_version_span(&id, &record.hash).unwrap(), Some(fields.clone()));
        store.commit_group(group).unwrap();
        let stored = store.db().unwrap().get(&key).unwrap().unwrap();
        assert_eq!((stored[0], stored.len()), (crate::keys::CODEC_SCHEMA_SPAN, crate::SchemaSpan::ENCODED_LEN));
        let mut inline = store.write();
        inline.put_schema_version(&id, &record).unwrap();
        let inline = written(&inline, &key);
        assert!(store.same_stored(&store, &key, &stored, &inline));
        let mut later = record.clone();
        later.last_seen = Timestamp(10);
        let mut other = store.write();
        other.put_schema_version(&id, &later).unwrap();
        assert!(!store.same_stored(&store, &key, &stored, &written(&other, &key)));
    }
    let store = Store::open_waiting(dir.path(), &StoreConfig::default(), std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(store.schema_versions(&id).unwrap(), vec![record.clone()]);
    assert_eq!(store.schema_version_span(&id, &record.hash).unwrap(), Some(fields.clone()));

    // Read as stored, its last sighting moved and written back: still a reference to the
    // same bytes, the fields unchanged; an inline one the same way.
    let group = crate::GroupWrite::default();
    let mut stored = store.view(&group).stored_schema_version(&id, &record.hash).unwrap().unwrap();
    assert_eq!((stored.last_seen(), stored.fields_span()), (Timestamp(5), Some(fields.clone())));
    stored.set_last_seen(Timestamp(9));
    let mut write = store.write();
    write.put_stored_schema_version(&id, &record.hash, &stored).unwrap();
    let mut group = crate::GroupWrite::default();
    group.add(write);
    store.commit_group(group).unwrap();
    let moved = tributary_model::SchemaVersionRecord { last_seen: Timestamp(9), ..record.clone() };
    assert_eq!(store.schema_version(&id, &record.hash).unwrap(), Some(moved.clone()));
    assert_eq!(store.schema_version_span(&id, &record.hash).unwrap(), Some(fields));
    let inline_id = DatasetId::new("db", "inline");
    let mut write = store.write();
    write.put_schema_version(&inline_id, &record).unwrap();
    let mut group = crate::GroupWrite::default();
    group.add(write);
    let mut stored = store.view(&group).stored_schema_version(&inline_id, &record.hash).unwrap().unwrap();
    assert_eq!((stored.last_seen(), stored.fields_span()), (Timestamp(5), None));
    stored.set_last_seen(Timestamp(9));
    let mut write = store.write();
    write.put_stored_schema_version(&inline_id, &record.hash, &stored).unwrap();
    group.add(write);
    store.commit_group(group).unwrap();
    assert_eq!(store.schema_version(&inline_id, &record.hash).unwrap(), Some(moved));

    let refused = |bytes: Vec<u8>| {
        store.db().unwrap().insert(&key, bytes).unwrap();
        store.schema_version(&id, &record.hash).unwrap_err()
    };
    let good = store.db().unwrap().get(&key).unwrap().unwrap().to_vec();
    assert!(matches!(refused(good[..20].to_vec()), StoreError::Corrupt { reason, .. } if reason.contains("takes")));
    let mut newer = good.clone();
    newer[1] = RECORD_FORMAT + 1;
    assert!(matches!(refused(newer), StoreError::UnsupportedRecord { key, .. } if key.contains("orders")));
    let mut dangling = good.clone();
    dangling[19..27].copy_from_slice(&9u64.to_be_bytes());
    assert!(matches!(refused(dangling), StoreError::Corrupt { reason, .. } if reason.contains("event 9")));
    let mut no_reference = good;
    no_reference[18] = 0;
    assert!(matches!(refused(no_reference), StoreError::Corrupt { reason, .. } if reason.contains("lacks")));
}

/// Column lineage is stored binary (a string table, edges as indices) and reads back equal;
/// the JSON of earlier builds still reads and compares equal; a damaged or newer record is
/// refused by key.
#[test]
fn column_lineage_round_trips_in_binary_and_reads_earlier_json() {
    use tributary_model::{ColumnEdgeSpec, EdgeSource, Transformation, TransformationKind};
    let store = Store::open_temporary(&StoreConfig::default()).unwrap();
    let output = DatasetId::new("db", "orders");
    let edges: Vec<ColumnEdgeSpec> = (0..40u32)
        .map(|n| ColumnEdgeSpec {
            input: DatasetId::new(if n % 3 == 0 { "db" } else { "kafka://broker" }, format!("raw_{}", n % 4)),
            input_field: format!("customer_{}", n % 9),
            output_field: format!("customer_{n}"),
            transformations: (0..n % 3)
                .map(|t| Transformation {
                    kind: if t == 0 { TransformationKind::Direct } else { TransformationKind::Indirect },
                    subtype: ["IDENTITY", "AGGREGATION", ""][(n % 3) as usize].into(),
                    masking: n % 5 == 0,
                    description: (n % 2 == 0).then(|| format!("sum of {n}")),
                })
                .collect(),
            source: [EdgeSource::Reported, EdgeSource::ReportedKindsFromSql, EdgeSource::DerivedFromSql]
                [(n % 3) as usize],
        })
        .collect();
    let mut write = store.write();
    write.put_column_lineage(&output, &edges).unwrap();
    store.commit(write).unwrap();
    assert_eq!(store.column_lineage(&output).unwrap(), edges);
    let key = crate::keys::name_key(crate::keys::PREFIX_COLUMN_LINEAGE, "db", "orders");
    let binary = store.db().unwrap().get(&key).unwrap().unwrap().to_vec();
    assert_eq!(binary[0], crate::keys::CODEC_BINARY);
    let json = crate::encode_blob(&serde_json::to_vec(&edges).unwrap(), true);
    assert!(binary.len() < json.len(), "binary {} against JSON {}", binary.len(), json.len());
    assert!(store.same_stored(&store, &key, &binary, &json));
    store.db().unwrap().insert(&key, json).unwrap();
    assert_eq!(store.column_lineage(&output).unwrap(), edges);
    let scanned: Vec<_> = store.scan_column_lineage().collect::<Result<_, _>>().unwrap();
    assert_eq!(scanned, vec![(output.clone(), edges.clone())]);

    let refused = |bytes: Vec<u8>| {
        store.db().unwrap().insert(&key, bytes).unwrap();
        store.column_lineage(&output).unwrap_err()
    };
    let mut newer = binary.clone();
    newer[1] = RECORD_FORMAT + 1;
    assert!(matches!(refused(newer), StoreError::UnsupportedRecord { key, .. } if key.contains("orders")));
    assert!(
        matches!(refused(binary[..binary.len() - 3].to_vec()), StoreError::Corrupt { key, .. } if key.contains("orders"))
    );
    // A well-compressed body that is not this layout: an index beyond the table.
    let mut body = Vec::new();
    body.extend_from_slice(&[1, 1, b'x', 1, 9, 0, 0, 0, 0, 0]);
    let mut damaged = binary[..2].to_vec();
    damaged.extend_from_slice(&lz4_flex::compress_prepend_size(&body));
    assert!(matches!(refused(damaged), StoreError::Corrupt { reason, .. } if reason.contains("beyond the table")));
}

/// Audit entries are stored binary and read back whole, of every kind and actor; the JSON
/// entries of earlier builds still read; a damaged entry is refused by key.
#[test]
fn audit_entries_round_trip_in_binary_and_read_earlier_json() {
    use tributary_model::{Actor, ActorKind, AuditKind, AuditRecord};
    let store = Store::open_temporary(&StoreConfig::default()).unwrap();
    let token = Actor { via: ActorKind::Token, token_id: Some("0123456789abcdef".into()), name: "airflow".into() };
    let mut applied = AuditRecord::new(Timestamp(2), token.clone(), AuditKind::DescriptorApplied, "product sales v3");
    applied.version = Some(3);
    let mut refused = AuditRecord::new(Timestamp(3), Actor::open(), AuditKind::ApplyRejected, "product sales");
    refused.details = vec!["owner is missing".into(), "port `x` is unknown".into()];
    let created = AuditRecord::new(Timestamp(4), Actor::source("lineage"), AuditKind::TokenCreated, "token 1 (ci)");
    for record in [&applied, &refused, &created] {
        store.put_audit(record).unwrap();
    }
    let mut stored = AuditRecord::new(Timestamp(1), Actor::local(), AuditKind::EventStored, "event 7 (job etl/load)");
    stored.sequence = Some(7);
    let mut write = store.write();
    write.put_event_audit(&stored, 7).unwrap();
    store.commit(write).unwrap();
    let query =
        crate::AuditQuery { since: None, until: None, kinds: Vec::new(), after: None, limit: 10, scan_budget: 100 };
    let page = store.audit(&query, |_| true).unwrap();
    assert_eq!(page.entries, vec![created.clone(), refused.clone(), applied.clone(), stored.clone()]);
    let key = crate::keys::audit_key(Timestamp(1), AuditKind::EventStored.code(), 7);
    let binary = store.db().unwrap().get(key).unwrap().unwrap();
    assert_eq!(binary[0], crate::keys::CODEC_BINARY);
    assert!(binary.len() < serde_json::to_vec(&stored).unwrap().len() / 2, "{} bytes", binary.len());

    // An entry an earlier build wrote as JSON, then a damaged one.
    store.db().unwrap().insert(key, crate::encode_blob(&serde_json::to_vec(&stored).unwrap(), true)).unwrap();
    assert_eq!(store.audit(&query, |_| true).unwrap().entries.last(), Some(&stored));
    store.db().unwrap().insert(key, &binary[..binary.len() - 2]).unwrap();
    assert!(matches!(store.audit(&query, |_| true), Err(StoreError::Corrupt { .. })));
}

/// The dictionaries are shared by callers compressing events, readers decompressing them and
/// the training: readers and writers on several threads while dictionaries are trained and
/// published; every event reads back as written, with whichever dictionary it names.
#[test]
fn events_stay_readable_while_dictionaries_are_trained_beside_readers_and_writers() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let first = crate::dictionary::FIRST_TRAINING_AT;
    let store = Arc::new(Store::open_temporary(&StoreConfig::default()).unwrap());
    store_events(&store, 1..=first - 1);
    let written = Arc::new(AtomicU64::new(first - 1));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Enough for a second dictionary even when the first is trained late.
    let cap = first * crate::dictionary::RETRAIN_FACTOR * 8;
    let writer = {
        let (store, written, done) = (Arc::clone(&store), Arc::clone(&written), Arc::clone(&done));
        std::thread::spawn(move || {
            // One writer, as the service has: groups of 50 events, each encoded on a caller,
            // until events are written with a second dictionary (or the cap).
            let mut next = first;
            let mut after_second = 0;
            while next <= cap && after_second < 4 {
                if store.event_dictionaries().len() >= 2 {
                    after_second += 1;
                }
                let last = next + 49;
                let encoded: Vec<_> = (next..=last).map(|n| (n, store.encode_event(&mesh_event(n)))).collect();
                let mut group = crate::GroupWrite::default();
                for (n, event) in encoded {
                    let mut write = store.write();
                    write.put_encoded_event(n, u128::from(n), event);
                    group.add(write);
                }
                store.commit_group(group).unwrap();
                written.store(last, Ordering::Release);
                next = last + 1;
            }
            done.store(true, Ordering::Release);
            next - 1
        })
    };
    let trainer = {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut trained = Vec::new();
            while !done.load(Ordering::Acquire) {
                if let Some(done) = store.train_event_dictionary().unwrap() {
                    trained.push(done.id);
                }
                std::thread::yield_now();
            }
            trained
        })
    };
    let readers: Vec<_> = (0..2u64)
        .map(|seed| {
            let (store, written, done) = (Arc::clone(&store), Arc::clone(&written), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut checked = 0u64;
                let mut n = seed;
                while !done.load(Ordering::Acquire) {
                    let upto = written.load(Ordering::Acquire);
                    n = (n * 7919 + 13) % upto + 1;
                    assert_eq!(store.event(n).unwrap(), Some(mesh_event(n)), "event {n}");
                    checked += 1;
                }
                checked
            })
        })
        .collect();
    let end = writer.join().unwrap();
    let trained = trainer.join().unwrap();
    assert!(readers.into_iter().map(|reader| reader.join().unwrap()).sum::<u64>() > 0);
    assert_eq!(trained, vec![1, 2], "trained at {first} and at {}x", crate::dictionary::RETRAIN_FACTOR);
    let events = store.events_after(0, usize::MAX).unwrap();
    assert_eq!(events.len() as u64, end);
    assert!(events.iter().all(|(n, json)| *json == mesh_event(*n)));
    let named: std::collections::BTreeSet<u32> = (1..=end)
        .filter_map(|n| {
            let stored = store.db().unwrap().get(crate::keys::event_key(n)).unwrap().unwrap();
            (stored[0] == crate::keys::CODEC_ZSTD_DICT).then(|| u32::from_be_bytes(stored[1..5].try_into().unwrap()))
        })
        .collect();
    assert_eq!(named.into_iter().collect::<Vec<_>>(), vec![1, 2], "events compressed with each dictionary");
}

/// Every key and value of a store, in key order.
/// Every key and value, but the record of the last compaction's size (which only a compacted
/// store has).
fn everything(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..=u8::MAX)
        .flat_map(|prefix| store.scan_raw(prefix).map(Result::unwrap).collect::<Vec<_>>())
        .filter(|(key, _)| key != crate::keys::META_COMPACTED)
        .collect()
}

/// One round of the writes a live store takes: a group of new events, datasets rewritten
/// (churn, so there is something to compact), an observation written and the one before it
/// deleted.
fn live_writes(store: &Store, round: u64) {
    let first = 10_000 + round * 20;
    store_events(store, first..=first + 19);
    let mut write = store.write();
    for n in 0..40u64 {
        let id = DatasetId::new("db", format!("table_{}", (round * 7 + n) % 300));
        write.put_dataset(&DatasetRecord::new(id, Timestamp((round * 100 + n) as i64))).unwrap();
    }
    let job = JobId::new("airflow", format!("job_{}", round % 25));
    write.put_observation(&job, &observation(key(true, round as i64, (round % 200) as u8), "orders")).unwrap();
    if round > 0 {
        write.delete_observation(&job, &key(true, round as i64 - 1, ((round - 1) % 200) as u8));
    }
    store.commit(write).unwrap();
}

/// An online compaction copies the store while a writer goes on and readers read: every
/// write made during the copy is in the compacted store (compared key by key with a store
/// that took the same writes and was never compacted), before and after a reopen; the old
/// database is deleted; a second compaction moves on to the next generation and removes the
/// first. (How much smaller a compacted store is depends on sled and on the scale: measured in
/// the benchmarks, not asserted here.)
#[test]
fn online_compaction_keeps_every_write_made_while_it_copies() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let model = Store::open_temporary(&StoreConfig::default()).unwrap();
    for group in 0..20u64 {
        store_events(&store, group * 100 + 1..=group * 100 + 100);
        store_events(&model, group * 100 + 1..=group * 100 + 100);
    }
    let rounds = AtomicU64::new(0);
    for _ in 0..200 {
        let round = rounds.fetch_add(1, Ordering::SeqCst);
        live_writes(&store, round);
        live_writes(&model, round);
    }
    store.flush().unwrap();
    let done = AtomicBool::new(false);
    let (report, during) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut during = 0;
            while !done.load(Ordering::SeqCst) {
                let round = rounds.fetch_add(1, Ordering::SeqCst);
                live_writes(&store, round);
                live_writes(&model, round);
                store.flush().unwrap();
                during += 1;
            }
            during
        });
        let reader = scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                assert_eq!(store.events_after(0, 50).unwrap().len(), 50);
                assert!(store.event(1).unwrap().is_some());
            }
        });
        // No pause between slices: the writer gets its turns from the lock's fair hand-over.
        let report = store.compact_online(|_| std::ops::ControlFlow::Continue(())).unwrap();
        // A few more rounds on the compacted store before the comparison.
        std::thread::sleep(std::time::Duration::from_millis(50));
        done.store(true, Ordering::SeqCst);
        reader.join().unwrap();
        (report, writer.join().unwrap())
    });
    assert!(during > 0, "the writer got no turn during the compaction");
    assert_eq!(report.generation, "generation-1");
    assert_eq!(store.compacted_size().unwrap(), Some(report.after));
    assert!(report.keys > 2000, "{report:?}");
    // A slice holds at most 2,048 keys (fewer when it runs out of time).
    assert!(report.slices >= report.keys.div_ceil(2048), "{report:?}");
    assert!(report.switch_hold <= report.longest_hold, "{report:?}");
    // The copy was closed and reopened while the writer went on (every 16 KiB in tests).
    assert!(report.settles > 0, "{report:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join("CURRENT")).unwrap().trim(), "generation-1");
    assert!(dir.path().join("generation-1/db").is_file());
    assert_eq!(everything(&store), everything(&model));
    // The old database's files in the store's directory go once its last handle is gone (at
    // once here, at the latest when the store is opened again).
    drop(store);
    let store = Store::open_waiting(dir.path(), &StoreConfig::default(), std::time::Duration::from_secs(10)).unwrap();
    assert!(!dir.path().join("db").exists() && !dir.path().join("conf").exists());
    assert_eq!(everything(&store), everything(&model));
    let second = store.compact_online(|_| std::ops::ControlFlow::Continue(())).unwrap();
    assert_eq!(second.generation, "generation-2");
    assert_eq!(everything(&store), everything(&model));
    drop(store);
    let store = Store::open_waiting(dir.path(), &StoreConfig::default(), std::time::Duration::from_secs(10)).unwrap();
    assert!(!dir.path().join("generation-1").exists());
    assert_eq!(everything(&store), everything(&model));
}

/// A generation left by a compaction that did not finish is removed at the next open; a
/// `CURRENT` naming a generation that holds no database is refused (never a new empty store);
/// a temporary store cannot be compacted online.
#[test]
fn unfinished_generations_are_removed_and_a_missing_current_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        store_events(&store, 1..=10);
        store.flush().unwrap();
    }
    std::fs::create_dir(dir.path().join("generation-4")).unwrap();
    std::fs::write(dir.path().join("generation-4/db"), b"partial").unwrap();
    {
        let store =
            Store::open_waiting(dir.path(), &StoreConfig::default(), std::time::Duration::from_secs(10)).unwrap();
        assert!(!dir.path().join("generation-4").exists());
        assert_eq!(store.last_sequence().unwrap(), 10);
    }
    std::fs::write(dir.path().join("CURRENT"), "generation-3\n").unwrap();
    match Store::open_waiting(dir.path(), &StoreConfig::default(), std::time::Duration::from_secs(10)) {
        Err(StoreError::Corrupt { reason, .. }) => assert!(reason.contains("holds no database"), "{reason}"),
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("opened a store whose CURRENT names a missing generation"),
    }
    std::fs::write(dir.path().join("CURRENT"), "../elsewhere\n").unwrap();
    assert!(matches!(
        Store::open_waiting(dir.path(), &StoreConfig::default(), std::time::Duration::from_secs(10)),
        Err(StoreError::Corrupt { .. })
    ));
    let temporary = Store::open_temporary(&StoreConfig::default()).unwrap();
    assert!(matches!(
        temporary.compact_online(|_| std::ops::ControlFlow::Continue(())),
        Err(StoreError::Closed { .. })
    ));
}

/// While a compaction runs (held between two slices here), a second one is refused as busy;
/// when the first is told to stop, the store stays as it was: no `CURRENT`, no generation
/// left, every key where it was, and a later compaction succeeds.
#[test]
fn a_second_compaction_is_refused_and_a_stopped_one_leaves_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    for group in 0..20u64 {
        store_events(&store, group * 100 + 1..=group * 100 + 100);
    }
    store.flush().unwrap();
    let before = everything(&store);
    let (paused, pause) = std::sync::mpsc::channel::<()>();
    let (resume, resumed) = std::sync::mpsc::channel::<bool>();
    let outcome = std::thread::scope(|scope| {
        let (store, paused) = (&store, paused);
        let first = scope.spawn(move || {
            store.compact_online(|_| {
                paused.send(()).unwrap();
                if resumed.recv().unwrap() {
                    std::ops::ControlFlow::Continue(())
                } else {
                    std::ops::ControlFlow::Break("told to stop".to_owned())
                }
            })
        });
        pause.recv().unwrap();
        assert!(dir.path().join("generation-1").is_dir(), "the copy is under way");
        assert!(matches!(store.compact_online(|_| std::ops::ControlFlow::Continue(())), Err(StoreError::Busy { .. })));
        // Writes still land while the copy waits.
        live_writes(store, 0);
        resume.send(false).unwrap();
        first.join().unwrap()
    });
    match outcome {
        Err(StoreError::Closed { reason }) => assert_eq!(reason, "the compaction was stopped: told to stop"),
        other => panic!("expected the stop's reason, got {other:?}"),
    }
    assert_eq!(store.compacted_size().unwrap(), None);
    assert!(!dir.path().join("CURRENT").exists());
    assert!(!dir.path().join("generation-1").exists());
    let after = everything(&store);
    // Every key is still there (some with new values: the last sequence), and the writes
    // made during the copy too.
    let keys: std::collections::BTreeSet<&Vec<u8>> = after.iter().map(|(key, _)| key).collect();
    assert!(before.iter().all(|(key, _)| keys.contains(key)));
    assert!(after.len() > before.len());
    assert_eq!(store.event(10_000).unwrap().unwrap(), mesh_event(10_000));
    assert_eq!(store.compact_online(|_| std::ops::ControlFlow::Continue(())).unwrap().generation, "generation-1");
    assert_eq!(everything(&store), after);
}

/// The owner index records each owner's role: one scan lists every owned node with its owners
/// and roles (a role changed by filing the owner again, an owner removed), and a node with an
/// entry written before roles were kept (an empty value) is listed as unknown, to be read from
/// its facet; a value neither empty nor a role is a `Corrupt` error naming the key.
#[test]
fn the_owner_index_lists_each_nodes_owners_with_their_roles() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let (orders, load) = (NodeRef::from(&DatasetId::new("db", "orders")), NodeRef::from(&JobId::new("etl", "load")));
    let mut write = store.write();
    write.put_owner("team:a", Some("MAINTAINER"), &orders);
    write.put_owner("alice\0admin", None, &orders);
    write.put_owner("team:b", Some("OWNER"), &load);
    write.put_owner("team:c", None, &load);
    store.commit(write).unwrap();
    let mut write = store.write();
    write.put_owner("team:a", Some("OWNER"), &orders);
    write.delete_owner("team:c", &load);
    store.commit(write).unwrap();
    let listed = store.owners_by_node().unwrap();
    let owners = |pairs: &[(&str, Option<&str>)]| {
        Some(pairs.iter().map(|(name, role)| ((*name).to_owned(), role.map(str::to_owned))).collect())
    };
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[&orders], owners(&[("alice\0admin", None), ("team:a", Some("OWNER"))]));
    assert_eq!(listed[&load], owners(&[("team:b", Some("OWNER"))]));
    assert_eq!(store.nodes_owned_by("team:a").unwrap(), vec![orders.clone()]);

    // `verify` reads an entry of an earlier build (no role recorded) as the same as its
    // rebuild's, and two different roles as different.
    let key = crate::keys::label_key(crate::keys::PREFIX_OWNER, "team:a", &orders);
    let (owner, maintainer) = (crate::keys::owner_value(Some("OWNER")), crate::keys::owner_value(Some("MAINTAINER")));
    assert!(store.same_stored(&store, &key, &[], &owner));
    assert!(store.same_stored(&store, &key, &owner, &owner));
    assert!(!store.same_stored(&store, &key, &maintainer, &owner));
    assert!(!store.same_stored(&store, &key, &crate::keys::owner_value(None), &owner));

    // An entry of an earlier build (no role recorded) makes its node's owners unknown.
    let db = store.db().unwrap();
    db.insert(crate::keys::label_key(crate::keys::PREFIX_OWNER, "team:old", &load), &[][..]).unwrap();
    let listed = store.owners_by_node().unwrap();
    assert_eq!(listed[&load], None);
    assert_eq!(listed[&orders], owners(&[("alice\0admin", None), ("team:a", Some("OWNER"))]));
    db.insert(crate::keys::label_key(crate::keys::PREFIX_OWNER, "team:bad", &load), &[7u8][..]).unwrap();
    match store.owners_by_node() {
        Err(crate::StoreError::Corrupt { key, reason }) => {
            assert!(key.contains("team:bad") && reason.contains("owner index value"), "{key}: {reason}")
        }
        other => panic!("a bad value is corrupt, not {other:?}"),
    }
}
