//! Mesh types: products, domains, ownership, product lineage, policies, impact groups.

use async_graphql::{Context, Json, Object, Result, SimpleObject};
use serde_json::Value;
use tributary_service::governance::{self, Subject};
use tributary_service::model::{self, DatasetId, NodeKind as ModelKind};
use tributary_service::{
    ApplyOutcome, FreshnessView, ImpactGroup, OwnerView, ProductEdge, ProductView, ViolationFilter, ViolationView,
};

use crate::error::gql_error;
use crate::scalars::{Direction, NodeInput, NodeKind, NodeRef, service};
use crate::types::{Lineage, lineage_from_view, lineage_view};

fn dataset_ref(id: &DatasetId) -> NodeRef {
    NodeRef { kind: NodeKind::Dataset, namespace: id.namespace.clone(), name: id.name.clone() }
}

#[derive(SimpleObject, Clone)]
pub struct Owner {
    pub name: String,
    pub role: Option<String>,
    /// Where the ownership was learned: an `ownership` facet, a product, a domain.
    pub source: String,
}

fn owners(views: Vec<OwnerView>) -> Vec<Owner> {
    views.into_iter().map(|o| Owner { name: o.name, role: o.role, source: o.source }).collect()
}

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

pub struct Product(ProductView);

fn lower<T: serde::Serialize>(value: &T) -> String {
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
        let lineage = service(context).product_lineage().await.map_err(gql_error)?;
        Ok(lineage.iter().filter(|e| &e.to == id).map(|e| e.from.clone()).collect())
    }
    /// Products that consume this one's datasets.
    async fn downstream_products(&self, context: &Context<'_>) -> Result<Vec<String>> {
        let id = &self.0.descriptor.id;
        let lineage = service(context).product_lineage().await.map_err(gql_error)?;
        Ok(lineage.iter().filter(|e| &e.from == id).map(|e| e.to.clone()).collect())
    }
}

#[derive(SimpleObject)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub owners: Vec<Owner>,
    pub namespaces: Vec<String>,
    pub version: u64,
    pub policies: Json<Value>,
    pub products: Vec<String>,
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

fn mesh_edges(edges: Vec<ProductEdge>) -> Vec<MeshEdge> {
    edges
        .into_iter()
        .map(|e| MeshEdge {
            from: e.from,
            to: e.to,
            via: e.via.iter().map(|(a, b)| DatasetLink { from: dataset_ref(a), to: dataset_ref(b) }).collect(),
        })
        .collect()
}

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
    pub column_path: Vec<crate::columns::ColumnRef>,
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
        column_path: v.column_path.iter().map(crate::columns::column_ref).collect(),
        since: since.map(model::Timestamp::to_rfc3339),
    }
}

#[derive(SimpleObject)]
pub struct ApplyResult {
    pub id: String,
    pub version: u64,
    /// False when the same descriptor was applied before: nothing changed.
    pub changed: bool,
    /// Non-blocking findings (recorded, not rejected).
    pub violations: Vec<Violation>,
}

fn apply_result(outcome: ApplyOutcome) -> ApplyResult {
    ApplyResult {
        id: outcome.id,
        version: outcome.version,
        changed: outcome.changed,
        violations: outcome.violations.iter().map(|v| violation(v, None)).collect(),
    }
}

#[derive(SimpleObject)]
pub struct PortFreshness {
    pub product: String,
    pub port: String,
    pub dataset: NodeRef,
    pub sla_seconds: Option<u64>,
    pub last_success: Option<String>,
    /// FRESH, STALE, NEVER_WRITTEN or NO_SLA.
    pub status: String,
}

fn freshness(view: FreshnessView) -> PortFreshness {
    PortFreshness {
        product: view.product,
        port: view.port,
        dataset: dataset_ref(&view.dataset),
        sla_seconds: view.sla_seconds,
        last_success: view.last_success.map(model::Timestamp::to_rfc3339),
        status: view.status.as_str().to_owned(),
    }
}

#[derive(SimpleObject)]
pub struct Owned {
    pub datasets: Vec<NodeRef>,
    pub jobs: Vec<NodeRef>,
    pub products: Vec<String>,
    pub domains: Vec<String>,
}

/// Impacted nodes of one product (or domain, or namespace outside every domain).
#[derive(SimpleObject)]
#[graphql(name = "ImpactGroup")]
pub struct ImpactGroupOutput {
    pub product: Option<String>,
    pub domain: Option<String>,
    pub namespace: Option<String>,
    pub owners: Vec<Owner>,
    pub dataset_count: usize,
    pub job_count: usize,
    pub datasets: Vec<NodeRef>,
    pub jobs: Vec<NodeRef>,
}

pub(crate) fn impact_groups(groups: Vec<ImpactGroup>) -> Vec<ImpactGroupOutput> {
    groups
        .into_iter()
        .map(|g| ImpactGroupOutput {
            product: g.product,
            domain: g.domain,
            namespace: g.namespace,
            owners: owners(g.owners),
            dataset_count: g.datasets.len(),
            job_count: g.jobs.len(),
            datasets: g.datasets.iter().map(NodeRef::from).collect(),
            jobs: g.jobs.iter().map(NodeRef::from).collect(),
        })
        .collect()
}

#[derive(SimpleObject)]
pub struct Impact {
    pub lineage: Lineage,
    /// The impacted nodes (start excluded) grouped product -> domain -> owners.
    pub groups: Vec<ImpactGroupOutput>,
}

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
    async fn product_lineage(&self, context: &Context<'_>) -> Result<Vec<MeshEdge>> {
        let lineage = service(context).product_lineage().await.map_err(gql_error)?;
        Ok(mesh_edges(lineage.iter().cloned().collect()))
    }

    /// Domain-to-domain lineage (product lineage across domains).
    async fn domain_lineage(&self, context: &Context<'_>) -> Result<Vec<MeshEdge>> {
        Ok(mesh_edges(service(context).domain_lineage().await.map_err(gql_error)?))
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
        let shape = crate::types::edge_shape(context.look_ahead().field("lineage").field("edges").exists());
        let view = lineage_view(service, start.into(), direction, depth, limit, shape).await?;
        let nodes: Vec<model::NodeRef> =
            view.answer.nodes.iter().filter(|n| n.distance > 0).map(|n| n.node.clone()).collect();
        let groups = service.group_impact(nodes).await.map_err(gql_error)?;
        Ok(Impact { lineage: lineage_from_view(view), groups: impact_groups(groups) })
    }
}

#[derive(Default)]
pub struct MeshMutation;

#[Object]
impl MeshMutation {
    /// Applies a data product descriptor (YAML or JSON text). Blocking policy violations
    /// reject it (error code POLICY_VIOLATION, every reason in `extensions.violations`).
    async fn apply_product(&self, context: &Context<'_>, descriptor: String) -> Result<ApplyResult> {
        Ok(apply_result(service(context).apply_product(descriptor).await.map_err(gql_error)?))
    }

    /// Applies a domain descriptor (YAML or JSON text).
    async fn apply_domain(&self, context: &Context<'_>, descriptor: String) -> Result<ApplyResult> {
        Ok(apply_result(service(context).apply_domain(descriptor).await.map_err(gql_error)?))
    }
}

/// What to search.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
pub enum SearchKind {
    Product,
    Dataset,
    Job,
}

#[derive(SimpleObject)]
pub struct SearchResult {
    pub kind: SearchKind,
    /// For products.
    pub product: Option<String>,
    /// For datasets and jobs.
    pub node: Option<NodeRef>,
}

#[derive(SimpleObject)]
pub struct SearchPage {
    pub results: Vec<SearchResult>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Default)]
pub struct SearchQueryRoot;

#[Object]
impl SearchQueryRoot {
    /// Discovery: products, datasets and jobs by text, tag, owner and domain (all given
    /// filters must match), paged.
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        context: &Context<'_>,
        text: Option<String>,
        tag: Option<String>,
        owner: Option<String>,
        domain: Option<String>,
        kinds: Option<Vec<SearchKind>>,
        #[graphql(default = 50)] first: usize,
        after: Option<String>,
    ) -> Result<SearchPage> {
        let kinds = kinds.unwrap_or_else(|| vec![SearchKind::Product, SearchKind::Dataset, SearchKind::Job]);
        let offset = match &after {
            Some(cursor) => cursor.parse::<usize>().map_err(|_| {
                gql_error(tributary_service::ServiceError::invalid("after", "is not a cursor returned by this server"))
            })?,
            None => 0,
        };
        let query = tributary_service::SearchQuery {
            text,
            tag,
            owner,
            domain,
            products: kinds.contains(&SearchKind::Product),
            datasets: kinds.contains(&SearchKind::Dataset),
            jobs: kinds.contains(&SearchKind::Job),
        };
        let (hits, more) = service(context).search(query, offset, first).await.map_err(gql_error)?;
        let count = hits.len();
        let results = hits
            .into_iter()
            .map(|hit| match hit {
                tributary_service::SearchHit::Product(id) => {
                    SearchResult { kind: SearchKind::Product, product: Some(id), node: None }
                }
                tributary_service::SearchHit::Node(node) => SearchResult {
                    kind: if node.kind == ModelKind::Dataset { SearchKind::Dataset } else { SearchKind::Job },
                    product: None,
                    node: Some(NodeRef::from(&node)),
                },
            })
            .collect();
        Ok(SearchPage { results, next_cursor: more.then(|| (offset + count).to_string()) })
    }
}
