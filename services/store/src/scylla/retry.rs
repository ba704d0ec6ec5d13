//! The retry policy: the driver's default, plus one retry of a read or write timeout on another
//! replica for statements declared idempotent (every upsert here is). The default retries a write
//! timeout only for batch-log writes, because it cannot know a write is safe to repeat; ours are.
//! Lightweight transactions (serial consistency) are never retried.

use scylla::errors::{DbError, RequestAttemptError, WriteType};
use scylla::policies::retry::{DefaultRetrySession, RequestInfo, RetryDecision, RetryPolicy, RetrySession};
use scylla::statement::Consistency;

/// Timeout retries per request, on top of the default policy's.
const TIMEOUT_RETRIES: u32 = 1;

#[derive(Debug, Default)]
pub struct IdempotentRetryPolicy;

impl RetryPolicy for IdempotentRetryPolicy {
    fn new_session(&self) -> Box<dyn RetrySession> {
        Box::new(IdempotentRetrySession {
            default: DefaultRetrySession::new(),
            timeout_retries: 0,
        })
    }
}

struct IdempotentRetrySession {
    default: DefaultRetrySession,
    timeout_retries: u32,
}

/// Whether a timed-out attempt is retried: idempotent, not a lightweight transaction, a replica
/// timeout (not a failure), and retries left.
pub fn retries_timeout(error: &RequestAttemptError, idempotent: bool, consistency: Consistency, retried: u32) -> bool {
    let timed_out = match error {
        RequestAttemptError::DbError(DbError::ReadTimeout { .. }, _) => true,
        RequestAttemptError::DbError(DbError::WriteTimeout { write_type, .. }, _) => *write_type != WriteType::Cas,
        _ => false,
    };
    timed_out && idempotent && !consistency.is_serial() && retried < TIMEOUT_RETRIES
}

impl RetrySession for IdempotentRetrySession {
    fn decide_should_retry(&mut self, request: RequestInfo) -> RetryDecision {
        if retries_timeout(
            request.error,
            request.is_idempotent,
            request.consistency,
            self.timeout_retries,
        ) {
            self.timeout_retries += 1;
            return RetryDecision::RetryNextTarget(None);
        }
        self.default.decide_should_retry(request)
    }

    fn reset(&mut self) {
        self.default.reset();
        self.timeout_retries = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_timeout(write_type: WriteType) -> RequestAttemptError {
        RequestAttemptError::DbError(
            DbError::WriteTimeout {
                consistency: Consistency::LocalQuorum,
                received: 1,
                required: 2,
                write_type,
            },
            "timed out".into(),
        )
    }

    #[test]
    fn idempotent_timeouts_are_retried_once() {
        let error = write_timeout(WriteType::Simple);
        assert!(retries_timeout(&error, true, Consistency::LocalQuorum, 0));
        assert!(!retries_timeout(&error, true, Consistency::LocalQuorum, 1), "once");
        assert!(
            !retries_timeout(&error, false, Consistency::LocalQuorum, 0),
            "not idempotent"
        );
        assert!(retries_timeout(
            &write_timeout(WriteType::UnloggedBatch),
            true,
            Consistency::LocalQuorum,
            0
        ));
    }

    #[test]
    fn lightweight_transactions_are_not_retried() {
        assert!(!retries_timeout(
            &write_timeout(WriteType::Cas),
            true,
            Consistency::LocalQuorum,
            0
        ));
        assert!(!retries_timeout(
            &write_timeout(WriteType::Simple),
            true,
            Consistency::LocalSerial,
            0
        ));
    }

    #[test]
    fn other_errors_go_to_the_default_policy() {
        let invalid = RequestAttemptError::DbError(DbError::Invalid, "no".into());
        assert!(!retries_timeout(&invalid, true, Consistency::LocalQuorum, 0));
    }
}
