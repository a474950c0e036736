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

use sqlx::AnyConnection;

use super::batch::{json_param, Batcher, Work};
use super::uploads::NewUpload;
use super::{now_millis, DbError};
use crate::model::SigningMethod;

/// What became of one ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admitted {
    /// The allowance had room; the pending row is committed.
    Recorded,
    /// The user's allowance for this minute is spent (or the user no longer exists): nothing
    /// was written.
    OverAllowance,
}

/// A pending upload to record (a single-request upload: no multipart fields), owned so that it
/// can wait in the queue.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PendingRow {
    pub id: String,
    pub owner_id: String,
    pub object_key: String,
    pub file_name: String,
    pub content_type: String,
    pub declared_size: i64,
    pub checksum_sha256: Option<String>,
    #[serde(serialize_with = "method_word")]
    pub method: SigningMethod,
    pub expires_at: i64,
}

impl PendingRow {
    /// `new` under the id `id`, owned (its multipart fields, if any, are not recorded here).
    pub fn from_new(id: &str, new: &NewUpload<'_>) -> Self {
        PendingRow {
            id: id.to_owned(),
            owner_id: new.owner_id.to_owned(),
            object_key: new.object_key.to_owned(),
            file_name: new.file_name.to_owned(),
            content_type: new.content_type.to_owned(),
            declared_size: new.declared_size,
            checksum_sha256: new.checksum_sha256.map(str::to_owned),
            method: new.method,
            expires_at: new.expires_at,
        }
    }
}

fn method_word<S: serde::Serializer>(m: &SigningMethod, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

/// Takes a ticket from each row's owner's allowance and, if there was one, records the row;
/// each caller is answered once that is committed. The allowance's minute is counted at the
/// commit.
pub type TicketWriter = Batcher<Tickets>;

/// Starts the writer on the current Tokio runtime; `limit` is the tickets per user per minute.
pub fn writer(pool: super::Pool, limit: i64) -> TicketWriter {
    Batcher::start(pool, Tickets { limit })
}

/// The writer's work.
pub struct Tickets {
    limit: i64,
}

impl Work for Tickets {
    type Request = PendingRow;
    type Answer = Admitted;
    async fn run(&self, conn: &mut AnyConnection, rows: &[PendingRow]) -> Result<Vec<Admitted>, DbError> {
        commit(conn, rows, self.limit).await
    }
}

/// A ticket as the statements read it: the row, and its place among its owner's tickets in this
/// batch (the first `n` of an owner are admitted when `n` remain in the allowance).
#[derive(serde::Serialize)]
struct Ticket<'a> {
    #[serde(flatten)]
    row: &'a PendingRow,
    rank: i64,
}

#[derive(serde::Serialize)]
struct Owner<'a> {
    id: &'a str,
    n: i64,
}

/// Inserts the admitted rows and counts them in their owners' allowances, in one transaction.
/// The statements are the same whatever the batch (the tickets travel as one JSON parameter), so
/// each is prepared once per connection. The whole transaction is one call: on SQLite to the
/// connection's thread (under load the wait for that thread cost more than the work), on
/// PostgreSQL one statement, one round trip.
///
/// The allowance rule, for an owner with `n` tickets here, at the commit's `now`: while the
/// window that opened at `ticket_window_start` is under a minute old, `limit -
/// ticket_window_count` more are admitted; once it is older, a new window opens now with up to
/// `limit`.
async fn commit(conn: &mut AnyConnection, rows: &[PendingRow], limit: i64) -> Result<Vec<Admitted>, DbError> {
    let mut ranks: HashMap<&str, i64> = HashMap::new();
    let tickets: Vec<Ticket> = rows
        .iter()
        .map(|row| {
            let rank = ranks.entry(&row.owner_id).or_default();
            *rank += 1;
            Ticket { row, rank: *rank }
        })
        .collect();
    let mut owners: Vec<Owner> = ranks.into_iter().map(|(id, n)| Owner { id, n }).collect();
    // PostgreSQL locks the owners' rows in this order, so that two servers cannot deadlock.
    owners.sort_unstable_by_key(|o| o.id);
    let tickets = json_param(&tickets)?;
    let owners = json_param(&owners)?;
    let now = now_millis();

    let sqlite = conn.backend_name() == "SQLite";
    let recorded: Result<Vec<String>, sqlx::Error> = sqlx::query_scalar(if sqlite { SQLITE_COMMIT } else { PG_COMMIT })
        .bind(&tickets)
        .bind(now)
        .bind(now - 60_000)
        .bind(limit)
        .bind(&owners)
        .fetch_all(&mut *conn)
        .await;
    if sqlite && recorded.is_err() {
        // A statement failed inside our BEGIN: end the transaction before the next batch (an
        // error here only means there was none left to end).
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    let recorded = recorded?;
    Ok(rows
        .iter()
        .map(|row| match recorded.contains(&row.id) {
            true => Admitted::Recorded,
            false => Admitted::OverAllowance,
        })
        .collect())
}

/// `$1` tickets, `$2` now, `$3` a minute ago, `$4` the limit, `$5` owners. IMMEDIATE takes the
/// write lock before the allowances are read, so no other writer (another server, the CLI) can
/// change them in between.
const SQLITE_COMMIT: &str = "BEGIN IMMEDIATE; \
    INSERT INTO uploads (id, owner_id, object_key, file_name, content_type, declared_size, checksum_sha256, method, \
                         created_at, expires_at, status) \
    SELECT t.value ->> 'id', t.value ->> 'owner_id', t.value ->> 'object_key', t.value ->> 'file_name', \
           t.value ->> 'content_type', t.value ->> 'declared_size', t.value ->> 'checksum_sha256', t.value ->> 'method', \
           $2, t.value ->> 'expires_at', 'pending' \
    FROM json_each($1) AS t JOIN users AS u ON u.id = t.value ->> 'owner_id' \
    WHERE t.value ->> 'rank' <= CASE WHEN u.ticket_window_start > $3 THEN $4 - u.ticket_window_count ELSE $4 END \
    ORDER BY t.key \
    RETURNING id; \
    UPDATE users SET \
      ticket_window_count = CASE WHEN ticket_window_start > $3 \
        THEN MIN(ticket_window_count + (o.value ->> 'n'), MAX(ticket_window_count, $4)) ELSE MIN(o.value ->> 'n', $4) END, \
      ticket_window_start = CASE WHEN ticket_window_start > $3 THEN ticket_window_start ELSE $2 END \
    FROM json_each($5) AS o WHERE users.id = o.value ->> 'id'; \
    COMMIT;";

/// The same as one statement, so one round trip and its own transaction. `locked` takes the
/// owners' rows in id order (two servers cannot deadlock) and reads their allowances as they
/// are once locked, which the insert and the count then use rather than the statement's
/// snapshot: a server that committed tickets for the same owner a moment before is counted.
const PG_COMMIT: &str = "WITH owners AS ( \
      SELECT o.id, o.n FROM jsonb_to_recordset(CAST($5 AS jsonb)) AS o(id text, n bigint) \
    ), locked AS ( \
      SELECT u.id, u.ticket_window_start AS ws, u.ticket_window_count AS wc FROM users u \
      WHERE u.id IN (SELECT id FROM owners) ORDER BY u.id FOR UPDATE \
    ), inserted AS ( \
      INSERT INTO uploads (id, owner_id, object_key, file_name, content_type, declared_size, checksum_sha256, method, \
                           created_at, expires_at, status) \
      SELECT t.id, t.owner_id, t.object_key, t.file_name, t.content_type, t.declared_size, t.checksum_sha256, \
             t.method, CAST($2 AS BIGINT), t.expires_at, 'pending' \
      FROM jsonb_to_recordset(CAST($1 AS jsonb)) AS t(id text, owner_id text, object_key text, file_name text, \
           content_type text, declared_size bigint, checksum_sha256 text, method text, expires_at bigint, rank bigint) \
      JOIN locked l ON l.id = t.owner_id \
      WHERE t.rank <= CASE WHEN l.ws > CAST($3 AS BIGINT) THEN CAST($4 AS BIGINT) - l.wc ELSE CAST($4 AS BIGINT) END \
      RETURNING id \
    ), counted AS ( \
      UPDATE users SET \
        ticket_window_count = CASE WHEN l.ws > CAST($3 AS BIGINT) \
          THEN LEAST(l.wc + o.n, GREATEST(l.wc, CAST($4 AS BIGINT))) ELSE LEAST(o.n, CAST($4 AS BIGINT)) END, \
        ticket_window_start = CASE WHEN l.ws > CAST($3 AS BIGINT) THEN l.ws ELSE CAST($2 AS BIGINT) END \
      FROM locked l JOIN owners o ON o.id = l.id WHERE users.id = l.id \
      RETURNING users.id \
    ) \
    SELECT id FROM inserted";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_travels_as_its_row_with_its_rank_and_the_method_in_words() {
        let row = PendingRow {
            id: "u1".into(),
            owner_id: "o".into(),
            object_key: "k".into(),
            file_name: "a \"b\".txt".into(),
            content_type: "text/plain".into(),
            declared_size: 3,
            checksum_sha256: None,
            method: SigningMethod::Put,
            expires_at: 9,
        };
        let json = serde_json::to_value(Ticket { row: &row, rank: 2 }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "u1", "owner_id": "o", "object_key": "k", "file_name": "a \"b\".txt",
                "content_type": "text/plain", "declared_size": 3, "checksum_sha256": null, "method": "put",
                "expires_at": 9, "rank": 2})
        );
    }
}
