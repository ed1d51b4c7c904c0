//! `tributary.v1.Mesh`.

use tonic::{Request, Response, Status};
use tributary_service::governance::Violation;
use tributary_service::model::{DatasetId, Timestamp};
use tributary_service::{OwnerView, ProductEdge, ProductView, Service, ServiceError};

use crate::convert::{node, node_from_proto, status};
use crate::proto;

pub(crate) struct MeshApi {
    service: Service,
}

impl MeshApi {
    pub(crate) fn new(service: Service) -> Self {
        Self { service }
    }

    /// `lineage` is the product lineage, computed once per request however many products.
    fn product(service: &Service, view: ProductView, lineage: &[ProductEdge]) -> Result<proto::Product, Status> {
        let id = view.descriptor.id.clone();
        Ok(proto::Product {
            descriptor_json: serde_json::to_string(&view.descriptor).unwrap_or_default(),
            owners: owners(service.product_owners(&id).map_err(status)?),
            upstream_products: lineage.iter().filter(|e| e.to == id).map(|e| e.from.clone()).collect(),
            downstream_products: lineage.iter().filter(|e| e.from == id).map(|e| e.to.clone()).collect(),
            version: view.version,
            id,
        })
    }
}

pub(crate) fn violation(v: &Violation, since: Option<Timestamp>) -> proto::Violation {
    proto::Violation {
        policy: v.policy.clone(),
        kind: v.kind.to_owned(),
        blocking: v.blocking,
        subject: v.subject.to_string(),
        reason: v.reason.clone(),
        path: v.path.clone(),
        since: since.map(Timestamp::to_rfc3339).unwrap_or_default(),
        dataset: v.dataset.as_ref().map(|id| node(&id.into())),
        column: v.column.clone().unwrap_or_default(),
        column_path: v.column_path.iter().map(crate::convert::column_ref).collect(),
    }
}

fn owners(views: Vec<OwnerView>) -> Vec<proto::Owner> {
    views
        .into_iter()
        .map(|o| proto::Owner { name: o.name, role: o.role.unwrap_or_default(), source: o.source })
        .collect()
}

fn dataset_node(id: &DatasetId) -> proto::NodeRef {
    node(&id.into())
}

fn edges(edges: Vec<ProductEdge>) -> Vec<proto::MeshEdge> {
    edges
        .into_iter()
        .map(|e| proto::MeshEdge {
            from: e.from,
            to: e.to,
            via: e
                .via
                .iter()
                .map(|(a, b)| proto::DatasetLink { from: Some(dataset_node(a)), to: Some(dataset_node(b)) })
                .collect(),
        })
        .collect()
}

fn apply_response(outcome: tributary_service::ApplyOutcome) -> proto::ApplyResponse {
    proto::ApplyResponse {
        id: outcome.id,
        version: outcome.version,
        changed: outcome.changed,
        violations: outcome.violations.iter().map(|v| violation(v, None)).collect(),
    }
}

#[tonic::async_trait]
impl proto::mesh_server::Mesh for MeshApi {
    async fn apply_product(
        &self,
        request: Request<proto::ApplyRequest>,
    ) -> Result<Response<proto::ApplyResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let outcome = service.apply_product(request.into_inner().descriptor).await.map_err(status)?;
        Ok(Response::new(apply_response(outcome)))
    }

    async fn apply_domain(
        &self,
        request: Request<proto::ApplyRequest>,
    ) -> Result<Response<proto::ApplyResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let outcome = service.apply_domain(request.into_inner().descriptor).await.map_err(status)?;
        Ok(Response::new(apply_response(outcome)))
    }

    async fn get_product(
        &self,
        request: Request<proto::GetProductRequest>,
    ) -> Result<Response<proto::Product>, Status> {
        let service = crate::caller(&self.service, &request);
        let id = request.into_inner().id;
        let view = service
            .product(&id)
            .map_err(status)?
            .ok_or_else(|| status(ServiceError::NotFound(format!("unknown product `{id}`"))))?;
        let lineage = service.product_lineage().await.map_err(status)?;
        Ok(Response::new(Self::product(&service, view, &lineage)?))
    }

    async fn list_products(
        &self,
        request: Request<proto::ListProductsRequest>,
    ) -> Result<Response<proto::ListProductsResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let domain = request.into_inner().domain;
        let lineage = service.product_lineage().await.map_err(status)?;
        let products = service
            .products()
            .map_err(status)?
            .into_iter()
            .filter(|p| domain.is_empty() || p.descriptor.domain == domain)
            .map(|p| Self::product(&service, p, &lineage))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(proto::ListProductsResponse { products }))
    }

    async fn get_mesh_lineage(
        &self,
        _: Request<proto::MeshLineageRequest>,
    ) -> Result<Response<proto::MeshLineageResponse>, Status> {
        // One product lineage for both: the two agree in one answer.
        let products = self.service.product_lineage().await.map_err(status)?;
        let domains = self.service.domain_lineage(std::sync::Arc::clone(&products)).await.map_err(status)?;
        Ok(Response::new(proto::MeshLineageResponse {
            products: edges(products.iter().cloned().collect()),
            domains: edges(domains),
        }))
    }

    async fn get_owners(&self, request: Request<proto::NodeRef>) -> Result<Response<proto::GetOwnersResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let node = node_from_proto(Some(request.into_inner()), "node").map_err(status)?;
        let found = service.owners_of(node).await.map_err(status)?;
        Ok(Response::new(proto::GetOwnersResponse { owners: owners(found) }))
    }

    async fn get_impact_summary(
        &self,
        request: Request<proto::ImpactSummaryRequest>,
    ) -> Result<Response<proto::ImpactSummaryResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let request = request.into_inner();
        let start = node_from_proto(request.start, "start").map_err(status)?;
        let direction = crate::convert::direction(request.direction).map_err(status)?;
        let page_size = if request.page_size == 0 { 100 } else { request.page_size as usize };
        let summary = service
            .impact_summary(
                start,
                direction,
                (request.depth > 0).then_some(request.depth),
                (request.limit > 0).then_some(request.limit as usize),
                page_size,
                Some(request.page_token).filter(|token| !token.is_empty()),
            )
            .await
            .map_err(status)?;
        Ok(Response::new(proto::ImpactSummaryResponse {
            dataset_count: summary.datasets as u64,
            job_count: summary.jobs as u64,
            truncated: summary.truncated,
            groups: summary
                .groups
                .iter()
                .map(|group| proto::ImpactCount {
                    product: group.product.clone().unwrap_or_default(),
                    domain: group.domain.clone().unwrap_or_default(),
                    namespace: group.namespace.clone().unwrap_or_default(),
                    dataset_count: group.datasets as u64,
                    job_count: group.jobs as u64,
                    owners: owners(group.owners.clone()),
                })
                .collect(),
            nodes: summary
                .page
                .iter()
                .map(|reached| proto::LineageNode { node: Some(node(&reached.node)), distance: reached.distance })
                .collect(),
            next_page_token: summary.next_cursor.unwrap_or_default(),
            depth: summary.depth,
            watermark: Some(crate::convert::watermark(summary.watermark)),
        }))
    }

    async fn search(&self, request: Request<proto::SearchRequest>) -> Result<Response<proto::SearchResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let request = request.into_inner();
        let wants = |kind: &str| request.kinds.is_empty() || request.kinds.iter().any(|k| k.eq_ignore_ascii_case(kind));
        if let Some(unknown) =
            request.kinds.iter().find(|k| !["PRODUCT", "DATASET", "JOB"].contains(&k.to_ascii_uppercase().as_str()))
        {
            return Err(status(ServiceError::invalid("kinds", format!("`{unknown}` is not PRODUCT, DATASET or JOB"))));
        }
        let offset = if request.page_token.is_empty() {
            0
        } else {
            request
                .page_token
                .parse::<usize>()
                .map_err(|_| status(ServiceError::invalid("page_token", "is not a token returned by this server")))?
        };
        let some = |text: String| (!text.is_empty()).then_some(text);
        let query = tributary_service::SearchQuery {
            products: wants("PRODUCT"),
            datasets: wants("DATASET"),
            jobs: wants("JOB"),
            text: some(request.text),
            tag: some(request.tag),
            owner: some(request.owner),
            domain: some(request.domain),
        };
        let page_size = if request.page_size == 0 { 50 } else { request.page_size as usize };
        let (hits, more) = service.search(query, offset, page_size).await.map_err(status)?;
        let count = hits.len();
        let results = hits
            .into_iter()
            .map(|hit| match hit {
                tributary_service::SearchHit::Product(id) => {
                    proto::SearchResult { kind: "PRODUCT".into(), product: id, node: None }
                }
                tributary_service::SearchHit::Node(found) => proto::SearchResult {
                    kind: if found.kind == tributary_service::model::NodeKind::Dataset { "DATASET" } else { "JOB" }
                        .into(),
                    product: String::new(),
                    node: Some(node(&found)),
                },
            })
            .collect();
        let next_page_token = if more { (offset + count).to_string() } else { String::new() };
        Ok(Response::new(proto::SearchResponse { results, next_page_token }))
    }

    async fn list_violations(
        &self,
        request: Request<proto::ListViolationsRequest>,
    ) -> Result<Response<proto::ListViolationsResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let request = request.into_inner();
        let filter = tributary_service::ViolationFilter {
            policy: Some(request.policy).filter(|p| !p.is_empty()),
            product: Some(request.product).filter(|p| !p.is_empty()),
        };
        let views = service.violations(filter).await.map_err(status)?;
        let violations = views.iter().map(|v| violation(&v.violation, v.since)).collect();
        Ok(Response::new(proto::ListViolationsResponse { violations }))
    }
}
