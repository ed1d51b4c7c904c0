//! Who may do what: the one place every front door's request is decided.
//!
//! Transports only extract the `Authorization` value and call [`Service::authenticate`],
//! which returns a handle acting for that caller. Every use case then asks this module
//! (`require_read`, `authorize_ingest`, `allow`) before touching anything, so a denied
//! request stores nothing. A handle made without a credential (`Service::open`, a request
//! without `Authorization`) is *unidentified*: allowed everything while the server runs open
//! (no token was ever created and `require_auth` is off), refused with `UNAUTHENTICATED`
//! otherwise. So forgetting to authenticate fails closed.
//!
//! Tokens live in the store (`K`) and in memory (`Tokens`, a leaf lock: held only to look
//! up or replace a record, never while taking another lock). Each use checks the token
//! again, so revoking one takes effect on the next request, in-flight streams included.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use tributary_auth::{Denied, Principal, Scope, TokenId, TokenRecord, Unauthenticated, generate_token, parse_bearer};
use tributary_model::{Actor, AuditKind, AuditRecord, Timestamp};
use tributary_openlineage::{EventBody, ParsedEvent};
use tributary_store::{AuditQuery, Store};

use crate::{Service, ServiceError};

/// How often a token's `last_used_at` is written back to the store (it is exact in memory).
const LAST_USED_PERSIST_SECONDS: i64 = 60;
/// Most audit entries in one page, and most keys looked at for one page.
pub const MAX_AUDIT_PAGE: usize = 1000;
const AUDIT_SCAN_BUDGET: usize = 100_000;

/// The tokens this server knows, by id. A leaf lock.
pub(crate) struct Tokens {
    records: RwLock<HashMap<TokenId, TokenRecord>>,
    /// Authentication is required: a token was ever created here, or the config says so.
    enabled: AtomicBool,
}

impl Tokens {
    pub(crate) fn load(store: &Store, require_auth: bool) -> Result<Self, ServiceError> {
        let records: Vec<TokenRecord> = store.tokens()?;
        let enabled = require_auth || !records.is_empty();
        Ok(Self {
            records: RwLock::new(records.into_iter().map(|record| (record.id.clone(), record)).collect()),
            enabled: AtomicBool::new(enabled),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TokenId, TokenRecord>> {
        self.records.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<TokenId, TokenRecord>> {
        self.records.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }
}

/// Who a [`Service`] handle acts for.
#[derive(Clone)]
pub(crate) enum Caller {
    /// No credential was presented.
    Unidentified,
    Known(Arc<Principal>),
}

fn open_principal() -> Arc<Principal> {
    static OPEN: OnceLock<Arc<Principal>> = OnceLock::new();
    Arc::clone(OPEN.get_or_init(|| Arc::new(Principal::anonymous_open())))
}

/// A token as listed: everything but its secret's hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_by: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl From<&TokenRecord> for TokenView {
    fn from(record: &TokenRecord) -> Self {
        Self {
            id: record.id.to_string(),
            name: record.name.clone(),
            scopes: record.scopes.iter().map(ToString::to_string).collect(),
            created_by: record.created_by.clone(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            last_used_at: record.last_used_at,
            revoked_at: record.revoked_at,
        }
    }
}

/// A token just created: the secret is in `token`, shown this once and never stored.
#[derive(Clone)]
pub struct CreatedToken {
    pub token: String,
    pub view: TokenView,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        out.debug_struct("CreatedToken").field("token", &"<redacted>").field("view", &self.view).finish()
    }
}

/// Which audit entries to list (see [`Service::audit`]).
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only entries of this token id, or with this actor name.
    pub actor: Option<String>,
    pub kinds: Vec<AuditKind>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// The cursor of the previous page.
    pub after: Option<String>,
    /// At most this many (capped at [`MAX_AUDIT_PAGE`]).
    pub limit: usize,
}

impl AuditFilter {
    /// The filter from a request's text fields, as both transports receive them: empty
    /// strings mean "not given"; errors name the field.
    pub fn from_request(
        actor: &str,
        kinds: &[String],
        since: &str,
        until: &str,
        after: &str,
        limit: usize,
    ) -> Result<Self, ServiceError> {
        let time = |field: &str, text: &str| -> Result<Option<Timestamp>, ServiceError> {
            if text.is_empty() {
                return Ok(None);
            }
            Timestamp::parse(text).map(Some).map_err(|error| ServiceError::invalid(field, error.to_string()))
        };
        let kinds = kinds
            .iter()
            .enumerate()
            .map(|(index, text)| {
                AuditKind::parse(text).ok_or_else(|| {
                    let known: Vec<&str> = AuditKind::ALL.iter().map(|kind| kind.as_str()).collect();
                    ServiceError::invalid(
                        format!("kinds[{index}]"),
                        format!("unknown audit kind `{text}`: expected one of {}", known.join(", ")),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            actor: (!actor.is_empty()).then(|| actor.to_owned()),
            kinds,
            since: time("since", since)?,
            until: time("until", until)?,
            after: (!after.is_empty()).then(|| after.to_owned()),
            limit,
        })
    }
}

/// Parses a token expiry as a request gives it (RFC 3339; empty: never).
pub fn parse_expiry(text: &str) -> Result<Option<Timestamp>, ServiceError> {
    if text.is_empty() {
        return Ok(None);
    }
    Timestamp::parse(text).map(Some).map_err(|error| ServiceError::invalid("expiresAt", error.to_string()))
}

/// A page of the audit trail, newest first; `next` continues it.
#[derive(Clone, Debug, Default)]
pub struct AuditPageView {
    pub entries: Vec<AuditRecord>,
    pub next: Option<String>,
}

impl Service {
    /// A handle acting for the caller whose `Authorization` header (or gRPC metadata) value
    /// this is. No value: an unidentified caller (allowed everything only while the server
    /// runs open). A value that is not a valid, live token: `UNAUTHENTICATED`, except on a
    /// server that never had a token, where a client's token is ignored as before.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Service, ServiceError> {
        let tokens = &self.shared.tokens;
        let Some(value) = authorization else { return Ok(self.acting_for(Caller::Unidentified)) };
        if !tokens.enabled() {
            return Ok(self.acting_for(Caller::Unidentified));
        }
        let (id, secret) = parse_bearer(value).ok_or(Unauthenticated::Malformed)?;
        let now = Timestamp::now();
        let principal = {
            let records = tokens.read();
            let record = records.get(&id).ok_or(Unauthenticated::UnknownToken)?;
            record.check(&secret, now)?;
            let stale = record.last_used_at.is_none_or(|last| now.0 - last.0 >= LAST_USED_PERSIST_SECONDS * 1_000_000);
            let principal = Principal::from_token(record);
            drop(records);
            if stale {
                self.mark_used(&id, now);
            }
            principal
        };
        Ok(self.acting_for(Caller::Known(Arc::new(principal))))
    }

    /// Whether this handle's caller may make requests at all (known and live, or the server
    /// is open): the cheap check before a transport decodes a large body for it.
    pub fn check_caller(&self) -> Result<(), ServiceError> {
        self.principal().map(drop)
    }

    /// A handle for a command working on the store directly (`tributary import`, `token
    /// create --data-dir`): allowed everything, recorded as the local operator.
    pub fn as_local_operator(&self) -> Service {
        self.acting_for(Caller::Known(Arc::new(Principal::local_operator())))
    }

    /// Whether requests need a token (a token was ever created, or the server requires one).
    pub fn auth_required(&self) -> bool {
        self.shared.tokens.enabled()
    }

    fn acting_for(&self, caller: Caller) -> Service {
        Service { caller, ..self.clone() }
    }

    /// Whose queue the caller's heavy reads wait in (`admission`, `pool`): its token, else
    /// everyone's. Not a check of the credential (see [`Self::principal`]).
    pub(crate) fn queue_key(&self) -> crate::admission::Caller {
        match &self.caller {
            Caller::Known(principal) => crate::admission::Caller::of(principal),
            Caller::Unidentified => crate::admission::Caller::Everyone,
        }
    }

    /// The caller, checked now: a token revoked or expired since the handle was made is
    /// refused here.
    pub(crate) fn principal(&self) -> Result<Arc<Principal>, ServiceError> {
        match &self.caller {
            Caller::Unidentified if self.shared.tokens.enabled() => Err(Unauthenticated::Missing.into()),
            Caller::Unidentified => Ok(open_principal()),
            Caller::Known(principal) => {
                if let Some(id) = principal.token_id() {
                    let records = self.shared.tokens.read();
                    let record = records.get(id).ok_or(Unauthenticated::UnknownToken)?;
                    if let Some(at) = record.revoked_at {
                        return Err(Unauthenticated::Revoked { id: id.clone(), at }.into());
                    }
                    if let Some(at) = record.expires_at.filter(|at| Timestamp::now() >= *at) {
                        return Err(Unauthenticated::Expired { id: id.clone(), at }.into());
                    }
                }
                Ok(Arc::clone(principal))
            }
        }
    }

    /// The caller, if `decide` allows the request.
    pub(crate) fn allow(
        &self,
        decide: impl FnOnce(&Principal) -> Result<(), Denied>,
    ) -> Result<Arc<Principal>, ServiceError> {
        let principal = self.principal()?;
        decide(&principal)?;
        Ok(principal)
    }

    /// Reading lineage, the mesh and everything else that is not a secret needs `read`.
    pub(crate) fn require_read(&self) -> Result<Arc<Principal>, ServiceError> {
        self.allow(Principal::can_read)
    }

    /// An event is accepted when its job and every output dataset are within the caller's
    /// ingest grant (inputs may be anywhere), and every symlink alias it declares too (an alias
    /// redirects later lookups of that name, so declaring one writes that namespace).
    pub(crate) fn authorize_ingest(&self, event: &ParsedEvent) -> Result<Arc<Principal>, ServiceError> {
        self.allow(|principal| {
            let aliases: Vec<&str> = declared_alias_namespaces(event);
            match &event.body {
                EventBody::Run(body) => {
                    let outputs: Vec<&str> = body.outputs.iter().map(|d| &*d.id.namespace).collect();
                    principal.can_ingest(&body.job.namespace, &outputs)?;
                }
                EventBody::Job(body) => {
                    let outputs: Vec<&str> = body.outputs.iter().map(|d| &*d.id.namespace).collect();
                    principal.can_ingest(&body.job.namespace, &outputs)?;
                }
                EventBody::Dataset(body) => principal.can_write_datasets(&[&body.dataset.id.namespace])?,
            }
            if aliases.is_empty() { Ok(()) } else { principal.can_write_datasets(&aliases) }
        })
    }

    /// Creates a token (needs `admin`). The secret is in the answer only.
    pub async fn create_token(
        &self,
        name: String,
        scopes: Vec<String>,
        expires_at: Option<Timestamp>,
    ) -> Result<CreatedToken, ServiceError> {
        let principal = self.allow(Principal::can_admin)?;
        let scopes = scopes
            .iter()
            .enumerate()
            .map(|(index, text)| {
                text.parse::<Scope>()
                    .map_err(|error| ServiceError::invalid(format!("scopes[{index}]"), error.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.blocking(move |shared| {
            let now = Timestamp::now();
            let actor = principal.actor();
            let (secret, record) = generate_token(&name, scopes, &actor.describe(), now, expires_at)?;
            let mut audit =
                AuditRecord::new(now, actor, AuditKind::TokenCreated, format!("token {} ({})", record.id, record.name));
            audit.details = record.scopes.iter().map(|scope| format!("scope {scope}")).collect();
            shared.store.put_token_audited(record.id.as_str(), &record, &audit)?;
            let view = TokenView::from(&record);
            let token = secret.reveal(&record.id);
            shared.tokens.write().insert(record.id.clone(), record);
            // From the first token on, every request needs one.
            shared.tokens.enabled.store(true, Ordering::Release);
            Ok(CreatedToken { token, view })
        })
        .await
    }

    /// Every token, revoked ones included, oldest first (needs `admin`).
    pub fn tokens(&self) -> Result<Vec<TokenView>, ServiceError> {
        self.allow(Principal::can_admin)?;
        let mut views: Vec<TokenView> = self.shared.tokens.read().values().map(TokenView::from).collect();
        views.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(views)
    }

    /// Revokes a token at once (needs `admin`); revoking a revoked token changes nothing.
    pub async fn revoke_token(&self, id: String) -> Result<TokenView, ServiceError> {
        let principal = self.allow(Principal::can_admin)?;
        let id = TokenId::parse(&id).map_err(|error| ServiceError::invalid("id", error.to_string()))?;
        self.blocking(move |shared| {
            let now = Timestamp::now();
            let mut record = shared
                .tokens
                .read()
                .get(&id)
                .cloned()
                .ok_or_else(|| ServiceError::NotFound(format!("no token with id `{id}`")))?;
            if record.revoke(now) {
                let audit = AuditRecord::new(
                    now,
                    principal.actor(),
                    AuditKind::TokenRevoked,
                    format!("token {} ({})", record.id, record.name),
                );
                shared.store.put_token_audited(record.id.as_str(), &record, &audit)?;
                shared.tokens.write().insert(id, record.clone());
            }
            Ok(TokenView::from(&record))
        })
        .await
    }

    /// A page of the audit trail, newest first (needs `admin`).
    pub async fn audit(&self, filter: AuditFilter) -> Result<AuditPageView, ServiceError> {
        self.allow(Principal::can_admin)?;
        if filter.limit == 0 || filter.limit > MAX_AUDIT_PAGE {
            return Err(ServiceError::invalid("first", format!("must be between 1 and {MAX_AUDIT_PAGE}")));
        }
        if let Some(after) = &filter.after
            && (after.len() != 34 || !after.bytes().all(|byte| byte.is_ascii_hexdigit()))
        {
            return Err(ServiceError::invalid("after", "not a cursor this server gave out"));
        }
        self.blocking(move |shared| {
            let query = AuditQuery {
                since: filter.since,
                until: filter.until,
                kinds: filter.kinds.clone(),
                after: filter.after.clone(),
                limit: filter.limit,
                scan_budget: AUDIT_SCAN_BUDGET,
            };
            let actor = filter.actor.as_deref();
            let page = shared.store.audit(&query, |record| {
                actor.is_none_or(|wanted| {
                    record.actor.token_id.as_deref() == Some(wanted) || record.actor.name == wanted
                })
            })?;
            Ok(AuditPageView { entries: page.entries, next: page.next })
        })
        .await
    }

    /// Moves a token's `last_used_at` in memory and writes it back (not flushed: it rides on
    /// the next flush; losing it in a crash loses only a usage time).
    fn mark_used(&self, id: &TokenId, now: Timestamp) {
        let updated = {
            let mut records = self.shared.tokens.write();
            let Some(record) = records.get_mut(id) else { return };
            record.mark_used(now);
            record.clone()
        };
        if let Err(error) = self.shared.store.put_token(id.as_str(), &updated, false) {
            tracing::warn!(error = %error, token = %id, "recording a token's last use failed");
        }
    }
}

impl crate::Shared {
    /// Records a refused apply (policy violations, missing scope) in the audit trail. The
    /// refusal is the answer either way; a failure to record it is logged.
    pub(crate) fn audit_rejected_apply(&self, actor: Actor, subject: String, error: &ServiceError) {
        let mut audit = AuditRecord::new(Timestamp::now(), actor, AuditKind::ApplyRejected, subject);
        audit.details = match error {
            ServiceError::PolicyViolation { violations } => violations
                .iter()
                .map(|violation| format!("[{}] {}: {}", violation.policy, violation.subject, violation.reason))
                .collect(),
            other => vec![other.to_string()],
        };
        if let Err(failure) = self.store.put_audit(&audit) {
            tracing::error!(error = %failure, "recording a refused apply in the audit trail failed");
        }
    }
}

/// Namespaces of the aliases (`symlinks` facet identifiers) the event declares on any dataset.
fn declared_alias_namespaces(event: &ParsedEvent) -> Vec<&str> {
    let datasets: Vec<&tributary_openlineage::DatasetRef> = match &event.body {
        EventBody::Run(body) => body.inputs.iter().chain(&body.outputs).collect(),
        EventBody::Job(body) => body.inputs.iter().chain(&body.outputs).collect(),
        EventBody::Dataset(body) => vec![&body.dataset],
    };
    let mut namespaces: Vec<&str> = datasets
        .iter()
        .filter_map(|dataset| dataset.facets.value("symlinks"))
        .filter_map(|facet| facet.get("identifiers").and_then(serde_json::Value::as_array))
        .flatten()
        .filter_map(|identifier| identifier.get("namespace").and_then(serde_json::Value::as_str))
        .collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    namespaces
}
