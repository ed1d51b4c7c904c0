//! `MeshEdge`: product-to-product and domain-to-domain lineage.

use crate::scalars::{NodeKind, NodeRef};
use crate::types::plain::{Plain, plain_list, plain_object, write_plain_items, write_plain_object, write_str};
use async_graphql::parser::types::SelectionSet;
use async_graphql::{SimpleObject, Value};
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
