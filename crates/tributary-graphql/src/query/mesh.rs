//! Mesh queries: products, domains, product lineage, owners, violations, freshness, impact.

use crate::error::gql_error;
use crate::scalars::{Direction, NodeInput, NodeRef, service};
use crate::types::domain::Domain;
use crate::types::freshness::{PortFreshness, freshness};
use crate::types::impact::{Impact, ImpactSummary, impact_groups};
use crate::types::lineage::{lineage_from_view, lineage_request, lineage_view};
use crate::types::mesh_edge::{MeshEdge, mesh_edges, request_product_lineage};
use crate::types::owner::{Owned, Owner, owners};
use crate::types::plain::PlainList;
use crate::types::product::Product;
use crate::types::violation::{Violation, violation};
use async_graphql::{Context, Json, Object, Result};
use serde_json::Value;
use tributary_service::model::{self, NodeKind as ModelKind};
use tributary_service::{ViolationFilter, ViolationView};

#[derive(Default)]
pub struct MeshQuery;

#[Object]
impl MeshQuery {
    async fn products(&self, context: &Context<'_>) -> Result<Vec<Product>> {
        Ok(service(context).products().map_err(gql_error)?.into_iter().map(Product).collect())
    }

    async fn product(&self, context: &Context<'_>, id: String) -> Result<Option<Product>> {
        Ok(service(context).product(&id).map_err(gql_error)?.map(Product))
    }

    async fn domains(&self, context: &Context<'_>) -> Result<Vec<Domain>> {
        let service = service(context);
        let products = service.products().map_err(gql_error)?;
        Ok(service
            .domains()
            .map_err(gql_error)?
            .into_iter()
            .map(|(d, version)| Domain {
                products: products
                    .iter()
                    .filter(|p| p.descriptor.domain == d.id)
                    .map(|p| p.descriptor.id.clone())
                    .collect(),
                owners: d
                    .owners
                    .iter()
                    .map(|o| Owner { name: o.name.clone(), role: o.role.clone(), source: format!("domain {}", d.id) })
                    .collect(),
                id: d.id,
                name: d.name,
                description: d.description,
                namespaces: d.namespaces,
                version,
                policies: Json(Value::Array(d.policies)),
            })
            .collect())
    }

    /// Product-to-product lineage derived from the observed dataset lineage.
    async fn product_lineage(&self, context: &Context<'_>) -> Result<PlainList<MeshEdge>> {
        let lineage = request_product_lineage(context).await?;
        let service = service(context);
        // Tens of thousands of links in a large mesh: converted on a read thread, not on the
        // runtime that serves ingest (and written there too, as a plain list).
        service.encode_answer(move || PlainList::new(mesh_edges(&lineage))).await.map_err(gql_error)
    }

    /// Domain-to-domain lineage (product lineage across domains).
    async fn domain_lineage(&self, context: &Context<'_>) -> Result<PlainList<MeshEdge>> {
        // From the request's product lineage: the two agree in one answer.
        let products = request_product_lineage(context).await?;
        let service = service(context);
        let lineage = service.domain_lineage(products).await.map_err(gql_error)?;
        service.encode_answer(move || PlainList::new(mesh_edges(&lineage))).await.map_err(gql_error)
    }

    /// Owners of a dataset or job, with where each came from.
    async fn owners(&self, context: &Context<'_>, node: NodeInput) -> Result<Vec<Owner>> {
        Ok(owners(service(context).owners_of(node.into()).await.map_err(gql_error)?))
    }

    /// What an owner owns.
    async fn owned_by(&self, context: &Context<'_>, owner: String) -> Result<Owned> {
        let (nodes, products, domains) = service(context).owned_by(owner).await.map_err(gql_error)?;
        let (datasets, jobs): (Vec<_>, Vec<_>) = nodes.iter().partition(|n| n.kind == ModelKind::Dataset);
        Ok(Owned {
            datasets: datasets.into_iter().map(NodeRef::from).collect(),
            jobs: jobs.into_iter().map(NodeRef::from).collect(),
            products,
            domains,
        })
    }

    /// Open policy violations (freshness is computed now).
    async fn violations(
        &self,
        context: &Context<'_>,
        policy: Option<String>,
        product: Option<String>,
    ) -> Result<Vec<Violation>> {
        let views: Vec<ViolationView> =
            service(context).violations(ViolationFilter { policy, product }).await.map_err(gql_error)?;
        Ok(views.iter().map(|v| violation(&v.violation, v.since)).collect())
    }

    /// Freshness of every product's output ports.
    async fn freshness(&self, context: &Context<'_>) -> Result<Vec<PortFreshness>> {
        Ok(service(context).freshness().await.map_err(gql_error)?.into_iter().map(freshness).collect())
    }

    /// What a change to a node reaches, counted: totals, groups by product, domain (or
    /// namespace) with their declared owners, and one page of the nodes (`first`, at most
    /// 1000, from `after`). For large fan-out, ask this instead of `impact`: its size does not
    /// grow with the closure.
    #[allow(clippy::too_many_arguments)]
    async fn impact_summary(
        &self,
        context: &Context<'_>,
        start: NodeInput,
        #[graphql(default_with = "Direction::Downstream")] direction: Direction,
        depth: Option<u32>,
        limit: Option<u32>,
        #[graphql(default = 100)] first: u32,
        after: Option<String>,
    ) -> Result<ImpactSummary> {
        let summary = service(context)
            .impact_summary(
                start.into(),
                direction.into(),
                depth,
                limit.map(|limit| limit as usize),
                first as usize,
                after,
            )
            .await
            .map_err(gql_error)?;
        Ok(summary.into())
    }

    /// Lineage from a node, its impacted nodes grouped product -> domain -> owners.
    async fn impact(
        &self,
        context: &Context<'_>,
        start: NodeInput,
        #[graphql(default_with = "Direction::Downstream")] direction: Direction,
        depth: Option<u32>,
        limit: Option<u32>,
    ) -> Result<Impact> {
        let service = service(context);
        let shape = crate::types::lineage::edge_shape(context.look_ahead().field("lineage").field("edges").exists());
        let view = lineage_view(service, lineage_request(start, direction, depth, limit).shaped(shape)).await?;
        let nodes: Vec<model::NodeRef> =
            view.answer.nodes.iter().filter(|n| n.distance > 0).map(|n| n.node.to_ref()).collect();
        let groups = service.group_impact(nodes).await.map_err(gql_error)?;
        Ok(Impact { lineage: lineage_from_view(view), groups: impact_groups(groups) })
    }
}
