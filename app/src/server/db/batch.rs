//! One task, one connection of its own, many callers answered per database call.
//!
//! Under load the cost of a query through the pool was not the query. Every checkout pinged the
//! connection, every return pinged it again, and on SQLite each ping and each statement is a
//! message to the connection's own thread and back, waiting for the scheduler each way (0.6–1.5
//! ms on a saturated 2-core machine). A [`Batcher`] keeps one connection to itself, takes every
//! request waiting when it is free, and answers them all with one statement set: the callers pay
//! one round trip between them instead of three each.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Connection};
use tokio::sync::{mpsc, oneshot};

use super::{DbError, Pool};

/// Most requests answered by one call: enough to drain a burst of 256 connections in a few.
const MAX_BATCH: usize = 256;
/// Requests waiting beyond this make their senders wait (back-pressure instead of a queue that
/// grows without bound).
const QUEUE: usize = 4096;
/// A connection idle this long is pinged before use: the server at the other end may have
/// restarted meanwhile, and a request should not be the one to find out.
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// A call that has not answered in this long is given up, and its connection with it: a database
/// behind a dead link would otherwise hold every caller, where the pool answers 503 in 3 s.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection unused this long is closed, and taken again with the next request: an idle
/// server should not keep a SQLite connection's cache and memory map (counted in its resident
/// memory) or a PostgreSQL backend for a burst that is over.
pub const IDLE_RELEASE: Duration = Duration::from_secs(30);
/// A call slower than this is logged (at debug level, with the number of requests it answered).
const SLOW_CALL: Duration = Duration::from_millis(10);

/// What a batcher does with the requests it takes: one database call for all of them.
pub trait Work: Send + Sync + 'static {
    type Request: Send + Sync + 'static;
    type Answer: Send + 'static;
    /// One answer per request, in their order.
    fn run<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        requests: &'a [Self::Request],
    ) -> impl Future<Output = Result<Vec<Self::Answer>, DbError>> + Send + 'a;
}

type Job<W> = (<W as Work>::Request, oneshot::Sender<Result<<W as Work>::Answer, DbError>>);

/// The sending side of one batching task; cheap to clone.
pub struct Batcher<W: Work> {
    jobs: mpsc::Sender<Job<W>>,
}

impl<W: Work> Clone for Batcher<W> {
    fn clone(&self) -> Self {
        Batcher { jobs: self.jobs.clone() }
    }
}

impl<W: Work> std::fmt::Debug for Batcher<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").field("waiting", &(QUEUE - self.jobs.capacity())).finish()
    }
}

impl<W: Work> Batcher<W> {
    /// Starts the task on the current Tokio runtime. Its connection is taken from `pool` when
    /// the first request comes, and again after the database was away.
    pub fn start(pool: Pool, work: W) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(Held::new(pool), queue, work));
        Batcher { jobs }
    }

    /// Answers `request` with the next call that has room for it.
    pub async fn ask(&self, request: W::Request) -> Result<W::Answer, DbError> {
        let (answer, answered) = oneshot::channel();
        // The task is gone only when the runtime shuts down: the database is then out of reach.
        let gone = || DbError::Sqlx(sqlx::Error::PoolClosed);
        self.jobs.send((request, answer)).await.map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }

    /// Answers many requests, in one call when they fit in one.
    pub async fn ask_many(&self, requests: impl IntoIterator<Item = W::Request>) -> Vec<Result<W::Answer, DbError>> {
        futures::future::join_all(requests.into_iter().map(|r| self.ask(r))).await
    }
}

/// A batch as one JSON parameter, so that a statement's text is the same whatever the batch size
/// and is prepared once per connection.
pub fn json_param(value: &impl serde::Serialize) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|e| DbError::Sqlx(sqlx::Error::Encode(e.into())))
}

/// A [`Work`] that answered fewer requests than it was given: a fault of ours, not the database's.
fn no_answer() -> DbError {
    DbError::Sqlx(sqlx::Error::Protocol("a batched call gave no answer for a request".into()))
}

/// A task's own connection, outside the pool (so that it costs no checkout and no return): a
/// batcher's, and the WAL checkpointer's.
pub(super) struct Held {
    pool: Pool,
    conn: Option<AnyConnection>,
    used: Instant,
}

impl Held {
    /// None yet: the first [`Held::get`] takes it from `pool`.
    pub(super) fn new(pool: Pool) -> Self {
        Held { pool, conn: None, used: Instant::now() }
    }

    pub(super) async fn get(&mut self) -> Result<&mut AnyConnection, DbError> {
        if self.used.elapsed() > IDLE_CHECK {
            if let Some(conn) = &mut self.conn {
                if conn.ping().await.is_err() {
                    self.conn = None;
                }
            }
        }
        self.used = Instant::now();
        if self.conn.is_none() {
            // The pool checks the new connection and opens another in its place.
            self.conn = Some(self.pool.acquire().await?.detach());
        }
        Ok(self.conn.as_mut().expect("a connection was just put there"))
    }

    /// Whether a connection is open (taken since the last [`Held::release`]).
    pub(super) fn holds(&self) -> bool {
        self.conn.is_some()
    }

    /// Closes the connection (the next call takes a new one).
    pub(super) async fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }

    /// After an outage the connection is not trusted again: the next call takes a new one.
    pub(super) fn after<T>(&mut self, result: &Result<T, DbError>) {
        if result.as_ref().is_err_and(|e| e.outage().is_some()) {
            self.conn = None;
        }
    }

    async fn call<W: Work>(&mut self, work: &W, requests: &[W::Request]) -> Result<Vec<W::Answer>, DbError> {
        let result = match self.get().await {
            Ok(conn) => match tokio::time::timeout(CALL_TIMEOUT, work.run(conn, requests)).await {
                Ok(result) => result,
                Err(_) => Err(DbError::Sqlx(sqlx::Error::PoolTimedOut)),
            },
            Err(e) => Err(e),
        };
        self.after(&result);
        result
    }
}

async fn run<W: Work>(mut held: Held, mut queue: mpsc::Receiver<Job<W>>, work: W) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let taken = match tokio::time::timeout(IDLE_RELEASE, queue.recv_many(&mut batch, MAX_BATCH)).await {
            Ok(taken) => taken,
            Err(_) => {
                held.release().await;
                queue.recv_many(&mut batch, MAX_BATCH).await
            }
        };
        if taken == 0 {
            break;
        }
        let (requests, answers): (Vec<_>, Vec<_>) = std::mem::take(&mut batch).into_iter().unzip();
        let started = Instant::now();
        let result = held.call(&work, &requests).await;
        // Every caller of the batch waited this long: the ticket endpoint's tail is made of these.
        let took = started.elapsed();
        if took > SLOW_CALL {
            let ms = took.as_secs_f64() * 1000.0;
            tracing::debug!(work = std::any::type_name::<W>(), requests = requests.len(), ms, "slow database call");
        }
        match result {
            Ok(outcomes) => {
                let mut outcomes = outcomes.into_iter();
                for answer in answers {
                    let _ = answer.send(outcomes.next().ok_or_else(no_answer));
                }
            }
            // The database is away or full: every request waiting shares that answer, at once.
            Err(e) if requests.len() == 1 || e.outage().is_some() => {
                let e = Arc::new(e);
                for answer in answers {
                    let _ = answer.send(Err(DbError::Shared(e.clone())));
                }
            }
            // One request the database refuses must not sink the others: each is tried on its own.
            Err(_) => {
                for (request, answer) in requests.iter().zip(answers) {
                    let outcome = held.call(&work, std::slice::from_ref(request)).await;
                    let _ = answer.send(outcome.and_then(|o| o.into_iter().next().ok_or_else(no_answer)));
                }
            }
        }
    }
}
