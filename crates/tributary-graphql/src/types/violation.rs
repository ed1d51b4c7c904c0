//! `Violation`: a policy finding with structured dataset, column and path.

use crate::scalars::{NodeKind, NodeRef};
use crate::types::mesh_edge::dataset_ref;
use async_graphql::SimpleObject;
use tributary_service::governance::{self, Subject};
use tributary_service::model;

#[derive(SimpleObject)]
pub struct Violation {
    pub policy: String,
    /// The policy kind, e.g. `pii-in-public-products`.
    pub kind: String,
    pub blocking: bool,
    /// Human description of the subject.
    pub subject: String,
    pub product: Option<String>,
    pub port: Option<String>,
    /// The dataset the finding is about: the subject's, or the output port dataset a PII
    /// column reaches, or the dataset a job reads across domains.
    pub dataset: Option<NodeRef>,
    /// The column of `dataset` the finding is about (PII findings).
    pub column: Option<String>,
    pub job: Option<NodeRef>,
    pub reason: String,
    /// For propagation findings: `namespace:name.field` steps from source to finding.
    pub path: Vec<String>,
    /// `path` as column references (namespaces contain `:` and `/`: no parsing needed).
    pub column_path: Vec<crate::types::column_lineage::ColumnRef>,
    /// When first seen (null for findings computed now, such as freshness).
    pub since: Option<String>,
}

pub(crate) fn violation(v: &governance::Violation, since: Option<model::Timestamp>) -> Violation {
    let (product, port, dataset, job) = match &v.subject {
        Subject::Product { id } => (Some(id.clone()), None, None, None),
        Subject::OutputPort { product, port } => (Some(product.clone()), Some(port.clone()), None, None),
        Subject::Dataset(id) => (None, None, Some(dataset_ref(id)), None),
        Subject::Job(id) => (
            None,
            None,
            None,
            Some(NodeRef { kind: NodeKind::Job, namespace: id.namespace.clone(), name: id.name.clone() }),
        ),
    };
    Violation {
        policy: v.policy.clone(),
        kind: v.kind.to_owned(),
        blocking: v.blocking,
        subject: v.subject.to_string(),
        product,
        port,
        dataset: dataset.or_else(|| v.dataset.as_ref().map(dataset_ref)),
        column: v.column.clone(),
        job,
        reason: v.reason.clone(),
        path: v.path.clone(),
        column_path: v.column_path.iter().map(crate::types::column_lineage::column_ref).collect(),
        since: since.map(model::Timestamp::to_rfc3339),
    }
}
