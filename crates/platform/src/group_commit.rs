//! Group commit on SQLite: the small writes of concurrent callers applied by
//! one task in one transaction, so they share a commit — one sync of the WAL
//! instead of one each. A batch that fails is tried again one write at a time,
//! so a write that fails fails only its own caller; a caller that gave up
//! before its batch began has nothing written.
//!
//! On PostgreSQL a write goes alone, at once, on a connection of its own,
//! unless it says it batches there too ([`Write::BATCHES_ON_POSTGRES`]): a
//! batch holding several rows' locks waits on (and deadlocks with) other
//! transactions writing the same rows — measured, the gateway's batched
//! ownership rows against the status projection took distributed mode from
//! 169 to 64 referrals/s. Writes that only create rows of their own (a new
//! Idempotency-Key, a new case) wait on nobody, and sharing a commit saves
//! one commit (a WAL flush and its round trips) a write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use futures::future::BoxFuture;
use sqlx::AnyConnection;
use tokio::sync::{mpsc, oneshot};

use crate::db::Backend;
use crate::Database;

/// One write, applied inside a transaction shared with others.
pub trait Write: Send + Sync + 'static {
    /// What its caller gets back.
    type Output: Send + 'static;

    /// Its name in the metrics (`write` label), e.g. `case_owner`.
    const NAME: &'static str;

    /// Whether its statements must commit together: applied alone (unbatched on
    /// PostgreSQL, or a batch of one) it then runs in a transaction of its own;
    /// otherwise (one statement) without one.
    const ATOMIC: bool = false;

    /// Whether its writes share commits on PostgreSQL too, as on SQLite: only
    /// for writes that create rows no other transaction writes (a batch that
    /// deadlocks all the same fails and is tried one write at a time).
    const BATCHES_ON_POSTGRES: bool = false;

    /// Applies the write on `conn`: inside a batch's transaction where it
    /// batches (it may run twice: the batch is rolled back and each write
    /// tried alone), otherwise on its own, in a transaction only if
    /// [`ATOMIC`](Self::ATOMIC).
    fn apply<'c>(&'c self, conn: &'c mut AnyConnection) -> BoxFuture<'c, Result<Self::Output, sqlx::Error>>;

    /// Applies a batch's `writes` in order inside its transaction (SQLite),
    /// each one's output in its place: by default one after another
    /// ([`apply_each`]). A write that can take a batch in fewer statements
    /// says how: every statement is a round trip to the file's one writing
    /// connection, which all of a component's writes queue for.
    fn apply_all<'c>(
        writes: &'c [&'c Self],
        conn: &'c mut AnyConnection,
    ) -> BoxFuture<'c, Result<Vec<Self::Output>, sqlx::Error>>
    where
        Self: Sized,
    {
        Box::pin(apply_each(writes, conn))
    }
}

/// Applies `writes` one after another on `conn`: [`Write::apply_all`]'s default.
pub async fn apply_each<W: Write>(writes: &[&W], conn: &mut AnyConnection) -> Result<Vec<W::Output>, sqlx::Error> {
    let mut outputs = Vec::with_capacity(writes.len());
    for write in writes {
        outputs.push(write.apply(&mut *conn).await?);
    }
    Ok(outputs)
}

type Job<W> = (W, oneshot::Sender<Result<<W as Write>::Output, sqlx::Error>>);

/// The handle callers write through (cheap to clone).
pub struct GroupCommit<W: Write> {
    /// The batching writer's queue; `None` where each write goes alone (PostgreSQL).
    tx: Option<mpsc::Sender<Job<W>>>,
    db: Database,
    commits: Arc<AtomicU64>,
}

impl<W: Write> Clone for GroupCommit<W> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone(), db: self.db.clone(), commits: self.commits.clone() }
    }
}

impl<W: Write> GroupCommit<W> {
    /// Starts the writer on `db` (on SQLite, or where the write batches on
    /// PostgreSQL), taking up to `max_batch` waiting writes a commit; it runs
    /// until every handle is dropped.
    pub fn start(db: Database, max_batch: usize) -> Self {
        let commits = Arc::new(AtomicU64::new(0));
        if db.backend() == Backend::Postgres && !W::BATCHES_ON_POSTGRES {
            return Self { tx: None, db, commits };
        }
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(4 * max_batch);
        tokio::spawn(crate::db::held_by(W::NAME, writer(db.clone(), rx, max_batch, commits.clone())));
        Self { tx: Some(tx), db, commits }
    }

    /// The database it writes to.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// How many batches it has committed or tried to (for tests; 0 where each write goes alone).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Applies `write` in the next commit and returns its output once committed.
    pub async fn write(&self, write: W) -> Result<W::Output, sqlx::Error> {
        let Some(tx) = &self.tx else { return commit_one(&self.db, &write).await };
        let (done, committed) = oneshot::channel();
        tx.send((write, done)).await.map_err(|_| sqlx::Error::PoolClosed)?;
        committed.await.unwrap_or(Err(sqlx::Error::PoolClosed))
    }
}

/// The next batch of a queue: waits for one item, then takes those already
/// waiting behind it, up to `max` in all; `None` once every sender is gone.
pub async fn next_batch<T>(rx: &mut mpsc::Receiver<T>, max: usize) -> Option<Vec<T>> {
    let mut batch = vec![rx.recv().await?];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(more) => batch.push(more),
            Err(_) => break,
        }
    }
    Some(batch)
}

async fn writer<W: Write>(db: Database, mut rx: mpsc::Receiver<Job<W>>, max_batch: usize, commits: Arc<AtomicU64>) {
    while let Some(mut batch) = next_batch(&mut rx, max_batch).await {
        // Callers that stopped waiting (their deadline passed) get nothing written.
        batch.retain(|(_, done)| !done.is_closed());
        if batch.is_empty() {
            continue;
        }
        let labels = [("component", db.component().to_string()), ("write", W::NAME.to_string())];
        ::metrics::counter!(crate::metrics::GROUP_COMMIT_WRITES, &labels).increment(batch.len() as u64);
        ::metrics::counter!(crate::metrics::GROUP_COMMITS, &labels).increment(1);
        commits.fetch_add(1, Ordering::Relaxed);
        let writes: Vec<&W> = batch.iter().map(|(w, _)| w).collect();
        match commit(&db, &writes).await {
            Ok(outputs) => {
                for ((_, done), output) in batch.into_iter().zip(outputs) {
                    let _ = done.send(Ok(output));
                }
            }
            Err(e) if batch.len() == 1 => {
                let (_, done) = batch.pop().expect("one");
                let _ = done.send(Err(e));
            }
            Err(e) => {
                tracing::warn!(error = %e, writes = batch.len(), "a group commit failed; trying its writes one at a time");
                // Those who gave up while the batch failed get nothing written either.
                for (write, done) in batch.into_iter().filter(|(_, done)| !done.is_closed()) {
                    let _ = done.send(commit_one(&db, &write).await);
                }
            }
        }
    }
}

/// Applies one write in a transaction of its own and commits it.
async fn commit_one<W: Write>(db: &Database, write: &W) -> Result<W::Output, sqlx::Error> {
    commit(db, &[write]).await.map(|mut o| o.remove(0))
}

/// Applies `writes` in order in one transaction and commits it. A lone write
/// that needs no transaction ([`Write::ATOMIC`]) commits by itself, without
/// the round trips of `BEGIN` and `COMMIT` (at low load most batches are one
/// write: a claim took 3 round trips instead of 1 once claims batched).
async fn commit<W: Write>(db: &Database, writes: &[&W]) -> Result<Vec<W::Output>, sqlx::Error> {
    if let [one] = writes {
        if !W::ATOMIC {
            let mut conn = db.writer().acquire().await?;
            return Ok(vec![one.apply(&mut conn).await?]);
        }
    }
    let mut tx = db.begin().await?;
    let outputs = W::apply_all(writes, &mut tx).await?;
    debug_assert_eq!(outputs.len(), writes.len(), "{}: one output a write", W::NAME);
    tx.commit().await?;
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDatabase;
    use futures::FutureExt;

    /// Inserts `n`; fails (a CHECK) when `n` is negative. `SHARED`: it
    /// batches on PostgreSQL too.
    struct Put<const SHARED: bool = false>(i64);

    impl<const SHARED: bool> Write for Put<SHARED> {
        type Output = i64;
        const NAME: &'static str = "test_row";
        const BATCHES_ON_POSTGRES: bool = SHARED;
        fn apply<'c>(&'c self, conn: &'c mut AnyConnection) -> BoxFuture<'c, Result<i64, sqlx::Error>> {
            async move {
                sqlx::query("INSERT INTO t (n) VALUES ($1)").bind(self.0).execute(&mut *conn).await?;
                sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(&mut *conn).await
            }
            .boxed()
        }
    }

    async fn table(backend: Backend) -> TestDatabase {
        let t = TestDatabase::new(backend, "group").await.expect("a test database");
        sqlx::query("CREATE TABLE t (n BIGINT NOT NULL CHECK (n >= 0))").execute(t.db.writer()).await.expect("create");
        t
    }

    /// Writes 0..200 at once, 77 failing; returns each write's answer.
    async fn two_hundred_at_once<const SHARED: bool>(
        backend: Backend,
    ) -> (TestDatabase, GroupCommit<Put<SHARED>>, Vec<Result<i64, sqlx::Error>>) {
        let t = table(backend).await;
        let group = GroupCommit::<Put<SHARED>>::start(t.db.clone(), 64);
        let calls: Vec<_> = (0..200).map(|n| group.write(Put(if n == 77 { -1 } else { n }))).collect();
        let results = futures::future::join_all(calls).await;
        for (n, r) in results.iter().enumerate() {
            assert_eq!(r.is_err(), n == 77, "write {n}: {r:?}");
        }
        let mut rows: Vec<i64> = sqlx::query_scalar("SELECT n FROM t").fetch_all(t.db.pool()).await.expect("read");
        rows.sort_unstable();
        let expected: Vec<i64> = (0..200).filter(|n| *n != 77).collect();
        assert_eq!(rows, expected, "each good write once, the bad one not at all");
        (t, group, results)
    }

    /// Writes waiting together went out in fewer commits than writes, each
    /// seeing the rows of the earlier writes of its batch.
    async fn concurrent_writes_share_commits_and_a_bad_one_fails_alone<const SHARED: bool>(backend: Backend) {
        let (t, group, results) = two_hundred_at_once::<SHARED>(backend).await;
        assert!(group.commits() < 100, "{} commits for 200 writes", group.commits());
        let counts: std::collections::HashSet<i64> = results.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
        assert_eq!(counts.len(), 199, "every write saw a different count");
        t.finish().await;
    }

    #[tokio::test]
    async fn concurrent_writes_share_commits_and_a_bad_one_fails_alone_on_sqlite() {
        concurrent_writes_share_commits_and_a_bad_one_fails_alone::<false>(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn writes_that_batch_on_postgres_share_commits_and_a_bad_one_fails_alone() {
        concurrent_writes_share_commits_and_a_bad_one_fails_alone::<true>(Backend::Postgres).await;
    }

    /// Two statements, each asking PostgreSQL for its transaction's id: the
    /// same id when they ran in one transaction. `ATOMIC` as said.
    struct Txids<const ATOMIC: bool>;

    impl<const A: bool> Write for Txids<A> {
        type Output = (i64, i64);
        const NAME: &'static str = "txids";
        const ATOMIC: bool = A;
        fn apply<'c>(&'c self, conn: &'c mut AnyConnection) -> BoxFuture<'c, Result<(i64, i64), sqlx::Error>> {
            async move {
                let first = sqlx::query_scalar("SELECT txid_current()").fetch_one(&mut *conn).await?;
                Ok((first, sqlx::query_scalar("SELECT txid_current()").fetch_one(&mut *conn).await?))
            }
            .boxed()
        }
    }

    #[tokio::test]
    async fn on_postgres_a_lone_write_commits_without_a_transaction_unless_atomic() {
        let t = TestDatabase::new(Backend::Postgres, "group").await.expect("a test database");
        let (a, b) = commit(&t.db, &[&Txids::<false>]).await.expect("lone write").remove(0);
        assert_ne!(a, b, "a lone write's statements commit each by itself: no BEGIN, no COMMIT");
        let (a, b) = commit(&t.db, &[&Txids::<true>]).await.expect("lone atomic write").remove(0);
        assert_eq!(a, b, "an atomic write runs in a transaction even alone");
        let both = commit(&t.db, &[&Txids::<false>, &Txids::<false>]).await.expect("a batch");
        let ids: std::collections::HashSet<i64> = both.iter().flat_map(|(a, b)| [*a, *b]).collect();
        assert_eq!(ids.len(), 1, "a batch of two shares one transaction: {both:?}");
        t.finish().await;
    }

    #[tokio::test]
    async fn on_postgres_each_write_goes_alone_and_a_bad_one_fails_alone() {
        let (t, group, _) = two_hundred_at_once::<false>(Backend::Postgres).await;
        assert_eq!(group.commits(), 0, "a batch was formed on PostgreSQL");
        t.finish().await;
    }

    #[tokio::test]
    async fn a_caller_that_stopped_waiting_has_nothing_written() {
        let t = table(Backend::Sqlite).await;
        let group = GroupCommit::<Put>::start(t.db.clone(), 64);
        // Hold the connection: the writer takes the first write and waits for it …
        let tx = t.db.begin().await.expect("begin");
        let first = tokio::spawn({
            let group = group.clone();
            async move { group.write(Put(1)).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        // … while the second waits in the queue, and its caller gives up.
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(100), group.write(Put(2))).await;
        assert!(gave_up.is_err(), "the write finished while the writer was held");
        drop(tx);
        assert_eq!(first.await.expect("joined").expect("written"), 1);
        assert_eq!(group.write(Put(3)).await.expect("written"), 2, "the write nobody waited for went in");
        t.finish().await;
    }

    #[tokio::test]
    async fn a_caller_that_gave_up_while_its_batch_failed_has_nothing_written() {
        let t = table(Backend::Sqlite).await;
        let group = GroupCommit::<Put>::start(t.db.clone(), 64);
        // Hold the connection: the writer forms one batch of the bad write and
        // the good one, then waits to begin it …
        let tx = t.db.begin().await.expect("begin");
        let bad = tokio::spawn({
            let group = group.clone();
            async move { group.write(Put(-1)).await }
        });
        let good = tokio::spawn({
            let group = group.clone();
            async move { group.write(Put(2)).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        // … the good write's caller gives up; the batch fails on the bad write
        // and is retried write by write, without the abandoned one.
        good.abort();
        drop(tx);
        assert!(bad.await.expect("joined").is_err(), "the bad write was accepted");
        assert_eq!(group.write(Put(3)).await.expect("written"), 1, "the abandoned write went in on the retry");
        t.finish().await;
    }
}
