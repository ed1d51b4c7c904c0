//! gRPC requests whose bytes are not the message they claim to be: garbage, or a valid
//! encoding whose string field is not UTF-8. They reach the real server through tonic's
//! `Grpc` client with a codec that sends the bytes as they are (the generated clients can
//! only send valid messages). Each is the caller's fault: `INVALID_ARGUMENT`, naming the
//! message type and the problem, nothing stored, and the server keeps answering.

use prost::Message;
use prost::bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tributary_grpc::proto::{self, ingest_ack};

use crate::support::{TestServer, run_event, run_id, start_server};

/// Sends and receives message bodies as raw bytes: gRPC framing, no protobuf.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

async fn raw_client(server: &TestServer) -> tonic::client::Grpc<Channel> {
    let channel = tonic::transport::Endpoint::from_shared(server.base_url.clone()).unwrap().connect().await.unwrap();
    tonic::client::Grpc::new(channel)
}

/// One unary call with `body` as the request message; the answer's bytes or the status.
async fn raw_unary(server: &TestServer, path: &'static str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc = raw_client(server).await;
    grpc.ready().await.unwrap();
    grpc.unary(Request::new(body), PathAndQuery::from_static(path), RawCodec).await.map(|answer| answer.into_inner())
}

/// Field 1000 (in no message, so skipped as unknown), length-delimited, 100 bytes announced
/// and 3 present.
const TRUNCATED_FIELD: [u8; 6] = [0xc2, 0x3e, 100, b'a', b'b', b'c'];

/// Bytes that are no protobuf message, each failing a different way, with prost's reason.
fn garbage() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    vec![
        // Eleven continuation bytes: a key varint longer than any u64.
        ("overlong varint", vec![0xff; 11], "invalid varint"),
        // Field 1 with wire type 7, which does not exist.
        ("wire type 7", vec![0x0f, 0x00], "invalid wire type value: 7"),
        ("truncated field", TRUNCATED_FIELD.to_vec(), "buffer underflow"),
        // Field number 0.
        ("tag zero", vec![0x00, 0x01], "invalid tag value: 0"),
    ]
}

/// `message` encoded, with the first byte of the first `marker` in it replaced by 0xff (never
/// valid UTF-8). Lengths do not change, so the framing stays valid and only the string is bad.
fn with_invalid_utf8(message: &impl Message, marker: &str) -> Vec<u8> {
    let mut bytes = message.encode_to_vec();
    let at = bytes.windows(marker.len()).position(|window| window == marker.as_bytes()).expect("marker is encoded");
    bytes[at] = 0xff;
    bytes
}

fn assert_invalid_argument(status: &Status, message_type: &str, problem: &str, case: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{case}: {status:?}");
    let expected = format!("request is not a valid `{message_type}` message: ");
    assert!(status.message().starts_with(&expected), "{case}: {}", status.message());
    assert!(status.message().contains(problem), "{case}: {}", status.message());
}

fn event_request(n: u32) -> proto::IngestEventRequest {
    let event = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(n), &format!("job{n}"), &["raw"], &["out"]);
    proto::IngestEventRequest { event_json: event.to_string() }
}

fn accepted_sequence(ack: &proto::IngestAck) -> u64 {
    match ack.result.as_ref() {
        Some(ingest_ack::Result::Accepted(accepted)) => accepted.sequence,
        other => panic!("event {} not accepted: {other:?}", ack.index),
    }
}

#[tokio::test]
async fn garbage_requests_are_invalid_argument_and_store_nothing() {
    let server = start_server().await;
    let mut ingest = server.ingest_client().await;
    accepted_sequence(&ingest.ingest_event(event_request(1)).await.unwrap().into_inner());
    assert_eq!(server.watermark().await, (1, 1));

    let methods = [
        ("/tributary.v1.Ingest/IngestEvent", "tributary.v1.IngestEventRequest"),
        ("/tributary.v1.Lineage/GetLineage", "tributary.v1.LineageRequest"),
        ("/tributary.v1.Lineage/GetDataset", "tributary.v1.GetDatasetRequest"),
        ("/tributary.v1.Lineage/ListEvents", "tributary.v1.ListEventsRequest"),
        ("/tributary.v1.Changes/CheckChange", "tributary.v1.CheckChangeRequest"),
        ("/tributary.v1.Mesh/Search", "tributary.v1.SearchRequest"),
    ];
    for (path, message_type) in methods {
        for (case, body, problem) in garbage() {
            let status = raw_unary(&server, path, body).await.unwrap_err();
            assert_invalid_argument(&status, message_type, problem, &format!("{path}, {case}"));
        }
    }
    assert_eq!(server.watermark().await, (1, 1), "a garbage request stored something");

    // The server still answers, over the raw client (the same bytes, valid this time) and the
    // generated one.
    let answer = raw_unary(&server, "/tributary.v1.Ingest/IngestEvent", event_request(2).encode_to_vec()).await;
    let ack = proto::IngestAck::decode(answer.unwrap().as_slice()).unwrap();
    assert_eq!(accepted_sequence(&ack), 2);
    accepted_sequence(&ingest.ingest_event(event_request(3)).await.unwrap().into_inner());
    assert_eq!(server.watermark().await, (3, 3));
    let dataset = server
        .lineage_client()
        .await
        .get_dataset(proto::GetDatasetRequest { namespace: "db".into(), name: "out".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dataset.producers.len(), 3);
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_utf8_in_a_string_field_is_invalid_argument_naming_the_field() {
    let server = start_server().await;

    // The event's job namespace (inside `event_json`) holds a byte that is not UTF-8.
    let event = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(1), "load", &["raw"], &["clean"]);
    let event_json = event.to_string().replace("\"etl\"", "\"etl-BADBYTE\"");
    let body = with_invalid_utf8(&proto::IngestEventRequest { event_json }, "BADBYTE");
    let status = raw_unary(&server, "/tributary.v1.Ingest/IngestEvent", body).await.unwrap_err();
    assert_invalid_argument(
        &status,
        "tributary.v1.IngestEventRequest",
        "IngestEventRequest.event_json: invalid string value: data is not UTF-8 encoded",
        "ingest",
    );
    assert_eq!(server.watermark().await, (0, 0), "an event with invalid UTF-8 was stored");

    // A nested string: `LineageRequest.start.namespace`.
    let request = proto::LineageRequest {
        start: Some(proto::NodeRef {
            kind: proto::NodeKind::Dataset as i32,
            namespace: "BADBYTE".into(),
            name: "raw".into(),
        }),
        direction: proto::Direction::Downstream as i32,
        depth: 5,
        ..Default::default()
    };
    let body = with_invalid_utf8(&request, "BADBYTE");
    let status = raw_unary(&server, "/tributary.v1.Lineage/GetLineage", body).await.unwrap_err();
    assert_invalid_argument(&status, "tributary.v1.LineageRequest", "NodeRef.namespace", "lineage");
    assert!(status.message().contains("LineageRequest.start"), "{}", status.message());
    assert!(status.message().contains("not UTF-8"), "{}", status.message());

    let body =
        with_invalid_utf8(&proto::GetDatasetRequest { namespace: "db".into(), name: "BADBYTE".into() }, "BADBYTE");
    let status = raw_unary(&server, "/tributary.v1.Lineage/GetDataset", body).await.unwrap_err();
    assert_invalid_argument(&status, "tributary.v1.GetDatasetRequest", "GetDatasetRequest.name", "dataset");

    // The same event, valid, goes in.
    let mut ingest = server.ingest_client().await;
    let ack = ingest.ingest_event(proto::IngestEventRequest { event_json: event.to_string() }).await.unwrap();
    assert_eq!(accepted_sequence(&ack.into_inner()), 1);
    assert_eq!(server.watermark().await, (1, 1));
    server.shutdown().await;
}

#[tokio::test]
async fn a_garbage_message_ends_an_ingest_stream_after_the_acks_of_the_events_before_it() {
    let server = start_server().await;
    let mut grpc = raw_client(&server).await;
    grpc.ready().await.unwrap();
    // Three events, garbage, then a fourth event that must not be read.
    let mut messages: Vec<Vec<u8>> = (1..=3).map(|n| event_request(n).encode_to_vec()).collect();
    messages.push(TRUNCATED_FIELD.to_vec());
    messages.push(event_request(4).encode_to_vec());
    let mut acks = grpc
        .streaming(
            Request::new(tokio_stream::iter(messages)),
            PathAndQuery::from_static("/tributary.v1.Ingest/IngestStream"),
            RawCodec,
        )
        .await
        .unwrap()
        .into_inner();
    // Everything sent before the garbage was enqueued before it was read, so it is
    // acknowledged, in order, before the stream fails.
    for index in 0..3u64 {
        let ack = acks.message().await.unwrap_or_else(|status| panic!("ack {index}: {status:?}"));
        let ack = proto::IngestAck::decode(ack.expect("an ack per event").as_slice()).unwrap();
        assert_eq!(ack.index, index);
        assert_eq!(accepted_sequence(&ack), index + 1);
    }
    let status = acks.message().await.unwrap_err();
    assert_invalid_argument(&status, "tributary.v1.IngestEventRequest", "buffer underflow", "stream");
    assert_eq!(server.watermark().await, (3, 3), "only the events before the garbage are stored");

    // The same through IngestBatch: the call fails, the event before the garbage is stored.
    let messages = vec![event_request(5).encode_to_vec(), vec![0xff; 11], event_request(6).encode_to_vec()];
    grpc.ready().await.unwrap();
    let status = grpc
        .client_streaming(
            Request::new(tokio_stream::iter(messages)),
            PathAndQuery::from_static("/tributary.v1.Ingest/IngestBatch"),
            RawCodec,
        )
        .await
        .unwrap_err();
    assert_invalid_argument(&status, "tributary.v1.IngestEventRequest", "invalid varint", "batch");
    assert_eq!(server.watermark().await, (4, 4));

    // A new stream on the same connection works.
    let mut ingest = server.ingest_client().await;
    let mut acks = ingest.ingest_stream(tokio_stream::iter([event_request(6)])).await.unwrap().into_inner();
    assert_eq!(accepted_sequence(&acks.message().await.unwrap().unwrap()), 5);
    assert!(acks.message().await.unwrap().is_none());
    assert_eq!(server.watermark().await, (5, 5));
    server.shutdown().await;
}
