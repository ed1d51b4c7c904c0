//! The impact question as users ask it (issue #13): "how much is downstream, in which products
//! and domains, owned by whom, and the first page". The generated data has domains in its
//! names but no descriptors, so this step derives a mesh from it and applies it (idempotent:
//! the same content changes nothing the second time), then times `impactSummary` (GraphQL)
//! and `Mesh/GetImpactSummary` (gRPC) from every hub, full depth, node limit 1,000,000, a
//! first page of 50.
//!
//! The server keeps recent summaries while the graph's edges and labels and the mesh stay, so
//! asking again is answered from that cache. Each hub is timed both ways: calls with the node
//! limit of the first call (kept: what a user asking again gets) and calls with a limit one
//! lower each time (never asked before, so the server walks; the closures are far below the
//! limit, so the answers are the same).
//!
//! The derived mesh: a domain per name prefix (`sales_marts.x` and job namespace `sales-dbt`
//! are domain `sales`), claiming its job namespaces and its `postgres://sales-oltp…`
//! namespace; products of up to 25 output ports from the domain's `products` layer, its
//! `marts` datasets spread over them as internal datasets, every fifth product restricted.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use tributary_grpc::proto;

/// Output ports per derived product.
const PORTS_PER_PRODUCT: usize = 25;
/// Nodes in the page each summary returns.
pub const PAGE: u32 = 50;
/// The node limit of the calls that may be answered from the server's cache; walking calls
/// use lower ones.
pub const LIMIT: u32 = 1_000_000;

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "eventType")]
    event_type: String,
    job: NameRef,
    #[serde(default)]
    outputs: Vec<NameRef>,
    #[serde(default)]
    inputs: Vec<NameRef>,
}

#[derive(Deserialize)]
struct NameRef {
    namespace: String,
    name: String,
}

/// Domain and product descriptors (JSON text), domains first.
pub struct MeshDescriptors {
    pub domains: Vec<String>,
    pub products: Vec<String>,
    pub n_ports: usize,
    pub n_internal: usize,
}

/// `sales_marts.fct_orders_12` -> (`sales`, `marts`).
fn domain_and_layer(name: &str) -> Option<(&str, &str)> {
    name.split('.').next()?.rsplit_once('_')
}

pub fn derive_mesh(data: &Path) -> anyhow::Result<MeshDescriptors> {
    let file = std::fs::File::open(data).with_context(|| format!("{}", data.display()))?;
    let mut namespaces: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut ports: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    let mut marts: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for line in std::io::BufReader::with_capacity(1 << 20, file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(&line).context("an NDJSON line")?;
        if event.event_type != "COMPLETE" {
            continue;
        }
        if let Some((domain, _)) = event.job.namespace.rsplit_once('-') {
            namespaces.entry(domain.to_owned()).or_default().insert(event.job.namespace.clone());
        }
        for dataset in event.outputs.iter().chain(&event.inputs) {
            if let Some(host) = dataset.namespace.strip_prefix("postgres://") {
                if let Some((domain, _)) = host.split_once("-oltp") {
                    namespaces.entry(domain.to_owned()).or_default().insert(dataset.namespace.clone());
                }
                continue;
            }
            let Some((domain, layer)) = domain_and_layer(&dataset.name) else { continue };
            let id = (dataset.namespace.clone(), dataset.name.clone());
            match layer {
                "products" => ports.entry(domain.to_owned()).or_default().insert(id),
                "marts" => marts.entry(domain.to_owned()).or_default().insert(id),
                _ => false,
            };
        }
    }
    if namespaces.is_empty() {
        bail!("no domain found in {}", data.display());
    }
    let dataset = |(namespace, name): &(String, String)| json!({"namespace": namespace, "name": name});
    let mut descriptors = MeshDescriptors { domains: Vec::new(), products: Vec::new(), n_ports: 0, n_internal: 0 };
    for (domain, claimed) in &namespaces {
        descriptors.domains.push(
            json!({"kind": "Domain", "id": domain, "name": domain, "owners": [{"name": format!("head-of-{domain}")}],
                   "namespaces": claimed})
            .to_string(),
        );
        let domain_ports: Vec<&(String, String)> = ports.get(domain).into_iter().flatten().collect();
        let chunks: Vec<&[&(String, String)]> = domain_ports.chunks(PORTS_PER_PRODUCT).collect();
        let domain_marts: Vec<&(String, String)> = marts.get(domain).into_iter().flatten().collect();
        for (k, chunk) in chunks.iter().enumerate() {
            let product_number = descriptors.products.len();
            let id = format!("{domain}.p{k}");
            let internal: Vec<Value> =
                domain_marts.iter().skip(k).step_by(chunks.len()).map(|id| dataset(id)).collect();
            descriptors.n_ports += chunk.len();
            descriptors.n_internal += internal.len();
            descriptors.products.push(
                json!({"kind": "DataProduct", "id": id, "name": id, "domain": domain,
                       "owners": [{"name": format!("team-{id}")}],
                       "classification": if product_number % 5 == 4 { "restricted" } else { "internal" },
                       "outputPorts": chunk.iter().enumerate().map(|(p, id)| json!({"name": format!("port{p}"), "dataset": dataset(id)})).collect::<Vec<_>>(),
                       "internalDatasets": internal})
                .to_string(),
            );
        }
    }
    Ok(descriptors)
}

/// Applies the descriptors over GraphQL.
pub async fn apply(http: &reqwest::Client, base_url: &str, mesh: &MeshDescriptors) -> anyhow::Result<()> {
    for (mutation, documents) in [("applyDomain", &mesh.domains), ("applyProduct", &mesh.products)] {
        let query = format!("mutation($d: String!) {{ {mutation}(descriptor: $d) {{ id }} }}");
        for document in documents {
            let answer: Value = http
                .post(format!("{base_url}/graphql"))
                .json(&json!({"query": query, "variables": {"d": document}}))
                .send()
                .await?
                .json()
                .await?;
            if answer.get("errors").is_some() {
                bail!("{mutation} failed: {answer}");
            }
        }
    }
    Ok(())
}

const QUERY: &str =
    "query($s: NodeInput!, $first: Int!, $limit: Int!) { impactSummary(start: $s, depth: 1000, limit: $limit, first: $first) {
    datasetCount jobCount truncated nextCursor
    groups { product domain namespace datasetCount jobCount owners { name role source } }
    nodes { kind namespace name distance } } }";

/// What a summary said; the digest (groups and page) is the same over both transports.
#[derive(Debug, PartialEq, Eq)]
pub struct Said {
    pub datasets: u64,
    pub jobs: u64,
    pub groups: usize,
    pub digest: u64,
}

/// One `impactSummary` over GraphQL from a dataset.
pub async fn graphql(
    http: &reqwest::Client,
    base_url: &str,
    namespace: &str,
    name: &str,
    limit: u32,
) -> anyhow::Result<Said> {
    Ok(graphql_answer(http, base_url, namespace, name, limit).await?.0)
}

/// One `impactSummary` over GraphQL from a dataset, with the answer itself (for the answers file).
pub async fn graphql_answer(
    http: &reqwest::Client,
    base_url: &str,
    namespace: &str,
    name: &str,
    limit: u32,
) -> anyhow::Result<(Said, Value)> {
    let mut answer: Value = http
        .post(format!("{base_url}/graphql"))
        .json(&json!({"query": QUERY, "variables": {"s": {"kind": "DATASET", "namespace": namespace, "name": name}, "first": PAGE, "limit": limit}}))
        .send()
        .await?
        .json()
        .await?;
    let summary = &answer["data"]["impactSummary"];
    if summary.is_null() {
        bail!("impactSummary failed: {answer}");
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let groups = summary["groups"].as_array().context("groups")?;
    for group in groups {
        let text = |key: &str| group[key].as_str().unwrap_or("").to_owned();
        let count = |key: &str| group[key].as_u64().unwrap_or(0);
        (&text("product"), &text("domain"), &text("namespace"), count("datasetCount"), count("jobCount"))
            .hash(&mut hasher);
    }
    for node in summary["nodes"].as_array().context("nodes")? {
        let kind = if node["kind"] == "JOB" { 2 } else { 1 };
        let text = |key: &str| node[key].as_str().unwrap_or("").to_owned();
        (kind, &text("namespace"), &text("name"), node["distance"].as_u64().unwrap_or(0) as u32).hash(&mut hasher);
    }
    let said = Said {
        datasets: summary["datasetCount"].as_u64().context("datasetCount")?,
        jobs: summary["jobCount"].as_u64().context("jobCount")?,
        groups: groups.len(),
        digest: hasher.finish(),
    };
    Ok((said, answer["data"]["impactSummary"].take()))
}

/// The mesh as applied and Tributary's answer from every hub, for `benches/summary_peers.py`
/// (the SQL peers' closure + group by, cross-checked against these totals and groups):
/// `<root>/results/summary/<label>-<scale>.json`.
pub fn write_answers(
    root: &Path,
    label: &str,
    scale: &str,
    mesh: &MeshDescriptors,
    hubs: &[HubTimes],
) -> anyhow::Result<std::path::PathBuf> {
    let dir = root.join("results").join("summary");
    std::fs::create_dir_all(&dir)?;
    let parse = |documents: &[String]| -> anyhow::Result<Vec<Value>> {
        documents.iter().map(|d| serde_json::from_str(d).context("a descriptor")).collect()
    };
    let doc = json!({
        "peer": label, "scale": scale, "page": PAGE, "depth": 1000, "limit": LIMIT,
        "mesh": {"domains": parse(&mesh.domains)?, "products": parse(&mesh.products)?},
        "hubs": hubs.iter().map(|hub| json!({
            "namespace": hub.namespace, "name": hub.name, "graphql_median_ms": hub.graphql_ms, "grpc_median_ms": hub.grpc_ms,
            "graphql_walk_median_ms": hub.graphql_walk_ms, "grpc_walk_median_ms": hub.grpc_walk_ms,
            "answer": hub.answer})).collect::<Vec<_>>(),
    });
    let path = dir.join(format!("{label}-{scale}.json"));
    std::fs::write(&path, serde_json::to_vec(&doc)?)?;
    Ok(path)
}

/// One hub's answer and median times (ms): repeated calls, and calls that walk.
pub struct HubTimes {
    pub namespace: String,
    pub name: String,
    pub answer: Value,
    pub graphql_ms: f64,
    pub grpc_ms: f64,
    pub graphql_walk_ms: f64,
    pub grpc_walk_ms: f64,
}

/// One `Mesh/GetImpactSummary` from a dataset.
pub async fn grpc(
    client: &mut proto::mesh_client::MeshClient<tonic::transport::Channel>,
    namespace: &str,
    name: &str,
    limit: u32,
) -> anyhow::Result<Said> {
    let answer = client
        .get_impact_summary(proto::ImpactSummaryRequest {
            start: Some(proto::NodeRef {
                kind: proto::NodeKind::Dataset as i32,
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            }),
            direction: proto::Direction::Downstream as i32,
            depth: 1000,
            limit,
            page_size: PAGE,
            page_token: String::new(),
        })
        .await?
        .into_inner();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for group in &answer.groups {
        (&group.product, &group.domain, &group.namespace, group.dataset_count, group.job_count).hash(&mut hasher);
    }
    for node in &answer.nodes {
        let reference = node.node.as_ref().context("node")?;
        (reference.kind, &reference.namespace, &reference.name, node.distance).hash(&mut hasher);
    }
    Ok(Said {
        datasets: answer.dataset_count,
        jobs: answer.job_count,
        groups: answer.groups.len(),
        digest: hasher.finish(),
    })
}
