//! Driver errors mapped to the store's error kinds: `Unavailable` (worth retrying: timeouts,
//! overload, replicas down, broken connections) or `Fatal` (bad statement, schema, corrupt data).

use crate::StoreError;
use scylla::errors::{
    ConnectionPoolError, DbError, ExecutionError, IntoRowsResultError, MaybeFirstRowError, NewSessionError,
    NextPageError, NextRowError, PagerExecutionError, PrepareError, RequestAttemptError, RequestError, RowsError,
    SchemaAgreementError, UseKeyspaceError,
};

fn unavailable(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

fn fatal(err: impl std::fmt::Display) -> StoreError {
    StoreError::Fatal(err.to_string())
}

/// Whether the node's answer says "not now" rather than "never".
pub fn db_error_is_transient(err: &DbError) -> bool {
    matches!(
        err,
        DbError::Unavailable { .. }
            | DbError::Overloaded
            | DbError::IsBootstrapping
            | DbError::ReadTimeout { .. }
            | DbError::WriteTimeout { .. }
            | DbError::RateLimitReached { .. }
            | DbError::TruncateError
    )
}

fn attempt_is_transient(err: &RequestAttemptError) -> bool {
    match err {
        RequestAttemptError::DbError(db, _) => db_error_is_transient(db),
        RequestAttemptError::BrokenConnectionError(_) | RequestAttemptError::UnableToAllocStreamId => true,
        _ => false,
    }
}

fn pool_error(err: &ConnectionPoolError) -> StoreError {
    match err {
        ConnectionPoolError::NodeDisabledByHostFilter => fatal(err),
        _ => unavailable(err),
    }
}

fn request_error(err: &RequestError) -> StoreError {
    match err {
        RequestError::ConnectionPoolError(pool) => pool_error(pool),
        RequestError::RequestTimeout(_) | RequestError::EmptyPlan => unavailable(err),
        RequestError::LastAttemptError(attempt) if attempt_is_transient(attempt) => unavailable(err),
        _ => fatal(err),
    }
}

fn schema_agreement_error(err: &SchemaAgreementError) -> StoreError {
    match err {
        SchemaAgreementError::ConnectionPoolError(pool) => pool_error(pool),
        SchemaAgreementError::Timeout(_) => unavailable(err),
        SchemaAgreementError::RequestError(attempt) if attempt_is_transient(attempt) => unavailable(err),
        _ => fatal(err),
    }
}

fn use_keyspace_error(err: &UseKeyspaceError) -> StoreError {
    match err {
        UseKeyspaceError::RequestTimeout(_) => unavailable(err),
        UseKeyspaceError::RequestError(attempt) if attempt_is_transient(attempt) => unavailable(err),
        _ => fatal(err),
    }
}

impl From<ExecutionError> for StoreError {
    fn from(err: ExecutionError) -> Self {
        match &err {
            ExecutionError::ConnectionPoolError(pool) => pool_error(pool),
            ExecutionError::RequestTimeout(_) | ExecutionError::EmptyPlan => unavailable(&err),
            ExecutionError::LastAttemptError(attempt) if attempt_is_transient(attempt) => unavailable(&err),
            ExecutionError::PrepareError(prepare) => StoreError::from(prepare.clone()),
            ExecutionError::SchemaAgreementError(agreement) => schema_agreement_error(agreement),
            ExecutionError::UseKeyspaceError(keyspace) => use_keyspace_error(keyspace),
            _ => fatal(&err),
        }
    }
}

impl From<PrepareError> for StoreError {
    fn from(err: PrepareError) -> Self {
        match &err {
            PrepareError::ConnectionPoolError(pool) => pool_error(pool),
            PrepareError::AllAttemptsFailed { first_attempt } if attempt_is_transient(first_attempt) => {
                unavailable(&err)
            }
            _ => fatal(&err),
        }
    }
}

impl From<PagerExecutionError> for StoreError {
    fn from(err: PagerExecutionError) -> Self {
        match &err {
            PagerExecutionError::PrepareError(prepare) => StoreError::from(prepare.clone()),
            PagerExecutionError::NextPageError(page) => StoreError::from(page.clone()),
            PagerExecutionError::SchemaAgreementError(agreement) => schema_agreement_error(agreement),
            PagerExecutionError::UseKeyspaceError(keyspace) => use_keyspace_error(keyspace),
            _ => fatal(&err),
        }
    }
}

impl From<NextPageError> for StoreError {
    fn from(err: NextPageError) -> Self {
        match &err {
            NextPageError::RequestFailure(request) => request_error(request),
            _ => fatal(&err),
        }
    }
}

impl From<NextRowError> for StoreError {
    fn from(err: NextRowError) -> Self {
        match err {
            NextRowError::NextPageError(page) => StoreError::from(page),
            other => fatal(other),
        }
    }
}

impl From<NewSessionError> for StoreError {
    fn from(err: NewSessionError) -> Self {
        match &err {
            NewSessionError::EmptyKnownNodesList | NewSessionError::IllegalConfig(_) => fatal(&err),
            NewSessionError::UseKeyspaceError(keyspace) => use_keyspace_error(keyspace),
            // unreachable or unresolvable nodes: the cluster may come up
            _ => unavailable(&err),
        }
    }
}

impl From<SchemaAgreementError> for StoreError {
    fn from(err: SchemaAgreementError) -> Self {
        schema_agreement_error(&err)
    }
}

impl From<UseKeyspaceError> for StoreError {
    fn from(err: UseKeyspaceError) -> Self {
        use_keyspace_error(&err)
    }
}

impl From<IntoRowsResultError> for StoreError {
    fn from(err: IntoRowsResultError) -> Self {
        fatal(err)
    }
}

impl From<RowsError> for StoreError {
    fn from(err: RowsError) -> Self {
        fatal(err)
    }
}

impl From<MaybeFirstRowError> for StoreError {
    fn from(err: MaybeFirstRowError) -> Self {
        fatal(err)
    }
}

impl From<scylla::errors::DeserializationError> for StoreError {
    fn from(err: scylla::errors::DeserializationError) -> Self {
        fatal(err)
    }
}

impl From<scylla::errors::TypeCheckError> for StoreError {
    fn from(err: scylla::errors::TypeCheckError) -> Self {
        fatal(err)
    }
}

impl From<scylla::errors::FirstRowError> for StoreError {
    fn from(err: scylla::errors::FirstRowError) -> Self {
        fatal(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scylla::errors::{OperationType, WriteType};
    use scylla::statement::Consistency;

    fn kind(err: ExecutionError) -> bool {
        StoreError::from(err).is_retryable()
    }

    fn db(err: DbError) -> ExecutionError {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(err, "node said so".into()))
    }

    #[test]
    fn transient_node_answers_are_retryable() {
        assert!(kind(db(DbError::Overloaded)));
        assert!(kind(db(DbError::Unavailable {
            consistency: Consistency::LocalQuorum,
            required: 2,
            alive: 1
        })));
        assert!(kind(db(DbError::WriteTimeout {
            consistency: Consistency::LocalQuorum,
            received: 1,
            required: 2,
            write_type: WriteType::Cas,
        })));
        assert!(kind(db(DbError::RateLimitReached {
            op_type: OperationType::Write,
            rejected_by_coordinator: true,
        })));
        assert!(kind(ExecutionError::RequestTimeout(std::time::Duration::from_secs(1))));
        assert!(kind(ExecutionError::EmptyPlan));
        assert!(kind(ExecutionError::ConnectionPoolError(
            ConnectionPoolError::Initializing
        )));
    }

    #[test]
    fn statement_and_schema_errors_are_fatal() {
        assert!(!kind(db(DbError::SyntaxError)));
        assert!(!kind(db(DbError::Invalid)));
        assert!(!kind(db(DbError::Unauthorized)));
        assert!(!kind(db(DbError::ServerError)));
    }
}
