//! `Product`: a data product with its ports, contracts, versions and derived lineage.

use crate::error::gql_error;
use crate::scalars::{NodeRef, service};
use crate::types::mesh_edge::{dataset_ref, request_product_lineage};
use crate::types::owner::{Owner, owners};
use async_graphql::{Context, Json, Object, Result, SimpleObject};
use serde_json::Value;
use tributary_service::ProductView;
use tributary_service::governance;

#[derive(SimpleObject)]
pub struct Contract {
    pub version: String,
    /// draft, active or deprecated.
    pub status: String,
    pub schema: Option<Json<Value>>,
    pub guarantees: Json<Value>,
}

#[derive(SimpleObject)]
pub struct OutputPort {
    pub name: String,
    pub dataset: NodeRef,
    pub description: Option<String>,
    /// The port's own classification, else the product's.
    pub classification: String,
    pub contract: Option<Contract>,
    pub owners: Vec<Owner>,
}

#[derive(SimpleObject)]
pub struct DescriptorChange {
    pub path: String,
    pub before: Option<Json<Value>>,
    pub after: Option<Json<Value>>,
}

#[derive(SimpleObject)]
pub struct ProductVersion {
    pub version: u64,
    pub applied_at: String,
    pub hash: String,
    pub descriptor: Json<Value>,
}

pub struct Product(pub(crate) ProductView);

pub(crate) fn lower<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

#[Object]
impl Product {
    async fn id(&self) -> &str {
        &self.0.descriptor.id
    }
    async fn name(&self) -> &str {
        &self.0.descriptor.name
    }
    async fn domain(&self) -> &str {
        &self.0.descriptor.domain
    }
    async fn description(&self) -> Option<&str> {
        self.0.descriptor.description.as_deref()
    }
    /// public, internal, confidential or restricted.
    async fn classification(&self) -> &'static str {
        self.0.descriptor.classification.as_str()
    }
    async fn lifecycle(&self) -> String {
        lower(&self.0.descriptor.lifecycle)
    }
    async fn tags(&self) -> &[String] {
        &self.0.descriptor.tags
    }
    /// Applied version number (1, 2, …).
    async fn version(&self) -> u64 {
        self.0.version
    }
    async fn freshness_sla_seconds(&self) -> Option<u64> {
        self.0.descriptor.freshness_sla_seconds()
    }
    /// The product's owners, its ports' owners and its domain's, with provenance.
    async fn owners(&self, context: &Context<'_>) -> Result<Vec<Owner>> {
        Ok(owners(service(context).product_owners(&self.0.descriptor.id).map_err(gql_error)?))
    }
    async fn output_ports(&self) -> Vec<OutputPort> {
        let product = &self.0.descriptor;
        product
            .output_ports
            .iter()
            .map(|port| OutputPort {
                name: port.name.clone(),
                dataset: dataset_ref(&port.dataset),
                description: port.description.clone(),
                classification: product.port_classification(port).as_str().to_owned(),
                contract: port.contract.as_ref().map(|c| Contract {
                    version: c.version.clone(),
                    status: lower(&c.status),
                    schema: c.schema.clone().map(Json),
                    guarantees: Json(serde_json::to_value(&c.guarantees).unwrap_or(Value::Null)),
                }),
                owners: port
                    .owners
                    .iter()
                    .map(|o| Owner { name: o.name.clone(), role: o.role.clone(), source: "descriptor".into() })
                    .collect(),
            })
            .collect()
    }
    async fn input_ports(&self) -> Vec<NodeRef> {
        self.0.descriptor.input_ports.iter().map(|p| dataset_ref(&p.dataset)).collect()
    }
    async fn internal_datasets(&self) -> Vec<NodeRef> {
        self.0.descriptor.internal_datasets.iter().map(dataset_ref).collect()
    }
    /// The descriptor as applied (JSON).
    async fn descriptor(&self) -> Json<Value> {
        Json(serde_json::to_value(&self.0.descriptor).unwrap_or(Value::Null))
    }
    /// Every applied version, oldest first.
    async fn versions(&self, context: &Context<'_>) -> Result<Vec<ProductVersion>> {
        let records = service(context).product_versions(self.0.descriptor.id.clone()).await.map_err(gql_error)?;
        Ok(records
            .into_iter()
            .map(|r| ProductVersion {
                version: r.version,
                applied_at: r.applied_at.to_rfc3339(),
                hash: r.hash,
                descriptor: Json(r.body),
            })
            .collect())
    }
    /// What changed between two applied versions.
    async fn diff(&self, context: &Context<'_>, from: u64, to: u64) -> Result<Vec<DescriptorChange>> {
        let records = service(context).product_versions(self.0.descriptor.id.clone()).await.map_err(gql_error)?;
        let find = |version: u64, field: &str| {
            records.iter().find(|r| r.version == version).ok_or_else(|| {
                gql_error(tributary_service::ServiceError::invalid(
                    field,
                    format!("no version {version} of this product"),
                ))
            })
        };
        let (before, after) = (find(from, "from")?, find(to, "to")?);
        Ok(governance::diff_documents(&before.body, &after.body)
            .into_iter()
            .map(|c| DescriptorChange { path: c.path, before: c.before.map(Json), after: c.after.map(Json) })
            .collect())
    }
    /// Products whose datasets feed this one's (derived from dataset lineage).
    async fn upstream_products(&self, context: &Context<'_>) -> Result<Vec<String>> {
        let id = &self.0.descriptor.id;
        let lineage = request_product_lineage(context).await?;
        Ok(lineage.iter().filter(|e| &e.to == id).map(|e| e.from.clone()).collect())
    }
    /// Products that consume this one's datasets.
    async fn downstream_products(&self, context: &Context<'_>) -> Result<Vec<String>> {
        let id = &self.0.descriptor.id;
        let lineage = request_product_lineage(context).await?;
        Ok(lineage.iter().filter(|e| &e.from == id).map(|e| e.to.clone()).collect())
    }
}
