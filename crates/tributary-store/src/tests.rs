use tributary_model::{
    DatasetId, DatasetRecord, JobId, JobRecord, Observation, ObservationKey, ObservationSource, RECORD_FORMAT, RunId,
    Timestamp,
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
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    assert_eq!(store.dataset(&a).unwrap().unwrap().first_seen, Timestamp(1));
    let ids: Vec<DatasetId> = store.scan_dataset_ids().map(Result::unwrap).collect();
    assert_eq!(ids, vec![a.clone(), b]);
    assert_eq!(store.alias(&DatasetId::new("s3", "bucket/orders")).unwrap(), Some(a));
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

#[test]
fn best_observation_skips_the_one_being_replaced() {
    let store = Store::open_temporary(&StoreConfig::default()).unwrap();
    let job = JobId::new("etl", "load");
    let key =
        |settled, time, n| ObservationKey { settled, time: Timestamp(time), source: ObservationSource::Run(run(n)) };
    let observation = |key: ObservationKey, input: &str| Observation {
        format: RECORD_FORMAT,
        key,
        inputs: vec![DatasetId::new("db", input)],
        outputs: vec![],
    };
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
        let expected_codec = if compress { crate::keys::CODEC_LZ4 } else { crate::keys::CODEC_RAW };
        assert_eq!(stored[0], expected_codec);
        assert_eq!(store.dataset(&id).unwrap().unwrap().first_seen, Timestamp(7));
        // A record as builds before compressed records wrote it: bare JSON.
        let bare = serde_json::to_vec(&DatasetRecord::new(id.clone(), Timestamp(9))).unwrap();
        store.db().unwrap().insert(&key, bare).unwrap();
        assert_eq!(store.dataset(&id).unwrap().unwrap().first_seen, Timestamp(9));
        // Damage is reported with the key, not a panic.
        store.db().unwrap().insert(&key, &[crate::keys::CODEC_LZ4, 1, 2, 3][..]).unwrap();
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
    assert_eq!(store.scan_dataset_ids().count(), 0);

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
