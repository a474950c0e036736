//! Recording tickets: the per-user allowance and the pending row, for many requests in one
//! transaction.
//!
//! Written one by one, every ticket was two write transactions (the allowance's UPDATE, the row's
//! INSERT) queued behind SQLite's single writer, with its busy-wait back-off between them: under
//! load the server spent its time waiting for the lock, not working. Here one task takes every
//! ticket waiting, counts them against their users' allowances and inserts the admitted rows in a
//! single transaction; each caller is answered once that transaction has committed, so a ticket
//! is never signed for a row that is not stored. The allowance stays in the database (the
//! `ticket_window_*` columns), so it is exact across restarts and across several servers on one
//! PostgreSQL.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::uploads::{bind_new, NewMultipart, NewUpload, INSERT_COLUMNS, INSERT_PARAMS};
use super::{is_sqlite, now_millis, DbError, Pool};
use crate::model::SigningMethod;

/// Most tickets committed in one transaction: enough to drain a burst of 256 connections in a
/// few transactions, few enough that one statement's parameters stay far under either engine's
/// limit (16 per row).
const MAX_BATCH: usize = 128;
/// Tickets waiting beyond this make their senders wait (back-pressure instead of a queue that
/// grows without bound).
const QUEUE: usize = 4096;

/// What became of one ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admitted {
    /// The allowance had room; the pending row is committed.
    Recorded,
    /// The user's allowance for this minute is spent (or the user no longer exists): nothing
    /// was written.
    OverAllowance,
}

/// A pending upload to record, owned so that it can wait in the queue.
#[derive(Clone, Debug)]
pub struct PendingRow {
    pub id: String,
    pub owner_id: String,
    pub object_key: String,
    pub file_name: String,
    pub content_type: String,
    pub declared_size: i64,
    pub checksum_sha256: Option<String>,
    pub method: SigningMethod,
    pub expires_at: i64,
}

impl PendingRow {
    fn as_new(&self) -> NewUpload<'_> {
        NewUpload {
            owner_id: &self.owner_id,
            object_key: &self.object_key,
            file_name: &self.file_name,
            content_type: &self.content_type,
            declared_size: self.declared_size,
            checksum_sha256: self.checksum_sha256.as_deref(),
            method: self.method,
            expires_at: self.expires_at,
            multipart: None::<NewMultipart<'_>>,
        }
    }
}

struct Job {
    row: PendingRow,
    /// When the ticket was asked for: the allowance's minute is counted from it.
    asked_at: i64,
    answer: oneshot::Sender<Result<Admitted, DbError>>,
}

/// The sending side of the one writer task; cheap to clone.
#[derive(Clone, Debug)]
pub struct TicketWriter {
    jobs: mpsc::Sender<Job>,
}

impl TicketWriter {
    /// Starts the writer on the current Tokio runtime. `limit` is the tickets per user per minute.
    pub fn start(pool: Pool, limit: i64) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, queue, limit));
        TicketWriter { jobs }
    }

    /// Takes a ticket from `row`'s owner's allowance and, if there was one, records the row;
    /// answers once that is committed.
    pub async fn record(&self, row: PendingRow, asked_at: i64) -> Result<Admitted, DbError> {
        let (answer, answered) = oneshot::channel();
        // The writer is gone only when the runtime shuts down: the database is then out of reach.
        let gone = || DbError::Sqlx(sqlx::Error::PoolClosed);
        self.jobs.send(Job { row, asked_at, answer }).await.map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

async fn run(pool: Pool, mut queue: mpsc::Receiver<Job>, limit: i64) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        match commit(&pool, &jobs, limit).await {
            Ok(outcomes) => {
                for (job, admitted) in jobs.into_iter().zip(outcomes) {
                    let _ = job.answer.send(Ok(admitted));
                }
            }
            // The database is away or full: every ticket waiting shares that answer, at once.
            Err(e) if jobs.len() == 1 || e.outage().is_some() => {
                let e = Arc::new(e);
                for job in jobs {
                    let _ = job.answer.send(Err(DbError::Shared(e.clone())));
                }
            }
            // One row the database refuses must not sink the others: each is tried on its own.
            Err(_) => {
                for job in jobs {
                    let outcome = commit(&pool, std::slice::from_ref(&job), limit).await;
                    let _ = job.answer.send(outcome.map(|o| o[0]));
                }
            }
        }
    }
}

/// One transaction: reads the owners' allowances (locking them), decides each ticket in the
/// order it was asked for, writes the allowances back and inserts the admitted rows.
async fn commit(pool: &Pool, jobs: &[Job], limit: i64) -> Result<Vec<Admitted>, DbError> {
    let sqlite = is_sqlite(pool);
    // IMMEDIATE takes SQLite's write lock before the read, so no other writer changes an
    // allowance between our read and our write (a deferred transaction would fail to upgrade).
    let mut tx = if sqlite { pool.begin_with("BEGIN IMMEDIATE").await? } else { pool.begin().await? };

    let mut owners: Vec<&str> = jobs.iter().map(|j| j.row.owner_id.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    let list = placeholders(1, owners.len());
    // PostgreSQL: lock the rows, in id order so that two servers' writers cannot deadlock.
    let lock = if sqlite { "" } else { " ORDER BY id FOR UPDATE" };
    let sql = format!("SELECT id, ticket_window_start, ticket_window_count FROM users WHERE id IN ({list}){lock}");
    let mut read = sqlx::query_as::<_, (String, i64, i64)>(&sql);
    for o in &owners {
        read = read.bind(*o);
    }
    let mut windows: HashMap<String, Window> =
        read.fetch_all(&mut *tx).await?.into_iter().map(|(id, start, count)| (id, Window { start, count })).collect();
    let before = windows.clone();

    let outcomes: Vec<Admitted> = jobs
        .iter()
        .map(|j| match windows.get_mut(&j.row.owner_id).is_some_and(|w| w.take(j.asked_at, limit)) {
            true => Admitted::Recorded,
            false => Admitted::OverAllowance,
        })
        .collect();

    let changed: Vec<(&String, &Window)> =
        windows.iter().filter(|(id, w)| before.get(id.as_str()) != Some(*w)).collect();
    if !changed.is_empty() {
        // One statement for every owner: CASE picks each one's new values.
        let n = changed.len();
        let arm = |first: usize| {
            (0..n)
                .map(|i| format!(" WHEN ${} THEN CAST(${} AS BIGINT)", first + 2 * i, first + 2 * i + 1))
                .collect::<String>()
        };
        let sql = format!(
            "UPDATE users SET ticket_window_start = CASE id{} END, ticket_window_count = CASE id{} END WHERE id IN ({})",
            arm(1),
            arm(1 + 2 * n),
            placeholders(1 + 4 * n, n)
        );
        let mut write = sqlx::query(&sql);
        for (id, w) in &changed {
            write = write.bind(id.as_str()).bind(w.start);
        }
        for (id, w) in &changed {
            write = write.bind(id.as_str()).bind(w.count);
        }
        for (id, _) in &changed {
            write = write.bind(id.as_str());
        }
        write.execute(&mut *tx).await?;
    }

    let admitted: Vec<&PendingRow> =
        jobs.iter().zip(&outcomes).filter(|(_, o)| **o == Admitted::Recorded).map(|(j, _)| &j.row).collect();
    if !admitted.is_empty() {
        let values = (0..admitted.len())
            .map(|i| format!("({})", placeholders(1 + i * INSERT_PARAMS, INSERT_PARAMS)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("INSERT INTO uploads ({INSERT_COLUMNS}) VALUES {values}");
        let created_at = now_millis();
        let mut insert = sqlx::query(&sql);
        for row in &admitted {
            insert = bind_new(insert, &row.id, &row.as_new(), created_at, crate::model::UploadStatus::Pending, None);
        }
        insert.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// `$first, $first+1, …` (`n` of them).
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// A user's allowance: tickets taken in the minute that began at `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    start: i64,
    count: i64,
}

impl Window {
    /// Takes a ticket asked for at `now`: within a minute of the window's start while fewer than
    /// `limit` were taken, or by opening a new window once the minute is over.
    fn take(&mut self, now: i64, limit: i64) -> bool {
        if self.start > now - 60_000 {
            if self.count >= limit {
                return false;
            }
            self.count += 1;
        } else {
            *self = Window { start: now, count: 1 };
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_admits_up_to_the_limit_within_its_minute_then_opens_anew() {
        let mut w = Window { start: 0, count: 0 };
        let t = 1_000_000;
        assert!(w.take(t, 2));
        assert_eq!(w, Window { start: t, count: 1 }, "a window long closed opens at the ticket");
        assert!(w.take(t + 10, 2));
        assert!(!w.take(t + 59_999, 2), "the third in the same minute is refused");
        assert_eq!(w.count, 2, "a refusal takes nothing");
        assert!(w.take(t + 60_000, 2), "a minute after the window opened, a new one does");
        assert_eq!(w, Window { start: t + 60_000, count: 1 });
    }

    #[test]
    fn placeholders_are_numbered_from_the_first() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(placeholders(1, 1), "$1");
    }
}
