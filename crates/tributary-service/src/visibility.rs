//! Restricted products: who may see which datasets by name.
//!
//! A dataset of a product classified `restricted` (or of a restricted output port) shows its
//! name, columns and facets only to readers granted its domain (`domain:<id>`, or `admin`, or
//! anyone on an open server). Everyone else sees a *redacted node*: namespace
//! `redacted:<domain>`, name `<product>#<opaque id>`, where the opaque id is an HMAC of the
//! real name under this store's secret key: stable across answers and restarts, so counts,
//! paths and impact groups stay honest, and useless for guessing the name. Looking such a
//! dataset up by its real name (its page, lineage or column lineage from it, its owners, a
//! change check on it) is refused with `FORBIDDEN` naming the domain scope; events, search
//! hits, listings and schema changes about it are left out for such readers.
//!
//! Every read use case builds one [`Visibility`] from the caller and the mesh (an `Arc` clone
//! of the restricted set: nothing to do in the common case of no restricted product).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tributary_auth::{Principal, RedactionKey, redacted_id};
use tributary_graph::{AnswerSink, NodeName};
use tributary_model::{DatasetId, EdgeKind, NodeKind, NodeRef};

use crate::mesh::Membership;
use crate::{ServiceError, State};

/// The namespace prefix of redacted datasets.
pub const REDACTED_NAMESPACE_PREFIX: &str = "redacted:";

/// What one caller may see of the restricted datasets.
pub(crate) struct Visibility {
    /// Every restricted dataset of the mesh, shared with it (an `Arc` clone, never copied).
    restricted: Arc<HashMap<DatasetId, Membership>>,
    /// The domains whose restricted datasets this caller may not see (empty for most callers:
    /// then nothing is hidden).
    hidden_domains: HashSet<String>,
    key: RedactionKey,
}

impl Visibility {
    /// Decided once per domain, not per dataset: free for a caller who sees everything (an
    /// open server, `admin`) and a pass over the restricted datasets without allocating for
    /// the others.
    pub(crate) fn new(principal: &Principal, state: &State, key: &RedactionKey) -> Self {
        let restricted = Arc::clone(&state.mesh.restricted);
        let mut hidden_domains = HashSet::new();
        if !restricted.is_empty() && !principal.sees_every_domain() {
            let mut decided: HashSet<&str> = HashSet::new();
            for membership in restricted.values() {
                if decided.insert(membership.domain.as_str())
                    && principal.can_see_restricted(&membership.domain).is_err()
                {
                    hidden_domains.insert(membership.domain.clone());
                }
            }
        }
        Self { restricted, hidden_domains, key: key.clone() }
    }

    /// Nothing to hide from this caller.
    pub(crate) fn sees_everything(&self) -> bool {
        self.hidden_domains.is_empty()
    }

    /// The membership of a dataset this caller may not see; `None` when it may.
    fn hidden(&self, id: &DatasetId) -> Option<&Membership> {
        if self.sees_everything() {
            return None;
        }
        self.restricted.get(id).filter(|membership| self.hidden_domains.contains(&membership.domain))
    }

    /// The datasets this caller may not see.
    fn hidden_ids(&self) -> impl Iterator<Item = &DatasetId> {
        // Nothing to look through when nothing is hidden.
        let any = if self.sees_everything() { 0 } else { usize::MAX };
        self.restricted
            .iter()
            .take(any)
            .filter(|(_, membership)| self.hidden_domains.contains(&membership.domain))
            .map(|(id, _)| id)
    }

    pub(crate) fn hides(&self, id: &DatasetId) -> bool {
        self.hidden(id).is_some()
    }

    /// The redacted id of a dataset this caller may not see; itself otherwise.
    pub(crate) fn dataset(&self, id: &DatasetId) -> DatasetId {
        match self.hidden(id) {
            None => id.clone(),
            Some(membership) => DatasetId::new(
                format!("{REDACTED_NAMESPACE_PREFIX}{}", membership.domain),
                format!("{}#{}", membership.product, redacted_id(&id.namespace, &id.name, &self.key)),
            ),
        }
    }

    /// A column of a dataset this caller may not see keeps its place but not its name.
    pub(crate) fn column(&self, id: &DatasetId, field: &str) -> (DatasetId, String) {
        if !self.hides(id) || field == "*" {
            return (self.dataset(id), field.to_owned());
        }
        let column = redacted_id(&format!("{}\0{}", id.namespace, id.name), field, &self.key);
        (self.dataset(id), format!("column#{column}"))
    }

    pub(crate) fn node(&self, node: &NodeRef) -> NodeRef {
        if node.kind != NodeKind::Dataset || self.sees_everything() {
            return node.clone();
        }
        NodeRef::from(&self.dataset(&DatasetId::new(&*node.namespace, &*node.name)))
    }

    pub(crate) fn redact_nodes(&self, nodes: &mut [NodeRef]) {
        if self.sees_everything() {
            return;
        }
        for node in nodes {
            *node = self.node(node);
        }
    }

    /// The real dataset behind a redacted node this caller was shown (so it can ask about
    /// it again: its lineage, its impact group); any other node as it is.
    pub(crate) fn reveal(&self, node: &NodeRef) -> NodeRef {
        if node.kind != NodeKind::Dataset || !node.namespace.starts_with(REDACTED_NAMESPACE_PREFIX) {
            return node.clone();
        }
        self.hidden_ids()
            .find(|id| self.dataset(id).name == node.name && self.dataset(id).namespace == node.namespace)
            .map_or_else(|| node.clone(), NodeRef::from)
    }

    /// Refuses a request naming a dataset this caller may not see.
    pub(crate) fn check_named(&self, principal: &Principal, id: &DatasetId) -> Result<(), ServiceError> {
        if let Some(membership) = self.hidden(id) {
            principal.can_see_restricted(&membership.domain)?;
        }
        Ok(())
    }

    /// The dataset a request names, as the walk needs it: a redacted node this caller was
    /// shown is revealed; a hidden dataset named by its real name is refused.
    pub(crate) fn named_start(&self, principal: &Principal, id: &DatasetId) -> Result<DatasetId, ServiceError> {
        let node = NodeRef::from(id);
        let revealed = self.reveal(&node);
        if revealed == node {
            self.check_named(principal, id)?;
        }
        Ok(DatasetId::new(revealed.namespace, revealed.name))
    }

    /// `sink` behind this caller's redaction: hidden datasets reach it by their redacted names
    /// (every lineage answer is redacted so, whatever names it).
    pub(crate) fn redacting<'a, S: AnswerSink>(&'a self, sink: &'a mut S) -> Redacting<'a, S> {
        Redacting { visibility: self, namespaces: self.hidden_namespaces(), sink }
    }

    /// The namespaces that hold a hidden dataset: most nodes lie in others, and are passed
    /// without building an id to look up.
    fn hidden_namespaces(&self) -> HashSet<&str> {
        self.hidden_ids().map(|id| id.namespace.as_str()).collect()
    }

    /// The name this caller sees for a node it may not see; `None` when it may.
    fn shown_name(&self, namespaces: &HashSet<&str>, node: &NodeName) -> Option<NodeName> {
        if node.kind != NodeKind::Dataset || !namespaces.contains(&*node.namespace) {
            return None;
        }
        let id = DatasetId::new(&*node.namespace, &*node.name);
        if !self.hides(&id) {
            return None;
        }
        let shown = self.dataset(&id);
        Some(NodeName { kind: node.kind, namespace: shown.namespace.into(), name: shown.name.into() })
    }

    pub(crate) fn redact_columns(&self, answer: &mut tributary_graph::ColumnAnswer) {
        if self.sees_everything() {
            return;
        }
        let column = |(id, field): &(DatasetId, String)| self.column(id, field);
        for hit in &mut answer.columns {
            (hit.dataset, hit.field) = self.column(&hit.dataset, &hit.field);
            for step in &mut hit.path {
                *step = column(step);
            }
        }
        for edge in &mut answer.edges {
            edge.from = column(&edge.from);
            edge.to = column(&edge.to);
        }
        for unverified in &mut answer.unverified {
            unverified.dataset = self.dataset(&unverified.dataset);
            unverified.via = column(&unverified.via);
            for step in &mut unverified.path {
                *step = column(step);
            }
        }
    }

    /// A run as this caller may see it: hidden datasets redacted, their run facets dropped.
    pub(crate) fn redact_run(&self, mut run: tributary_model::RunRecord) -> tributary_model::RunRecord {
        if self.sees_everything() {
            return run;
        }
        let redact = |datasets: std::collections::BTreeMap<DatasetId, tributary_model::Facets>| {
            datasets
                .into_iter()
                .map(
                    |(id, facets)| if self.hides(&id) { (self.dataset(&id), Default::default()) } else { (id, facets) },
                )
                .collect()
        };
        run.inputs = redact(std::mem::take(&mut run.inputs));
        run.outputs = redact(std::mem::take(&mut run.outputs));
        run
    }

    /// A `namespace:name.field` path step, redacted when it is a column of a hidden dataset.
    pub(crate) fn path_step(&self, step: &str) -> String {
        for id in self.hidden_ids() {
            if let Some(field) = step.strip_prefix(&format!("{}:{}.", id.namespace, id.name)) {
                let (dataset, column) = self.column(id, field);
                return format!("{}:{}.{column}", dataset.namespace, dataset.name);
            }
        }
        step.to_owned()
    }

    pub(crate) fn redact_violation(&self, violation: &mut tributary_mesh::Violation) {
        if self.sees_everything() {
            return;
        }
        if let Some(dataset) = &violation.dataset
            && self.hides(dataset)
        {
            if let Some(column) = &violation.column {
                violation.column = Some(self.column(dataset, column).1);
            }
            violation.dataset = Some(self.dataset(dataset));
        }
        for step in &mut violation.column_path {
            *step = self.column(&step.0, &step.1);
        }
        for step in &mut violation.path {
            *step = self.path_step(step);
        }
    }

    pub(crate) fn redact_product(&self, product: &mut tributary_mesh::ProductDescriptor) {
        if self.sees_everything() {
            return;
        }
        for port in &mut product.output_ports {
            port.dataset = self.dataset(&port.dataset);
        }
        for dataset in &mut product.internal_datasets {
            *dataset = self.dataset(dataset);
        }
    }

    pub(crate) fn redact_report(&self, report: &mut crate::ChangeReport) {
        if self.sees_everything() {
            return;
        }
        for checked in &mut report.changes {
            for impact in &mut checked.impacts {
                if self.hides(&impact.dataset) {
                    if let Some(field) = &impact.field {
                        impact.field = Some(self.column(&impact.dataset, field).1);
                    }
                    impact.dataset = self.dataset(&impact.dataset);
                }
                for step in &mut impact.path {
                    *step = self.path_step(step);
                }
            }
        }
        self.redact_nodes(&mut report.affected_datasets);
        for group in &mut report.groups {
            self.redact_group(group);
        }
    }

    pub(crate) fn redact_group(&self, group: &mut crate::ImpactGroup) {
        if self.sees_everything() {
            return;
        }
        for dataset in &mut group.datasets {
            let redacted = self.node(dataset);
            if redacted != *dataset {
                let real = format!("{}:{}", dataset.namespace, dataset.name);
                let shown = format!("{}:{}", redacted.namespace, redacted.name);
                for owner in &mut group.owners {
                    owner.source = owner.source.replace(&real, &shown);
                }
                *dataset = redacted;
            }
        }
    }

    /// Whether an event (its JSON) names a dataset this caller may not see.
    pub(crate) fn hides_event(&self, event: &serde_json::Value) -> bool {
        if self.sees_everything() {
            return false;
        }
        let named = |list: &str| {
            event.get(list).and_then(serde_json::Value::as_array).into_iter().flatten().any(|dataset| {
                let namespace = dataset.get("namespace").and_then(serde_json::Value::as_str).unwrap_or("");
                let name = dataset.get("name").and_then(serde_json::Value::as_str).unwrap_or("");
                self.hides(&DatasetId::new(namespace, name))
            })
        };
        let dataset_event = event.get("dataset").is_some_and(|dataset| {
            let namespace = dataset.get("namespace").and_then(serde_json::Value::as_str).unwrap_or("");
            let name = dataset.get("name").and_then(serde_json::Value::as_str).unwrap_or("");
            self.hides(&DatasetId::new(namespace, name))
        });
        dataset_event || named("inputs") || named("outputs")
    }
}

/// A lineage answer's sink behind a caller's redaction ([`Visibility::redacting`]).
pub(crate) struct Redacting<'a, S> {
    visibility: &'a Visibility,
    namespaces: HashSet<&'a str>,
    sink: &'a mut S,
}

impl<S> Redacting<'_, S> {
    fn shown<'n>(&self, node: &'n NodeName) -> std::borrow::Cow<'n, NodeName> {
        match self.visibility.shown_name(&self.namespaces, node) {
            Some(shown) => std::borrow::Cow::Owned(shown),
            None => std::borrow::Cow::Borrowed(node),
        }
    }
}

impl<S: AnswerSink> AnswerSink for Redacting<'_, S> {
    fn node(&mut self, node: &NodeName, distance: u32) {
        let node = self.shown(node);
        self.sink.node(&node, distance);
    }

    fn edge(&mut self, from: &NodeName, to: &NodeName, kind: EdgeKind) {
        self.edge_at(from, to, kind, None);
    }

    // A redacted node keeps its position: the positions pass through.
    fn edge_at(&mut self, from: &NodeName, to: &NodeName, kind: EdgeKind, at: Option<(u32, u32)>) {
        let (from, to) = (self.shown(from), self.shown(to));
        self.sink.edge_at(&from, &to, kind, at);
    }

    fn by_position(&self) -> bool {
        self.sink.by_position()
    }

    fn edge_between(&mut self, from: u32, to: u32, kind: EdgeKind) {
        self.sink.edge_between(from, to, kind);
    }
}
