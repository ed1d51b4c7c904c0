//! `tributary.v1.Admin`: tokens, the audit trail and the store's online compaction.

use tonic::{Request, Response, Status};
use tributary_service::model::AuditRecord;
use tributary_service::{AuditFilter, CompactionState, Service, TokenView, parse_expiry};

use crate::convert::{status, time};
use crate::proto;

/// Audit entries per page when the request gives no size.
const DEFAULT_AUDIT_PAGE: usize = 100;

pub(crate) struct AdminApi {
    service: Service,
}

impl AdminApi {
    pub(crate) fn new(service: Service) -> Self {
        Self { service }
    }
}

/// A token as `Admin` answers it (also what the CLI prints, locally or remotely).
pub fn token_message(view: TokenView) -> proto::Token {
    proto::Token {
        id: view.id,
        name: view.name,
        scopes: view.scopes,
        created_by: view.created_by,
        created_at: time(Some(view.created_at)),
        expires_at: time(view.expires_at),
        last_used_at: time(view.last_used_at),
        revoked_at: time(view.revoked_at),
    }
}

fn audit_entry(record: AuditRecord) -> proto::AuditEntry {
    proto::AuditEntry {
        at: time(Some(record.at)),
        actor_kind: record.actor.via.as_str().to_owned(),
        token_id: record.actor.token_id.unwrap_or_default(),
        actor_name: record.actor.name,
        kind: record.kind.as_str().to_owned(),
        subject: record.subject,
        sequence: record.sequence.unwrap_or_default(),
        version: record.version.unwrap_or_default(),
        details: record.details,
    }
}

fn compaction_message(state: CompactionState) -> proto::StoreCompaction {
    use proto::store_compaction::Stage;
    match state {
        CompactionState::Idle => proto::StoreCompaction { stage: Stage::Idle.into(), ..Default::default() },
        CompactionState::Running { started_at, keys_copied } => proto::StoreCompaction {
            stage: Stage::Running.into(),
            started_at: time(Some(started_at)),
            keys_copied,
            ..Default::default()
        },
        CompactionState::Finished { started_at, finished_at, report } => proto::StoreCompaction {
            stage: Stage::Finished.into(),
            started_at: time(Some(started_at)),
            finished_at: time(Some(finished_at)),
            keys_copied: report.keys,
            bytes_copied: report.bytes,
            bytes_on_disk_before: report.before,
            bytes_on_disk_after: report.after,
            generation: report.generation,
            longest_hold_ms: report.longest_hold.as_secs_f64() * 1000.0,
            switch_hold_ms: report.switch_hold.as_secs_f64() * 1000.0,
            ..Default::default()
        },
        CompactionState::Failed { started_at, finished_at, error } => proto::StoreCompaction {
            stage: Stage::Failed.into(),
            started_at: time(Some(started_at)),
            finished_at: time(Some(finished_at)),
            error,
            ..Default::default()
        },
    }
}

#[tonic::async_trait]
impl proto::admin_server::Admin for AdminApi {
    async fn compact_store(
        &self,
        request: Request<proto::CompactStoreRequest>,
    ) -> Result<Response<proto::StoreCompaction>, Status> {
        let service = crate::caller(&self.service, &request);
        Ok(Response::new(compaction_message(service.start_compaction().map_err(status)?)))
    }

    async fn get_store_compaction(
        &self,
        request: Request<proto::GetStoreCompactionRequest>,
    ) -> Result<Response<proto::StoreCompaction>, Status> {
        let service = crate::caller(&self.service, &request);
        Ok(Response::new(compaction_message(service.compaction().map_err(status)?)))
    }

    async fn create_token(
        &self,
        request: Request<proto::CreateTokenRequest>,
    ) -> Result<Response<proto::CreateTokenResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let request = request.into_inner();
        let expires_at = parse_expiry(&request.expires_at).map_err(status)?;
        let created = service.create_token(request.name, request.scopes, expires_at).await.map_err(status)?;
        Ok(Response::new(proto::CreateTokenResponse {
            token: created.token,
            details: Some(token_message(created.view)),
        }))
    }

    async fn list_tokens(
        &self,
        request: Request<proto::ListTokensRequest>,
    ) -> Result<Response<proto::ListTokensResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let tokens = service.tokens().map_err(status)?.into_iter().map(token_message).collect();
        Ok(Response::new(proto::ListTokensResponse { tokens }))
    }

    async fn revoke_token(
        &self,
        request: Request<proto::RevokeTokenRequest>,
    ) -> Result<Response<proto::Token>, Status> {
        let service = crate::caller(&self.service, &request);
        let view = service.revoke_token(request.into_inner().id).await.map_err(status)?;
        Ok(Response::new(token_message(view)))
    }

    async fn list_audit(
        &self,
        request: Request<proto::ListAuditRequest>,
    ) -> Result<Response<proto::ListAuditResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let request = request.into_inner();
        let limit = if request.page_size == 0 { DEFAULT_AUDIT_PAGE } else { request.page_size as usize };
        let filter = AuditFilter::from_request(
            &request.actor,
            &request.kinds,
            &request.since,
            &request.until,
            &request.after,
            limit,
        )
        .map_err(status)?;
        let page = service.audit(filter).await.map_err(status)?;
        Ok(Response::new(proto::ListAuditResponse {
            entries: page.entries.into_iter().map(audit_entry).collect(),
            next_cursor: page.next.unwrap_or_default(),
        }))
    }
}
