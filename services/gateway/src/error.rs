//! The one place errors become wire answers: the HTTP envelope and the WS error frame.
//! User mistakes are answered, not logged as errors; internal errors are logged with their
//! cause and answered without internals.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use herald_protocol::ErrorCode;
use herald_protocol::error_code::WireError;
use serde_json::json;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds until a retry can succeed (429 answers carry it as `Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn rate_limited(message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            code: ErrorCode::RateLimited,
            message: message.into(),
            retry_after: Some(retry_after.max(1)),
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameter, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidToken, message)
    }

    /// Logs the cause; the client only learns that something failed inside.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<WireError> for ApiError {
    fn from(err: WireError) -> Self {
        Self::new(err.code, err.text)
    }
}

impl From<herald_store::StoreError> for ApiError {
    fn from(err: herald_store::StoreError) -> Self {
        if err.is_retryable() {
            tracing::warn!(error = %err, "store busy");
            Self::new(ErrorCode::Unavailable, "temporarily unavailable, retry")
        } else {
            Self::internal(err)
        }
    }
}

impl From<herald_protocol::IdError> for ApiError {
    fn from(err: herald_protocol::IdError) -> Self {
        Self::bad_input(err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        metrics::counter!("herald_request_errors_total", "code" => self.code.code().to_string()).increment(1);
        let body = Json(json!({"code": self.code.code(), "error": self.message}));
        let mut response = (status, body).into_response();
        if matches!(self.code, ErrorCode::RateLimited | ErrorCode::RefusedBySpam) {
            let seconds = self.retry_after.unwrap_or(1);
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from(seconds));
        }
        response
    }
}

/// `{"code": 0, "data": ...}`.
pub fn ok<T: serde::Serialize>(data: T) -> Response {
    Json(json!({"code": 0, "data": data})).into_response()
}

pub type ApiResult = Result<Response, ApiError>;
