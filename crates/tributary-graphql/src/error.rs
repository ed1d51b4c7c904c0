//! Errors as GraphQL sees them: every service error becomes one GraphQL error with
//! `extensions.code` (and `field`, and the `violations` of a policy refusal).

use async_graphql::ErrorExtensions;
use serde_json::Value;
use tributary_service::governance::Subject;
use tributary_service::{ErrorCode, ServiceError, governance};

pub(crate) fn gql_error(error: ServiceError) -> async_graphql::Error {
    let code = match error.code() {
        ErrorCode::InvalidArgument => "BAD_USER_INPUT",
        ErrorCode::NotFound => "NOT_FOUND",
        ErrorCode::Unavailable => "UNAVAILABLE",
        ErrorCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
        ErrorCode::FailedPrecondition => "POLICY_VIOLATION",
        ErrorCode::Internal => "INTERNAL",
        ErrorCode::Unauthenticated => "UNAUTHENTICATED",
        ErrorCode::PermissionDenied => "FORBIDDEN",
    };
    let field = error.field().to_owned();
    let violations: Vec<async_graphql::Value> = match &error {
        ServiceError::PolicyViolation { violations } => {
            violations.iter().filter_map(|v| async_graphql::Value::from_json(violation_json(v)).ok()).collect()
        }
        _ => Vec::new(),
    };
    async_graphql::Error::new(error.to_string()).extend_with(|_, extensions| {
        extensions.set("code", code);
        if !field.is_empty() {
            extensions.set("field", field.as_str());
        }
        if !violations.is_empty() {
            extensions.set("violations", async_graphql::Value::List(violations.clone()));
        }
    })
}

/// A violation in an error's `extensions.violations`: the same structured fields as the
/// `Violation` type (product, port, dataset, job apart), so bots need not parse `subject`.
pub(crate) fn violation_json(v: &governance::Violation) -> Value {
    let node =
        |id: &tributary_service::model::DatasetId| serde_json::json!({"namespace": id.namespace, "name": id.name});
    let (product, port, dataset, job) = match &v.subject {
        Subject::Product { id } => (Some(id.clone()), None, v.dataset.as_ref().map(node), None),
        Subject::OutputPort { product, port } => {
            (Some(product.clone()), Some(port.clone()), v.dataset.as_ref().map(node), None)
        }
        Subject::Dataset(id) => (None, None, Some(node(id)), None),
        Subject::Job(id) => (
            None,
            None,
            v.dataset.as_ref().map(node),
            Some(serde_json::json!({"namespace": id.namespace, "name": id.name})),
        ),
    };
    let column_path: Vec<Value> = v
        .column_path
        .iter()
        .map(|(dataset, field)| serde_json::json!({"namespace": dataset.namespace, "name": dataset.name, "field": field}))
        .collect();
    serde_json::json!({
        "policy": v.policy,
        "kind": v.kind,
        "blocking": v.blocking,
        "subject": v.subject.to_string(),
        "product": product,
        "port": port,
        "dataset": dataset,
        "column": v.column,
        "job": job,
        "reason": v.reason,
        "path": v.path,
        "columnPath": column_path,
    })
}
