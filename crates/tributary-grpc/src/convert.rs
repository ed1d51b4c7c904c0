//! Conversions between service types and protobuf messages, and error mapping.

use tributary_service::model::{Direction, NodeKind, NodeRef, SchemaField, Timestamp, Watermark};
use tributary_service::{ErrorCode, RunSummary, SchemaVersionView, ServiceError};

use crate::proto;

pub(crate) fn status(error: ServiceError) -> tonic::Status {
    let message = error.to_string();
    let mut status = match error.code() {
        ErrorCode::InvalidArgument => tonic::Status::invalid_argument(message),
        ErrorCode::NotFound => tonic::Status::not_found(message),
        ErrorCode::Unavailable => tonic::Status::unavailable(message),
        ErrorCode::DeadlineExceeded => tonic::Status::deadline_exceeded(message),
        ErrorCode::FailedPrecondition => tonic::Status::failed_precondition(message),
        ErrorCode::Internal => tonic::Status::internal(message),
        ErrorCode::Unauthenticated => tonic::Status::unauthenticated(message),
        ErrorCode::PermissionDenied => tonic::Status::permission_denied(message),
    };
    if !error.field().is_empty()
        && let Ok(field) = error.field().parse()
    {
        status.metadata_mut().insert("tributary-field", field);
    }
    status
}

pub(crate) fn event_error(error: &ServiceError) -> proto::EventError {
    proto::EventError {
        code: error.code().as_str().to_owned(),
        field: error.field().to_owned(),
        message: error.to_string(),
    }
}

pub(crate) fn watermark(watermark: Watermark) -> proto::Watermark {
    proto::Watermark {
        sequence: watermark.sequence,
        events: watermark.events,
        offsets: watermark
            .offsets
            .into_iter()
            .map(|offset| proto::PartitionOffset {
                topic: offset.topic,
                partition: offset.partition,
                offset: offset.offset,
            })
            .collect(),
    }
}

pub(crate) fn time(timestamp: Option<Timestamp>) -> String {
    timestamp.map(Timestamp::to_rfc3339).unwrap_or_default()
}

pub(crate) fn node(node: &NodeRef) -> proto::NodeRef {
    proto::NodeRef {
        kind: match node.kind {
            NodeKind::Dataset => proto::NodeKind::Dataset,
            NodeKind::Job => proto::NodeKind::Job,
        } as i32,
        namespace: node.namespace.clone(),
        name: node.name.clone(),
    }
}

pub(crate) fn node_from_proto(node: Option<proto::NodeRef>, field: &str) -> Result<NodeRef, ServiceError> {
    let node = node.ok_or_else(|| ServiceError::invalid(field, "is required"))?;
    let kind = match proto::NodeKind::try_from(node.kind) {
        Ok(proto::NodeKind::Dataset) => NodeKind::Dataset,
        Ok(proto::NodeKind::Job) => NodeKind::Job,
        _ => return Err(ServiceError::invalid(format!("{field}.kind"), "must be NODE_KIND_DATASET or NODE_KIND_JOB")),
    };
    if node.namespace.is_empty() {
        return Err(ServiceError::invalid(format!("{field}.namespace"), "must not be empty"));
    }
    if node.name.is_empty() {
        return Err(ServiceError::invalid(format!("{field}.name"), "must not be empty"));
    }
    Ok(NodeRef { kind, namespace: node.namespace, name: node.name })
}

pub(crate) fn direction(value: i32) -> Result<Direction, ServiceError> {
    match proto::Direction::try_from(value) {
        Ok(proto::Direction::Unspecified | proto::Direction::Downstream) => Ok(Direction::Downstream),
        Ok(proto::Direction::Upstream) => Ok(Direction::Upstream),
        Ok(proto::Direction::Both) => Ok(Direction::Both),
        Err(_) => Err(ServiceError::invalid("direction", format!("unknown direction {value}"))),
    }
}

pub(crate) fn schema_fields(fields: &[SchemaField]) -> Vec<proto::SchemaField> {
    fields
        .iter()
        .map(|field| proto::SchemaField {
            name: field.name.clone(),
            r#type: field.data_type.clone().unwrap_or_default(),
            description: field.description.clone().unwrap_or_default(),
            fields: schema_fields(&field.fields),
        })
        .collect()
}

pub(crate) fn schema_version(version: &SchemaVersionView) -> proto::SchemaVersion {
    proto::SchemaVersion {
        version: version.hash.clone(),
        first_seen: version.first_seen.to_rfc3339(),
        last_seen: version.last_seen.to_rfc3339(),
        fields: schema_fields(&version.fields),
    }
}

pub(crate) fn run_summary(run: &RunSummary) -> proto::RunSummary {
    proto::RunSummary {
        run_id: run.id.to_string(),
        state: run.state.as_str().to_owned(),
        started_at: time(run.started_at),
        ended_at: time(run.ended_at),
    }
}

pub(crate) fn json_text(map: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::Value::Object(map.clone()).to_string()
}

pub(crate) fn column_ref((dataset, field): &(tributary_service::model::DatasetId, String)) -> proto::ColumnRef {
    proto::ColumnRef { namespace: dataset.namespace.clone(), name: dataset.name.clone(), field: field.clone() }
}

pub(crate) fn transformations(list: &[tributary_service::model::Transformation]) -> Vec<proto::Transformation> {
    list.iter()
        .map(|t| proto::Transformation {
            r#type: t.kind.as_str().to_owned(),
            subtype: t.subtype.clone(),
            masking: t.masking,
            description: t.description.clone().unwrap_or_default(),
        })
        .collect()
}

pub(crate) fn column_lineage(
    start: proto::ColumnRef,
    view: tributary_service::ColumnLineageView,
) -> proto::ColumnLineageResponse {
    let answer = view.answer;
    proto::ColumnLineageResponse {
        start: Some(start),
        columns: answer
            .columns
            .iter()
            .map(|hit| proto::ColumnImpact {
                column: Some(column_ref(&(hit.dataset.clone(), hit.field.clone()))),
                distance: hit.distance,
                r#use: if hit.direct { "DIRECT" } else { "INDIRECT" }.to_owned(),
                masked: hit.masked,
                transformations: transformations(&hit.transformations),
                path: hit.path.iter().map(column_ref).collect(),
                source: hit.source.as_str().to_owned(),
            })
            .collect(),
        edges: answer
            .edges
            .iter()
            .map(|edge| proto::ColumnEdge {
                from: Some(column_ref(&edge.from)),
                to: Some(column_ref(&edge.to)),
                transformations: transformations(&edge.transformations),
                source: edge.source.as_str().to_owned(),
            })
            .collect(),
        unverified: answer
            .unverified
            .iter()
            .map(|u| proto::UnverifiedConsumer {
                dataset: Some(node(&(&u.dataset).into())),
                job: Some(node(&(&u.job).into())),
                via: Some(column_ref(&u.via)),
                path: u.path.iter().map(column_ref).collect(),
            })
            .collect(),
        truncated: answer.truncated,
        watermark: Some(watermark(view.watermark)),
    }
}
