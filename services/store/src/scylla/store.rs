//! `ScyllaStore`: the session, its prepared statements, the fences this process holds, and the
//! few ways a statement is run (paged reads, single-page point reads, idempotent writes, LWTs).

use super::config::{ScyllaConfig, connect};
use super::cql::{Kind, Prepared, Values};
use super::fence::FenceBook;
use super::migrate;
use super::statements::AccountStatements;
use super::statements::Statements;
use super::statements::WebhookStatements;
use crate::StoreError;
use futures::{StreamExt, TryStreamExt, stream};
use scylla::client::pager::TypedRowStream;
use scylla::client::session::Session;
use scylla::deserialize::row::DeserializeRow;
use scylla::response::PagingState;
use scylla::statement::batch::{Batch, BatchType};
use scylla::value::{CqlValue, Row};
use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// Herald's store on a ScyllaDB (or Cassandra) cluster.
pub struct ScyllaStore {
    pub(super) session: Session,
    pub(super) st: Statements,
    pub(super) accounts: AccountStatements,
    pub(super) hooks: WebhookStatements,
    pub(super) fences: FenceBook,
    /// Most statements one call runs at once.
    pub(super) concurrency: usize,
    pub(super) request_timeout: Duration,
    keyspace: String,
}

/// The answer of a lightweight transaction: applied or not, and the row as it was (ScyllaDB
/// returns the old row whether or not the condition held).
pub(super) struct LwtOutcome {
    pub applied: bool,
    columns: HashMap<String, CqlValue>,
}

impl LwtOutcome {
    pub fn bigint(&self, column: &str) -> Option<i64> {
        self.columns.get(column).and_then(CqlValue::as_bigint)
    }

    pub fn text(&self, column: &str) -> Option<&str> {
        self.columns.get(column).and_then(CqlValue::as_text).map(String::as_str)
    }

    pub fn blob(&self, column: &str) -> Option<&[u8]> {
        self.columns.get(column).and_then(CqlValue::as_blob).map(Vec::as_slice)
    }
}

impl ScyllaStore {
    /// Connects to the cluster, checks that `herald migrate` has applied every migration this
    /// build knows, and prepares every statement.
    pub async fn open(config: &ScyllaConfig) -> Result<Self, StoreError> {
        let session = connect(config, Some(&config.keyspace)).await.map_err(|err| match err {
            StoreError::Fatal(message) => StoreError::Fatal(format!(
                "{message} (has `herald migrate` created keyspace {}?)",
                config.keyspace
            )),
            other => other,
        })?;
        migrate::check_applied(&session).await?;
        let st = Statements::prepare(&session, config.request_timeout).await?;
        let accounts = AccountStatements::prepare(&session, config.request_timeout).await?;
        let hooks = WebhookStatements::prepare(&session, config.request_timeout).await?;
        tracing::info!(keyspace = %config.keyspace, nodes = ?config.nodes, "scylla store open");
        Ok(Self {
            session,
            st,
            accounts,
            hooks,
            fences: FenceBook::default(),
            concurrency: config.concurrency.max(1),
            request_timeout: config.request_timeout,
            keyspace: config.keyspace.clone(),
        })
    }

    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }

    /// The driver session (tests use it to drop their keyspace).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Runs one store call, recording its latency and failure like every backend.
    pub(super) async fn timed<T>(
        &self,
        op: &'static str,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = work.await;
        crate::observe::call(op, started, result.is_err());
        if let Err(err) = &result {
            tracing::debug!(op, error = %err, "scylla store call failed");
        }
        result
    }

    /// Runs `work`, at most `concurrency` at a time; the answers keep the order of the work.
    /// (The futures are built before they are streamed: a stream of closures would defeat the
    /// `Send` check of the trait's futures.)
    pub(super) async fn in_order<T, F>(&self, work: Vec<F>) -> Result<Vec<T>, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        stream::iter(work).buffered(self.concurrency).try_collect().await
    }

    /// Runs `work`, at most `concurrency` at a time, stopping at the first error.
    pub(super) async fn all<F>(&self, work: Vec<F>) -> Result<(), StoreError>
    where
        F: Future<Output = Result<(), StoreError>>,
    {
        stream::iter(work)
            .buffer_unordered(self.concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Every row of a read, page by page.
    pub(super) async fn rows<R, const N: usize>(
        &self,
        statement: &Prepared<N>,
        values: impl Values<N>,
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
    {
        let pager = self.session.execute_iter(statement.statement.clone(), values).await?;
        let mut stream = pager.rows_stream::<R>()?;
        let mut rows = Vec::new();
        while let Some(row) = stream.next().await {
            rows.push(row?);
        }
        Ok(rows)
    }

    /// The rows of a read as they come, a page at a time: for a scan that stops early or keeps
    /// only some rows (dropping the stream stops the paging).
    pub(super) async fn stream<R, const N: usize>(
        &self,
        statement: &Prepared<N>,
        values: impl Values<N>,
    ) -> Result<TypedRowStream<R>, StoreError>
    where
        R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
    {
        let pager = self.session.execute_iter(statement.statement.clone(), values).await?;
        Ok(pager.rows_stream::<R>()?)
    }

    /// The first row of a point read (one page: the statement names a whole primary key or asks
    /// for `LIMIT 1`).
    pub(super) async fn first<R, const N: usize>(
        &self,
        statement: &Prepared<N>,
        values: impl Values<N>,
    ) -> Result<Option<R>, StoreError>
    where
        R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
    {
        let (result, _) = self
            .session
            .execute_single_page(&statement.statement, values, PagingState::start())
            .await?;
        let rows = result.into_rows_result()?;
        Ok(rows.maybe_first_row::<R>()?)
    }

    /// An idempotent write.
    pub(super) async fn write<const N: usize>(
        &self,
        statement: &Prepared<N>,
        values: impl Values<N>,
    ) -> Result<(), StoreError> {
        debug_assert_eq!(statement.kind, Kind::Write, "a plain write");
        self.session.execute_unpaged(&statement.statement, values).await?;
        Ok(())
    }

    /// One statement several times as a single-partition unlogged batch: applied atomically and
    /// in isolation by each replica (every row shares the partition key).
    pub(super) async fn batch<V: Values<N>, const N: usize>(
        &self,
        statement: &Prepared<N>,
        values: Vec<V>,
    ) -> Result<(), StoreError> {
        debug_assert_eq!(statement.kind, Kind::Write, "a batch of plain writes");
        if values.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::new(BatchType::Unlogged);
        for _ in &values {
            batch.append_statement(statement.statement.clone());
        }
        batch.set_is_idempotent(true);
        batch.set_request_timeout(Some(self.request_timeout));
        self.session.batch(&batch, values).await?;
        Ok(())
    }

    /// Two writes to two tables as one logged batch: once the coordinator has written the batch
    /// log, both are applied eventually, even if it dies half-way (a row in one table and not in
    /// the other cannot last). Not isolated: a reader may see one before the other.
    pub(super) async fn logged_pair<const A: usize, const B: usize>(
        &self,
        (first, first_values): (&Prepared<A>, impl Values<A>),
        (second, second_values): (&Prepared<B>, impl Values<B>),
    ) -> Result<(), StoreError> {
        debug_assert!(
            first.kind == Kind::Write && second.kind == Kind::Write,
            "a logged batch of plain writes"
        );
        let mut batch = Batch::new(BatchType::Logged);
        batch.append_statement(first.statement.clone());
        batch.append_statement(second.statement.clone());
        batch.set_is_idempotent(true);
        batch.set_request_timeout(Some(self.request_timeout));
        self.session.batch(&batch, (first_values, second_values)).await?;
        Ok(())
    }

    /// A lightweight transaction.
    pub(super) async fn lwt<const N: usize>(
        &self,
        statement: &Prepared<N>,
        values: impl Values<N>,
    ) -> Result<LwtOutcome, StoreError> {
        debug_assert_eq!(statement.kind, Kind::Lwt, "a conditional statement");
        let result = self.session.execute_unpaged(&statement.statement, values).await?;
        let rows = result.into_rows_result()?;
        let names: Vec<String> = rows.column_specs().iter().map(|spec| spec.name().to_owned()).collect();
        let row = rows
            .maybe_first_row::<Row>()?
            .ok_or_else(|| StoreError::Fatal("a conditional statement returned no row".into()))?;
        let mut columns: HashMap<String, CqlValue> = names
            .into_iter()
            .zip(row.columns)
            .filter_map(|(name, value)| value.map(|value| (name, value)))
            .collect();
        let applied = columns
            .remove("[applied]")
            .and_then(|value| value.as_boolean())
            .ok_or_else(|| StoreError::Fatal("a conditional statement returned no [applied]".into()))?;
        Ok(LwtOutcome { applied, columns })
    }
}
