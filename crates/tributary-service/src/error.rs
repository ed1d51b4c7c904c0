use tributary_openlineage::EventError;
use tributary_store::StoreError;

/// The small set of codes every transport maps its errors from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is wrong; retrying it unchanged will fail again.
    InvalidArgument,
    NotFound,
    /// The request is well-formed but a blocking policy or the current state refuses it.
    FailedPrecondition,
    /// The server cannot do it now (shutting down, the disk refuses writes, still loading);
    /// retrying later may work.
    Unavailable,
    /// The request ran out of its time budget.
    DeadlineExceeded,
    /// Our fault.
    Internal,
    /// No valid credential: missing, malformed, unknown, expired or revoked token.
    Unauthenticated,
    /// A known caller whose grant does not cover the request.
    PermissionDenied,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::NotFound => "NOT_FOUND",
            Self::FailedPrecondition => "FAILED_PRECONDITION",
            Self::Unavailable => "UNAVAILABLE",
            Self::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Self::Internal => "INTERNAL",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::PermissionDenied => "PERMISSION_DENIED",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{}{message}", if field.is_empty() { String::new() } else { format!("`{field}`: ") })]
    InvalidArgument { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    /// Temporarily refused, with the reason (`the server is shutting down`, `the store
    /// cannot write: No space left on device`…).
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("deadline exceeded: {0}")]
    DeadlineExceeded(String),
    #[error("rejected by {} polic{}: {}", violations.len(), if violations.len() == 1 { "y" } else { "ies" }, violations.iter().map(|v| format!("[{}] {}: {}", v.policy, v.subject, v.reason)).collect::<Vec<_>>().join("; "))]
    PolicyViolation { violations: Vec<tributary_mesh::Violation> },
    #[error("internal error: {0}")]
    Internal(String),
    /// No valid credential (the reason never contains a secret).
    #[error("unauthenticated: {0}")]
    Unauthenticated(#[from] tributary_auth::Unauthenticated),
    /// The caller is known and lacks the scope named in the error.
    #[error("{0}")]
    PermissionDenied(#[from] tributary_auth::Denied),
    /// The store failed. Unavailable when the disk refuses writes or the store is being
    /// reopened, internal otherwise. The message includes the store's, so it is not also
    /// given as the cause (a chain of causes would print it twice).
    #[error("store: {0}")]
    Store(StoreError),
}

impl ServiceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::DeadlineExceeded(_) => ErrorCode::DeadlineExceeded,
            Self::PolicyViolation { .. } => ErrorCode::FailedPrecondition,
            Self::Internal(_) => ErrorCode::Internal,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Self::Store(error)
                if error.is_resource_exhausted()
                    || matches!(error, StoreError::Closed { .. } | StoreError::Busy { .. }) =>
            {
                ErrorCode::Unavailable
            }
            Self::Store(_) => ErrorCode::Internal,
        }
    }

    /// The offending field, for invalid arguments.
    pub fn field(&self) -> &str {
        match self {
            Self::InvalidArgument { field, .. } => field,
            Self::Unauthenticated(_) => "Authorization",
            _ => "",
        }
    }

    pub fn shutting_down() -> Self {
        Self::Unavailable("the server is shutting down".into())
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument { field: field.into(), message: message.into() }
    }
}

impl From<EventError> for ServiceError {
    fn from(error: EventError) -> Self {
        Self::InvalidArgument { field: error.field, message: error.message }
    }
}

impl From<tributary_mesh::DescriptorError> for ServiceError {
    fn from(error: tributary_mesh::DescriptorError) -> Self {
        Self::InvalidArgument { field: error.path, message: error.message }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        // Disk full, quota, read-only file system: the operator can fix these and the request
        // can be retried, so `code` says UNAVAILABLE for them, not INTERNAL.
        Self::Store(error)
    }
}

impl From<tributary_graph::GraphError> for ServiceError {
    fn from(error: tributary_graph::GraphError) -> Self {
        match error {
            tributary_graph::GraphError::UnknownNode { .. } => Self::NotFound(error.to_string()),
            tributary_graph::GraphError::Unsupported(message) => Self::invalid("direction", message),
        }
    }
}

impl From<tributary_auth::AuthError> for ServiceError {
    fn from(error: tributary_auth::AuthError) -> Self {
        use tributary_auth::AuthError;
        let field = match &error {
            AuthError::EmptyScope
            | AuthError::UnknownScope { .. }
            | AuthError::InvalidScope { .. }
            | AuthError::NoScopes => "scopes",
            AuthError::InvalidTokenName { .. } => "name",
            AuthError::ExpiryNotAfterCreation { .. } => "expiresAt",
            AuthError::InvalidTokenId { .. } => "id",
            AuthError::InvalidTokenHash | AuthError::Randomness { .. } => {
                return Self::Internal(error.to_string());
            }
        };
        Self::invalid(field, error.to_string())
    }
}
