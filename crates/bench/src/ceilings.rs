//! The machine's raw ceilings, measured in the same run as the load: database
//! commits/s of a transaction shaped like one referral's write, NATS JetStream
//! acknowledged publishes/s, and bare tonic unary calls/s on loopback. The
//! load's throughput is reported as a ratio to each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fengqiao_platform::{Database, Settings};
use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use tokio::time::Instant;

/// The ceilings, per second.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Ceilings {
    /// Commits/s of a two-insert transaction (a case row and an outbox row).
    pub database_commits: f64,
    /// JetStream publishes/s, each acknowledged (none in standalone mode: the bus is in-process).
    pub nats_acked_publishes: Option<f64>,
    /// Unary gRPC calls/s to a bare tonic server (the health service) over loopback.
    pub grpc_calls: f64,
}

/// Concurrent writers / callers while measuring.
const CONCURRENCY: usize = 16;

/// Runs `work` on [`CONCURRENCY`] tasks for `secs`; returns completions per second.
async fn rate<F, Fut>(secs: f64, work: F) -> anyhow::Result<f64>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let work = Arc::new(work);
    let done = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (work, done) = (work.clone(), done.clone());
        tasks.spawn(async move {
            while Instant::now() < end {
                work().await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    while let Some(finished) = tasks.join_next().await {
        finished??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// Commits/s on the configured database (PostgreSQL, or SQLite in standalone mode).
pub async fn database(settings: &Settings, secs: f64) -> anyhow::Result<f64> {
    let mut settings = settings.clone();
    settings.database.max_connections = CONCURRENCY as u32;
    let db = Database::connect(&settings, "bench").await?;
    // Writes go the way the components' do: on SQLite through the file's one
    // writing connection (reading connections are query-only).
    let pool = db.writer().clone();
    for ddl in [
        "DROP TABLE IF EXISTS ceiling_case",
        "DROP TABLE IF EXISTS ceiling_outbox",
        "CREATE TABLE ceiling_case (case_id TEXT PRIMARY KEY, body TEXT NOT NULL, created_at BIGINT NOT NULL)",
        "CREATE TABLE ceiling_outbox (event_id TEXT PRIMARY KEY, subject TEXT NOT NULL, payload TEXT NOT NULL,
             created_at BIGINT NOT NULL)",
    ] {
        sqlx::query(ddl).execute(&pool).await?;
    }
    let body = "案".repeat(200);
    let measured = {
        let pool = pool.clone();
        rate(secs, move || {
            let (pool, body) = (pool.clone(), body.clone());
            async move {
                let mut tx = pool.begin().await?;
                sqlx::query("INSERT INTO ceiling_case (case_id, body, created_at) VALUES ($1, $2, $3)")
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(&body)
                    .bind(0_i64)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO ceiling_outbox (event_id, subject, payload, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(uuid::Uuid::now_v7().to_string())
                .bind("fengqiao.case.registered")
                .bind(&body)
                .bind(0_i64)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }
        })
        .await
    };
    for ddl in ["DROP TABLE ceiling_case", "DROP TABLE ceiling_outbox"] {
        sqlx::query(ddl).execute(&pool).await?;
    }
    measured
}

/// Acknowledged JetStream publishes/s of 1 KiB messages, up to 256 awaiting their ack, on a throw-away stream.
pub async fn nats(url: &str, secs: f64) -> anyhow::Result<f64> {
    let client = async_nats::connect(url).await?;
    let js = async_nats::jetstream::new(client);
    let name = format!("CEILING_{}", uuid::Uuid::new_v4().simple());
    let subject = format!("ceiling.{}", uuid::Uuid::new_v4().simple());
    js.create_stream(async_nats::jetstream::stream::Config {
        name: name.clone(),
        subjects: vec![subject.clone()],
        storage: async_nats::jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    let payload = bytes_of(1024);
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let (mut acked, mut waiting) = (0_u64, FuturesUnordered::new());
    while Instant::now() < end {
        while waiting.len() < 256 {
            waiting.push(std::future::IntoFuture::into_future(js.publish(subject.clone(), payload.clone()).await?));
        }
        if let Some(ack) = waiting.next().await {
            ack?;
            acked += 1;
        }
    }
    while let Some(ack) = waiting.next().await {
        ack?;
        acked += 1;
    }
    let measured = acked as f64 / start.elapsed().as_secs_f64();
    js.delete_stream(&name).await?;
    Ok(measured)
}

fn bytes_of(n: usize) -> bytes::Bytes {
    bytes::Bytes::from(vec![b'x'; n])
}

/// Unary calls/s to a bare tonic server (the standard health service) over loopback.
pub async fn grpc(secs: f64) -> anyhow::Result<f64> {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (_, service) = tonic_health::server::health_reporter();
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tonic::transport::Server::builder().add_service(service).serve_with_incoming_shutdown(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        stop.clone().cancelled_owned(),
    );
    let server = tokio::spawn(server);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?.connect().await?;
    let measured = rate(secs, move || {
        let mut client = HealthClient::new(channel.clone());
        async move {
            client.check(HealthCheckRequest::default()).await?;
            Ok(())
        }
    })
    .await;
    stop.cancel();
    let _ = server.await;
    measured
}

/// Every ceiling that applies to `settings`' mode, `secs` each, one after the other.
pub async fn measure(settings: &Settings, secs: f64) -> anyhow::Result<Ceilings> {
    let database_commits = database(settings, secs).await?;
    let nats_acked_publishes = if settings.uses_postgres() && !settings.bus.nats_url.is_empty() {
        Some(nats(&settings.bus.nats_url, secs).await?)
    } else {
        None
    };
    let grpc_calls = grpc(secs).await?;
    Ok(Ceilings { database_commits, nats_acked_publishes, grpc_calls })
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_sqlite_ceiling_commits_through_the_one_writer() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let settings = fengqiao_platform::Settings { data_dir: dir.path().to_path_buf(), ..Default::default() };
        let commits = super::database(&settings, 0.5).await.expect("measured");
        assert!(commits > 0.0, "no commit in half a second");
    }
}
