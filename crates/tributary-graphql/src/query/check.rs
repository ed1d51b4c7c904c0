//! The change check, schema diffs and schema changes seen in ingest.

use crate::error::gql_error;
use crate::scalars::service;
use crate::types::change_check::{ChangeCheck, SchemaFormat, dataset_node};
use crate::types::column_lineage::DatasetInput;
use crate::types::schema_change::SchemaChange;
use async_graphql::{Context, Json, Object, Result};
use tributary_service::SchemaFormat as ServiceFormat;
use tributary_service::model::DatasetId;

#[derive(Default)]
pub struct CheckQuery;

#[Object]
impl CheckQuery {
    /// If `dataset`'s schema changed to `schema`, what breaks downstream, where, owned by whom?
    async fn check_change(
        &self,
        context: &Context<'_>,
        dataset: DatasetInput,
        schema: String,
        #[graphql(default_with = "SchemaFormat::Openlineage")] format: SchemaFormat,
        dbt_model: Option<String>,
    ) -> Result<ChangeCheck> {
        let format = match format {
            SchemaFormat::Openlineage => ServiceFormat::OpenLineage,
            SchemaFormat::Dbt => ServiceFormat::Dbt,
        };
        let report = service(context)
            .check_change_text(DatasetId::new(dataset.namespace, dataset.name), schema, format, dbt_model)
            .await
            .map_err(gql_error)?;
        Ok(ChangeCheck::new(report))
    }
}

#[derive(Default)]
pub struct ChangesQuery;

#[Object]
impl ChangesQuery {
    /// Diffs two stored schema versions of a dataset (`schemaVersions { version }`; a unique
    /// prefix of 8 or more characters will do), classified, with what the changes reach now.
    async fn schema_diff(
        &self,
        context: &Context<'_>,
        dataset: DatasetInput,
        from: String,
        to: String,
    ) -> Result<ChangeCheck> {
        let report = service(context)
            .diff_schema_versions(DatasetId::new(dataset.namespace, dataset.name), from, to)
            .await
            .map_err(gql_error)?;
        Ok(ChangeCheck::new(report))
    }

    /// Schema changes seen in ingested events, newest first. Each is recorded just after its
    /// event's acknowledgement; the answer waits (up to 10 s) until the changes of every event
    /// the server reflects are recorded, and past that is refused as UNAVAILABLE (retry), never
    /// answered incomplete.
    async fn schema_changes(
        &self,
        context: &Context<'_>,
        dataset: Option<DatasetInput>,
        since: Option<String>,
        min_verdict: Option<String>,
        #[graphql(default = 100)] first: usize,
    ) -> Result<Vec<SchemaChange>> {
        use tributary_service::{SchemaChangeFilter, ServiceError, parse_verdict};
        let since = since
            .map(|text| {
                tributary_service::model::Timestamp::parse(&text)
                    .map_err(|e| ServiceError::invalid("since", e.to_string()))
            })
            .transpose()
            .map_err(gql_error)?;
        let min_verdict = min_verdict
            .map(|text| {
                parse_verdict(&text).ok_or_else(|| {
                    ServiceError::invalid("minVerdict", "must be SAFE, PRODUCER-SIDE, RISKY or BREAKING")
                })
            })
            .transpose()
            .map_err(gql_error)?;
        if first == 0 || first > 1000 {
            return Err(gql_error(ServiceError::invalid("first", "must be between 1 and 1000")));
        }
        let filter =
            SchemaChangeFilter { dataset: dataset.map(|d| DatasetId::new(d.namespace, d.name)), since, min_verdict };
        let records = service(context).schema_changes(filter, first).await.map_err(gql_error)?;
        Ok(records
            .into_iter()
            .map(|r| SchemaChange {
                sequence: r.sequence,
                time: r.time.to_rfc3339(),
                dataset: dataset_node(&r.dataset),
                from_version: r.from,
                to_version: r.to,
                verdict: r.verdict.as_str().to_owned(),
                report: Json(r.report),
            })
            .collect())
    }
}
