//! `MeshEdge`: product-to-product and domain-to-domain lineage.

use std::sync::Arc;

use crate::error::gql_error;
use crate::scalars::{NodeKind, NodeRef, service};
use crate::types::plain::{Plain, plain_list, plain_object, write_plain_items, write_plain_object, write_str};
use async_graphql::parser::types::SelectionSet;
use async_graphql::{Context, Result, SimpleObject, Value};
use tributary_service::ProductEdge;
use tributary_service::model::DatasetId;

pub(crate) fn dataset_ref(id: &DatasetId) -> NodeRef {
    NodeRef { kind: NodeKind::Dataset, namespace: id.namespace.clone(), name: id.name.clone() }
}

#[derive(SimpleObject)]
pub struct DatasetLink {
    pub from: NodeRef,
    pub to: NodeRef,
}

/// A derived edge between products (or domains) with the dataset pairs that connect them.
#[derive(SimpleObject)]
pub struct MeshEdge {
    pub from: String,
    pub to: String,
    pub via: Vec<DatasetLink>,
}

/// Product lineage as one GraphQL request sees it: asked of the service once, however many
/// fields need it (`productLineage`, `domainLineage`, each product's `upstreamProducts` and
/// `downstreamProducts`). Under ingest the graph changes between fields, so without it a list
/// of products would derive the lineage again for each product's field.
#[derive(Default)]
pub(crate) struct RequestProductLineage(tokio::sync::OnceCell<Arc<Vec<ProductEdge>>>);

/// The request's product lineage ([`RequestProductLineage`]), or the service's answer now
/// when the request carries none.
pub(crate) async fn request_product_lineage(context: &Context<'_>) -> Result<Arc<Vec<ProductEdge>>> {
    let service = service(context);
    match context.data_opt::<RequestProductLineage>() {
        Some(once) => once.0.get_or_try_init(|| service.product_lineage()).await.cloned().map_err(gql_error),
        None => service.product_lineage().await.map_err(gql_error),
    }
}

pub(crate) fn mesh_edges(edges: &[ProductEdge]) -> Vec<MeshEdge> {
    edges
        .iter()
        .map(|e| MeshEdge {
            from: e.from.clone(),
            to: e.to.clone(),
            via: e.via.iter().map(|(a, b)| DatasetLink { from: dataset_ref(a), to: dataset_ref(b) }).collect(),
        })
        .collect()
}

// A mesh of hundreds of products has tens of thousands of links: the edges are written as a
// `PlainList` when the selection allows (see `plain`), on a read thread.
impl Plain for MeshEdge {
    const TYPE_NAME: &'static str = "MeshEdge";

    fn plain_field(&self, name: &str, selection: &SelectionSet) -> Option<Value> {
        match name {
            "from" => Some(Value::String(self.from.clone())),
            "to" => Some(Value::String(self.to.clone())),
            "via" => plain_list(&self.via, selection),
            _ => None,
        }
    }

    fn write_field(&self, name: &str, selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
        match name {
            "from" => write_str(out, &self.from),
            "to" => write_str(out, &self.to),
            "via" => write_plain_items(&self.via, selection, out)?,
            _ => return None,
        }
        Some(())
    }
}

impl Plain for DatasetLink {
    const TYPE_NAME: &'static str = "DatasetLink";

    fn plain_field(&self, name: &str, selection: &SelectionSet) -> Option<Value> {
        match name {
            "from" => plain_object(&self.from, selection),
            "to" => plain_object(&self.to, selection),
            _ => None,
        }
    }

    fn write_field(&self, name: &str, selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
        match name {
            "from" => write_plain_object(&self.from, selection, out),
            "to" => write_plain_object(&self.to, selection, out),
            _ => None,
        }
    }
}
