//! gRPC with the client generated from `proto/`: ingest (one, stream, batch), queries,
//! health.

use tributary_grpc::proto::{self, ingest_ack};

use crate::support::{downstream_of_raw, example_events, run_event, run_id, start_server};

fn request(event: &serde_json::Value) -> proto::IngestEventRequest {
    proto::IngestEventRequest { event_json: event.to_string() }
}

#[tokio::test]
async fn stream_acknowledges_every_event_in_order_with_its_index() {
    let server = start_server().await;
    let mut client = server.ingest_client().await;
    let mut events: Vec<String> = Vec::new();
    for n in 0..50u32 {
        let event = run_event(
            "COMPLETE",
            "2024-01-01T00:00:00Z",
            &run_id(n),
            &format!("job{n}"),
            &["raw"],
            &[&format!("out{n}")],
        );
        events.push(event.to_string());
        if n % 10 == 3 {
            events.push(r#"{"eventTime": "2024-01-01T00:00:00Z", "producer": "p", "run": {"runId": "nope"}, "job": {"namespace": "a", "name": "b"}}"#.into());
        }
    }
    // The first event again, at the end: a duplicate.
    events.push(events[0].clone());
    let outbound =
        tokio_stream::iter(events.clone().into_iter().map(|event_json| proto::IngestEventRequest { event_json }));
    let mut acks = client.ingest_stream(outbound).await.unwrap().into_inner();
    let mut received = Vec::new();
    while let Some(ack) = acks.message().await.unwrap() {
        received.push(ack);
    }
    assert_eq!(received.len(), events.len());
    let mut accepted = 0;
    for (index, ack) in received.iter().enumerate() {
        assert_eq!(ack.index, index as u64);
        match ack.result.as_ref().unwrap() {
            ingest_ack::Result::Accepted(ok) => {
                accepted += 1;
                assert_eq!(ok.duplicate, index == events.len() - 1);
            }
            ingest_ack::Result::Error(error) => {
                assert!(events[index].contains("nope"), "unexpected rejection at {index}: {error:?}");
                assert_eq!(error.code, "INVALID_ARGUMENT");
                assert_eq!(error.field, "run.runId");
            }
        }
    }
    assert_eq!(accepted, 51);
    assert_eq!(server.watermark().await, (50, 50));
    server.shutdown().await;
}

#[tokio::test]
async fn unary_and_batch_ingest_then_query() {
    let server = start_server().await;
    let mut ingest = server.ingest_client().await;
    let first = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(1), "load", &["raw"], &["clean"]);
    let ack = ingest.ingest_event(request(&first)).await.unwrap().into_inner();
    assert!(matches!(
        ack.result,
        Some(ingest_ack::Result::Accepted(proto::Accepted { sequence: 1, duplicate: false, forwarded: None }))
    ));
    let bad =
        ingest.ingest_event(proto::IngestEventRequest { event_json: "{\"eventTime\": 5}".into() }).await.unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("eventTime"), "{}", bad.message());
    assert_eq!(bad.metadata().get("tributary-field").unwrap(), "eventTime");

    let mut batch: Vec<proto::IngestEventRequest> = example_events("valid").iter().map(|(_, e)| request(e)).collect();
    batch.extend(example_events("invalid").iter().map(|(_, e)| request(e)));
    let total = batch.len() as u64;
    let summary = ingest.ingest_batch(tokio_stream::iter(batch)).await.unwrap().into_inner();
    assert_eq!(summary.received, total);
    assert_eq!(summary.accepted, 8);
    assert_eq!(summary.rejected.len(), 6);
    assert!(summary.rejected.iter().all(|r| r.index >= 8));
    assert_eq!(summary.watermark.unwrap().sequence, 9);

    let mut lineage = server.lineage_client().await;
    let answer = lineage.get_lineage(downstream_of_raw(false, false)).await.unwrap().into_inner();
    let names: Vec<String> = answer.nodes.iter().map(|n| n.node.as_ref().unwrap().name.clone()).collect();
    assert_eq!(names, ["raw", "load", "clean"]);
    assert_eq!(answer.edges.len(), 2);
    assert!(!answer.truncated);
    let nodes_only = lineage.get_lineage(downstream_of_raw(true, false)).await.unwrap().into_inner();
    assert_eq!(nodes_only.nodes, answer.nodes);
    assert!(nodes_only.edges.is_empty());
    // The impact shape: datasets only (the job is a hop, not an answer), no edges.
    let datasets = lineage.get_lineage(downstream_of_raw(false, true)).await.unwrap().into_inner();
    let names: Vec<(String, u32)> =
        datasets.nodes.iter().map(|n| (n.node.as_ref().unwrap().name.clone(), n.distance)).collect();
    assert_eq!(names, [("raw".to_owned(), 0), ("clean".to_owned(), 1)]);
    assert!(datasets.edges.is_empty());

    let dataset = lineage
        .get_dataset(proto::GetDatasetRequest { namespace: "db".into(), name: "clean".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dataset.producers[0].name, "load");
    let run = lineage.get_run(proto::GetRunRequest { run_id: run_id(1) }).await.unwrap().into_inner();
    assert_eq!(run.state, "COMPLETE");
    let missing = lineage.get_run(proto::GetRunRequest { run_id: run_id(99) }).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let bad_start = lineage.get_lineage(proto::LineageRequest::default()).await.unwrap_err();
    assert_eq!(bad_start.code(), tonic::Code::InvalidArgument);

    let events =
        lineage.list_events(proto::ListEventsRequest { after_sequence: 0, page_size: 5 }).await.unwrap().into_inner();
    assert_eq!(events.events.len(), 5);
    assert_eq!(events.next_after_sequence, 5);
    let sent: serde_json::Value = first;
    let stored: serde_json::Value = serde_json::from_str(&events.events[0].event_json).unwrap();
    assert_eq!(stored, sent);
    server.shutdown().await;
}

#[tokio::test]
async fn health_reports_serving() {
    let server = start_server().await;
    let channel = tonic::transport::Endpoint::from_shared(server.base_url.clone()).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let answer = health
        .check(tonic_health::pb::HealthCheckRequest { service: "tributary.v1.Ingest".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    server.shutdown().await;
}

/// `StreamLineage` answers what `GetLineage` answers, in chunks of at most 16,384 nodes or
/// edges (nodes first), with `truncated` and the watermark on the last chunk only; errors
/// come as a status before any chunk.
#[tokio::test]
async fn stream_lineage_chunks_the_same_answer() {
    let server = start_server().await;
    // 2 x 9,000 outputs of `raw` and one more hop: 18,000+ datasets, 18,001 edges and more.
    for (n, job) in ["fan_a", "fan_b"].into_iter().enumerate() {
        let outputs: Vec<String> = (0..9_000).map(|i| format!("{job}_out_{i:05}")).collect();
        let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
        let event = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(n as u32), job, &["raw"], &outputs);
        assert_eq!(server.post_event(&event).await.0, 201);
    }
    let event = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(7), "next", &["fan_a_out_00001"], &["end"]);
    assert_eq!(server.post_event(&event).await.0, 201);
    let mut lineage = server.lineage_client().await;
    let ask = |omit_edges, datasets_only, limit| proto::LineageRequest {
        depth: 10,
        limit,
        ..downstream_of_raw(omit_edges, datasets_only)
    };
    for (omit_edges, datasets_only, limit) in
        [(false, false, 100_000), (true, false, 100_000), (false, true, 100_000), (false, false, 100)]
    {
        let whole = lineage.get_lineage(ask(omit_edges, datasets_only, limit)).await.unwrap().into_inner();
        let mut chunks = lineage.stream_lineage(ask(omit_edges, datasets_only, limit)).await.unwrap().into_inner();
        let mut streamed = proto::LineageResponse::default();
        let mut count = 0;
        while let Some(chunk) = chunks.message().await.unwrap() {
            count += 1;
            assert!(chunk.nodes.len() + chunk.edges.len() <= 16_384);
            assert!(streamed.edges.is_empty() || chunk.nodes.is_empty(), "nodes come before edges");
            assert!(!streamed.truncated && streamed.watermark.is_none(), "a chunk after the last");
            assert_eq!(chunk.last, chunk.watermark.is_some());
            streamed.nodes.extend(chunk.nodes);
            streamed.edges.extend(chunk.edges);
            streamed.truncated = chunk.truncated;
            streamed.watermark = chunk.watermark;
        }
        assert_eq!(streamed, whole, "omit_edges {omit_edges}, datasets_only {datasets_only}, limit {limit}");
        let expected_chunks = (whole.nodes.len() + whole.edges.len()).div_ceil(16_384).max(1);
        assert_eq!(count, expected_chunks);
        if limit == 100_000 && !datasets_only {
            assert!(count >= 2, "{} nodes, {} edges", whole.nodes.len(), whole.edges.len());
        }

        // The same answer with its nodes in columns, whole and in chunks.
        let in_columns = proto::LineageRequest { node_table: true, ..ask(omit_edges, datasets_only, limit) };
        let table = lineage.get_lineage(in_columns.clone()).await.unwrap().into_inner();
        assert!(table.nodes.is_empty());
        let table_nodes = table.node_table.as_ref().and_then(proto::LineageNodeTable::to_nodes).expect("a table");
        assert_eq!(table_nodes, whole.nodes, "as a table: omit_edges {omit_edges}, datasets_only {datasets_only}");
        assert_eq!((table.edges, table.truncated), (whole.edges.clone(), whole.truncated));
        let mut chunks = lineage.stream_lineage(in_columns).await.unwrap().into_inner();
        let (mut nodes, mut edges, mut chunk_count) = (Vec::new(), Vec::new(), 0);
        while let Some(chunk) = chunks.message().await.unwrap() {
            chunk_count += 1;
            assert!(chunk.nodes.is_empty());
            let in_chunk =
                chunk.node_table.as_ref().map(|table| table.to_nodes().expect("a table")).unwrap_or_default();
            assert!(in_chunk.len() + chunk.edges.len() <= 16_384);
            nodes.extend(in_chunk);
            edges.extend(chunk.edges);
        }
        assert_eq!((nodes, edges, chunk_count), (whole.nodes.clone(), whole.edges.clone(), expected_chunks));
        // Each namespace once in a table: these answers name a handful.
        assert!(table.node_table.is_some_and(|table| table.namespaces.len() <= 2));

        // Edges in columns too, with nodes as messages or in a table, whole and in chunks.
        for node_table in [false, true] {
            let request =
                proto::LineageRequest { node_table, edge_table: true, ..ask(omit_edges, datasets_only, limit) };
            let what =
                format!("edge table: node table {node_table}, omit_edges {omit_edges}, datasets_only {datasets_only}");
            let answer = lineage.get_lineage(request.clone()).await.unwrap().into_inner();
            let mut nodes = answer.nodes.clone();
            nodes
                .extend(answer.node_table.as_ref().map(|table| table.to_nodes().expect("a table")).unwrap_or_default());
            assert!(answer.edges.is_empty(), "{what}: edge messages beside the table");
            let edges = answer.edge_table.as_ref().map(|table| table.to_edges(&nodes).expect("an edge table"));
            assert_eq!((&nodes, edges.unwrap_or_default()), (&whole.nodes, whole.edges.clone()), "{what}");
            let mut chunks = lineage.stream_lineage(request).await.unwrap().into_inner();
            let (mut nodes, mut tables) = (Vec::new(), Vec::new());
            while let Some(chunk) = chunks.message().await.unwrap() {
                assert!(chunk.edges.is_empty(), "{what}: edge messages in a chunk");
                nodes.extend(chunk.nodes);
                nodes.extend(chunk.node_table.map(|table| table.to_nodes().expect("a table")).unwrap_or_default());
                tables.extend(chunk.edge_table);
            }
            let edges: Vec<proto::LineageEdge> =
                tables.iter().flat_map(|table| table.to_edges(&nodes).expect("an edge table")).collect();
            assert_eq!((nodes, edges), (whole.nodes.clone(), whole.edges.clone()), "{what}, streamed");
        }
    }
    let missing = proto::LineageRequest {
        start: Some(proto::NodeRef {
            kind: proto::NodeKind::Dataset as i32,
            namespace: "db".into(),
            name: "nope".into(),
        }),
        ..Default::default()
    };
    assert_eq!(lineage.stream_lineage(missing).await.unwrap_err().code(), tonic::Code::NotFound);
    assert_eq!(
        lineage.stream_lineage(proto::LineageRequest::default()).await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );
    server.shutdown().await;
}
