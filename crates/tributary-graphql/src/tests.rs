use std::path::Path;

#[test]
fn schema_graphql_matches_the_code() {
    // `UPDATE_EXPECT=1 cargo test -p tributary-graphql` rewrites it; review the diff.
    tributary_golden::check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema.graphql"), &crate::sdl());
}

/// The plain writer's strings and enums are byte for byte what serde_json writes for them.
#[test]
fn plain_strings_and_enums_are_written_as_serde_json_writes_them() {
    use crate::scalars::NodeKind;
    use crate::types::plain::{write_enum, write_str};
    let texts = [
        "",
        "orders",
        "snowflake://acme-prod.eu-west-1",
        "quote \" inside",
        "back\\slash",
        "tab\tnew\nline\r",
        "\u{0}\u{1f}\u{7f}",
        "é ☃ 𝄞",
        "</script>",
    ];
    for text in texts {
        let mut ours = Vec::new();
        write_str(&mut ours, text);
        assert_eq!(ours, serde_json::to_vec(text).unwrap(), "{text:?}");
    }
    for kind in [NodeKind::Dataset, NodeKind::Job] {
        let mut ours = Vec::new();
        write_enum(&mut ours, kind);
        let generic = serde_json::to_vec(&async_graphql::resolver_utils::enum_value(kind)).unwrap();
        assert_eq!(ours, generic);
    }
}

/// The word-at-a-time escape check says what a byte-at-a-time one says, for every byte at
/// every position of a word and of the tail after the last whole word.
#[test]
fn the_escape_check_finds_every_byte_json_escapes() {
    use crate::types::plain::needs_escape;
    let escaped = |byte: u8| byte < 0x20 || byte == b'"' || byte == b'\\';
    for len in [1, 7, 8, 9, 16, 21] {
        for at in 0..len {
            for byte in 0..=255u8 {
                for filler in [b'a', 0x1f + 1, 0x7f, 0x80, 0xff, b'"' + 1, b'\\' - 1] {
                    let mut text = vec![filler; len];
                    text[at] = byte;
                    let expected = text.iter().copied().any(escaped);
                    assert_eq!(needs_escape(&text), expected, "{text:?}");
                }
            }
        }
    }
    assert!(!needs_escape("é ☃ 𝄞 snowflake://acme-prod.eu-west-1".as_bytes()));
}

/// A written list longer than a piece is written in several, each about a piece long, and
/// together they are the list's JSON.
#[test]
fn a_long_written_list_is_written_in_pieces() {
    use crate::types::plain::{JsonArray, WrittenList};
    let (mut names, mut numbers) = (JsonArray::default(), JsonArray::default());
    let texts: Vec<String> = (0..40_000).map(|n| format!("name \"{n}\" ☃")).collect();
    for (n, text) in texts.iter().enumerate() {
        names.push_str(text);
        numbers.push_u32(n as u32 * 100_003);
    }
    let (names, numbers): (WrittenList<std::sync::Arc<str>>, WrittenList<u32>) = (names.finish(), numbers.finish());
    assert!(names.pieces().len() > 2, "{}", names.pieces().len());
    assert!(names.pieces().iter().all(|piece| piece.len() < 300 * 1024));
    let read: Vec<String> = serde_json::from_slice(&names.pieces().concat()).unwrap();
    assert_eq!(read, texts);
    let read: Vec<u32> = serde_json::from_slice(&numbers.pieces().concat()).unwrap();
    assert_eq!(read, (0..40_000).map(|n| n * 100_003).collect::<Vec<u32>>());
    let empty: WrittenList<u32> = JsonArray::default().finish();
    assert_eq!(empty.pieces().concat(), b"[]");
}

/// Without the HTTP handler's splicer (a schema executed in process), the table's lists are
/// read back as values: the same answer, and the same bytes as the spliced response.
#[tokio::test]
async fn lineage_table_lists_are_values_in_process() {
    let service = tributary_service::Service::open(tributary_service::ServiceConfig::default()).unwrap();
    let event = serde_json::json!({
        "eventType": "COMPLETE", "eventTime": "2024-01-01T00:00:00Z", "producer": "https://example.com/t",
        "run": {"runId": "00000000-0000-4000-8000-000000000001"}, "job": {"namespace": "etl", "name": "j"},
        "inputs": [{"namespace": "db", "name": "src"}], "outputs": [{"namespace": "wh", "name": "out\"q"}],
    });
    service.ingest(&serde_json::to_vec(&event).unwrap()).await.unwrap();
    let query = r#"{ lineageTable(start: {kind: DATASET, namespace: "db", name: "src"}) {
        namespaces nodeNamespaces nodeNames nodeKinds nodeDistances edgeFrom edgeTo edgeKinds } }"#;
    let response = crate::schema().execute(async_graphql::Request::new(query).data(service.clone())).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    // Over HTTP the lists are sent as written, where their placeholders stood: the same bytes.
    let (written, deferred) = spliced(&service, query, serde_json::json!({})).await;
    assert_eq!(deferred, 0, "the lists were written before the response");
    assert_eq!(String::from_utf8(written).unwrap(), serde_json::to_string(&response).unwrap());
    let answer = response.data.into_json().unwrap();
    assert_eq!(
        answer["lineageTable"],
        serde_json::json!({
            "namespaces": ["db", "etl", "wh"], "nodeNamespaces": [0, 1, 2], "nodeNames": ["src", "j", "out\"q"],
            "nodeKinds": ["DATASET", "JOB", "DATASET"], "nodeDistances": [0, 1, 1],
            "edgeFrom": [0, 1], "edgeTo": [1, 2], "edgeKinds": ["READS", "WRITES"],
        })
    );
    service.close();
}

/// A response as the HTTP handler writes it: serialised with the request's splicer, each
/// deferred piece written where its placeholder stood; and how many were deferred.
async fn spliced(service: &tributary_service::Service, query: &str, variables: serde_json::Value) -> (Vec<u8>, usize) {
    use crate::types::plain::{Piece, Splicer};
    let splicer = std::sync::Arc::new(Splicer::default());
    let request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables))
        .data(service.clone())
        .data(std::sync::Arc::clone(&splicer));
    let response = crate::schema().execute(request).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let (mut body, mut deferred) = (Vec::new(), 0);
    for piece in splicer.splice(serde_json::to_vec(&response).unwrap()) {
        match piece {
            Piece::Bytes(bytes) => body.extend_from_slice(&bytes),
            Piece::List(mut writer) => {
                deferred += 1;
                while let Some(written) = writer.next_piece() {
                    body.extend(written.unwrap());
                }
            }
        }
    }
    (body, deferred)
}

/// `lineage`'s nodes written while the answer is read out (over HTTP, a plain selection of
/// nodes without edges) are byte for byte the generic resolution's; other selections take the
/// collected path, the same answer again.
#[tokio::test]
async fn lineage_objects_written_during_the_read_out_are_the_generic_answer() {
    let service = tributary_service::Service::open(tributary_service::ServiceConfig::default()).unwrap();
    let event = |n: u32, job: &str, inputs: serde_json::Value, outputs: serde_json::Value| {
        serde_json::json!({
            "eventType": "COMPLETE", "eventTime": "2024-01-01T00:00:00Z", "producer": "https://example.com/t",
            "run": {"runId": format!("00000000-0000-4000-8000-00000000000{n}")}, "job": {"namespace": "etl\\q", "name": job},
            "inputs": inputs, "outputs": outputs,
        })
    };
    let events = [
        event(
            1,
            "j\"1",
            serde_json::json!([{"namespace": "db", "name": "src"}]),
            serde_json::json!([{"namespace": "wh", "name": "out\"q"}, {"namespace": "db", "name": "tab\there ☃"}]),
        ),
        event(
            2,
            "j2",
            serde_json::json!([{"namespace": "wh", "name": "out\"q"}]),
            serde_json::json!([{"namespace": "lake", "name": "deep"}]),
        ),
    ];
    for event in &events {
        service.ingest(&serde_json::to_vec(event).unwrap()).await.unwrap();
    }
    let start = r#"start: {kind: DATASET, namespace: "db", name: "src"}"#;
    let queries = [
        (format!("{{ lineage({start}) {{ nodes {{ kind namespace name distance }} truncated depth }} }}"), 0),
        (
            format!(
                "{{ l: lineage({start}, datasetsOnly: true) {{ depth n: nodes {{ __typename d: distance name }} }} }}"
            ),
            0,
        ),
        (format!("{{ lineage({start}, limit: 2) {{ truncated nodes {{ name name2: name kind }} }} }}"), 0),
        (format!("{{ lineage({start}) {{ nodes {{ name }} edges {{ kind from {{ name }} to {{ name }} }} }} }}"), 0),
        (
            format!(
                "{{ lineage({start}, direction: BOTH) {{ e: edges {{ __typename to {{ kind t: __typename namespace }} \
                 k: kind from {{ name namespace n: name }} }} depth }} }}"
            ),
            0,
        ),
        (format!("{{ lineage({start}, datasetsOnly: true) {{ edges {{ kind }} nodes {{ name }} }} }}"), 0),
        // Fragments: collected, and written as they are sent (the edges, whose selection is not
        // plain, resolved as values).
        (format!("{{ lineage({start}) {{ ... on Lineage {{ nodes {{ name distance }} }} }} }}"), 1),
        (format!("{{ lineage({start}) {{ nodes {{ name }} edges {{ from {{ ... on NodeRef {{ name }} }} }} }} }}"), 1),
    ];
    for (query, deferred) in queries {
        let (written, spliced_lists) = spliced(&service, &query, serde_json::json!({})).await;
        assert_eq!(spliced_lists, deferred, "{query}");
        let generic = crate::schema().execute(async_graphql::Request::new(&query).data(service.clone())).await;
        assert!(generic.errors.is_empty(), "{:?}", generic.errors);
        let generic = serde_json::to_string(&generic).unwrap();
        assert_eq!(String::from_utf8(written).unwrap(), generic, "{query}");
        assert!(generic.contains(r#"\""#), "an escaped name in every answer: {generic}");
    }
    service.close();
}

/// A change report's `json` written over HTTP (made and written on a read thread) is byte for
/// byte the value the schema builds in process.
#[tokio::test]
async fn a_change_reports_json_is_written_as_its_value_serialises() {
    let service = tributary_service::Service::open(tributary_service::ServiceConfig::default()).unwrap();
    let facet = |url: &str, body: serde_json::Value| {
        let mut facet = serde_json::json!({"_producer": "p", "_schemaURL": url});
        facet.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        facet
    };
    let schema = facet(
        "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json",
        serde_json::json!({"fields": [{"name": "id", "type": "bigint"}, {"name": "note", "type": "text"}]}),
    );
    let lineage = facet(
        "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
        serde_json::json!({"fields": {"id\"ℹ": {"inputFields": [{"namespace": "db", "name": "src", "field": "id",
            "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}]}]}}}),
    );
    for (n, (inputs, output, facets)) in [
        (serde_json::json!([]), "src", serde_json::json!({"schema": schema})),
        (
            serde_json::json!([{"namespace": "db", "name": "src"}]),
            "copy\n\"ü\"",
            serde_json::json!({"columnLineage": lineage}),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let event = serde_json::json!({
            "eventType": "COMPLETE", "eventTime": "2024-01-01T00:00:00Z", "producer": "https://example.com/t",
            "run": {"runId": format!("00000000-0000-4000-8000-00000000000{n}")},
            "job": {"namespace": "etl", "name": format!("j{n}")},
            "inputs": inputs, "outputs": [{"namespace": "db", "name": output, "facets": facets}],
        });
        service.ingest(&serde_json::to_vec(&event).unwrap()).await.unwrap();
    }
    let query = r#"query($schema: String!) { checkChange(dataset: {namespace: "db", name: "src"}, schema: $schema) {
        verdict json markdown } }"#;
    let variables = serde_json::json!({"schema": r#"{"fields": [{"name": "note", "type": "text"}]}"#});
    let (written, deferred) = spliced(&service, query, variables.clone()).await;
    assert_eq!(deferred, 1, "the report's JSON is written while the response is sent");
    let request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables))
        .data(service.clone());
    let generic = serde_json::to_vec(&crate::schema().execute(request).await).unwrap();
    assert_eq!(String::from_utf8(written).unwrap(), String::from_utf8(generic.clone()).unwrap());
    let answer: serde_json::Value = serde_json::from_slice(&generic).unwrap();
    let report = &answer["data"]["checkChange"]["json"];
    assert_eq!(report["changes"][0]["impactCount"], 1, "{answer}");
    assert_eq!(report["affectedDatasets"][0]["name"], "copy\n\"ü\"");
    service.close();
}
