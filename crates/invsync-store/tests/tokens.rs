//! Rotating OAuth tokens (`oauth_tokens`) on both backends: the locked update stores what
//! it decides in its own transaction, and concurrent refreshers — in one process and in
//! two (two pools on one database) — take turns, so exactly one of them refreshes.

use chrono::{Duration as ChronoDuration, Utc};
use invsync_store::{Backend, Db, PoolOptions, TokenDecision, TokenRow, TokenStatus, TokenWrite};
use invsync_test_support::pg::{TestDatabase, fresh_database};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tempfile::TempDir;

struct Harness {
    db: Db,
    url: String,
    _postgres: Option<TestDatabase>,
    _dir: Option<TempDir>,
}

async fn harness(backend: Backend) -> Harness {
    let (url, postgres, dir) = match backend {
        Backend::Postgres => {
            let pg = fresh_database().await;
            (pg.url().to_owned(), Some(pg), None)
        }
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("create a temp dir");
            let url = format!("sqlite://{}/invsync.db", dir.path().display());
            (url, None, Some(dir))
        }
    };
    let db = Db::connect(&url, &PoolOptions::default())
        .await
        .expect("connect to the test database");
    db.migrate().await.expect("migrate the test database");
    Harness {
        db,
        url,
        _postgres: postgres,
        _dir: dir,
    }
}

/// A second "daemon": its own pool on the same database.
async fn second_process(h: &Harness) -> Db {
    Db::connect(&h.url, &PoolOptions::default())
        .await
        .expect("connect a second pool")
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(&harness(Backend::Postgres).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(&harness(Backend::Sqlite).await).await;
            }
        }
    )*};
}

both!(
    locked_update_round_trip,
    a_failed_update_writes_nothing,
    concurrent_refreshers_refresh_once,
    concurrent_first_refreshers_seed_once,
);

const CONNECTION: &str = "quickbooks-online:4620816365";

fn write(sealed: &[u8], valid_for: ChronoDuration) -> TokenWrite {
    TokenWrite {
        sealed: Some(sealed.to_vec()),
        access_expires_at: Some(Utc::now() + valid_for),
        refresh_expires_at: Some(Utc::now() + ChronoDuration::days(100)),
        status: TokenStatus::Active,
        status_reason: None,
    }
}

async fn locked_update_round_trip(h: &Harness) {
    let db = &h.db;
    assert!(db.load_tokens(CONNECTION).await.expect("load").is_none());

    let seen = db
        .with_locked_tokens(CONNECTION, |row| async move {
            Ok::<_, String>(TokenDecision::Write(
                write(b"sealed-1", ChronoDuration::hours(1)),
                row,
            ))
        })
        .await
        .expect("database")
        .expect("update");
    assert!(seen.is_none(), "nothing was stored before");
    let row = db
        .load_tokens(CONNECTION)
        .await
        .expect("load")
        .expect("row");
    assert_eq!(row.sealed.as_deref(), Some(&b"sealed-1"[..]));
    assert_eq!(row.status, TokenStatus::Active);
    assert_eq!(row.version, 1);
    let expires = row.access_expires_at.expect("expiry");
    assert!(
        expires > Utc::now() + ChronoDuration::minutes(59),
        "{expires}"
    );
    assert!(
        !format!("{row:?}").contains("sealed-1"),
        "Debug hides the bytes"
    );

    // Keep leaves the row alone; the update sees the current row.
    let seen: Option<TokenRow> = db
        .with_locked_tokens(CONNECTION, |row| async move {
            Ok::<_, String>(TokenDecision::Keep(row))
        })
        .await
        .expect("database")
        .expect("update");
    assert_eq!(seen.map(|r| r.version), Some(1));

    // Needing re-authorisation: the tokens are dropped, the reason kept.
    db.with_locked_tokens(CONNECTION, |_| async move {
        Ok::<_, String>(TokenDecision::Write(
            TokenWrite {
                sealed: None,
                access_expires_at: None,
                refresh_expires_at: None,
                status: TokenStatus::NeedsReauth,
                status_reason: Some("invalid_grant".into()),
            },
            (),
        ))
    })
    .await
    .expect("database")
    .expect("update");
    let row = db
        .load_tokens(CONNECTION)
        .await
        .expect("load")
        .expect("row");
    assert_eq!(row.status, TokenStatus::NeedsReauth);
    assert_eq!(row.status_reason.as_deref(), Some("invalid_grant"));
    assert_eq!(row.sealed, None);
    assert_eq!(row.version, 2);
    assert!(
        db.load_tokens("quickbooks-online:other")
            .await
            .expect("load")
            .is_none(),
        "rows are per connection"
    );
}

async fn a_failed_update_writes_nothing(h: &Harness) {
    let db = &h.db;
    let result = db
        .with_locked_tokens(CONNECTION, |_| async move {
            Err::<TokenDecision<()>, _>("token endpoint unreachable".to_owned())
        })
        .await
        .expect("database");
    assert_eq!(result, Err("token endpoint unreachable".to_owned()));
    assert!(db.load_tokens(CONNECTION).await.expect("load").is_none());
    // The lock was released: the next update goes through at once.
    tokio::time::timeout(
        Duration::from_secs(5),
        db.with_locked_tokens(CONNECTION, |_| async move {
            Ok::<_, String>(TokenDecision::Write(
                write(b"s", ChronoDuration::hours(1)),
                (),
            ))
        }),
    )
    .await
    .expect("not blocked")
    .expect("database")
    .expect("update");
}

/// The refresh every connector does: use the stored access token if it is still fresh,
/// else "call the token endpoint" (count it) and store the result.
async fn refresh(db: &Db, calls: Arc<AtomicUsize>) -> Vec<u8> {
    db.with_locked_tokens(CONNECTION, move |row| async move {
        if let Some(row) = row
            && row.access_expires_at.is_some_and(|t| t > Utc::now())
        {
            return Ok::<_, String>(TokenDecision::Keep(row.sealed.unwrap_or_default()));
        }
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        // A token endpoint takes a while; others must wait, not refresh too.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sealed = format!("rotated-{n}").into_bytes();
        Ok(TokenDecision::Write(
            write(&sealed, ChronoDuration::hours(1)),
            sealed,
        ))
    })
    .await
    .expect("database")
    .expect("refresh")
}

async fn concurrent_refreshers_refresh_once(h: &Harness) {
    // An expired access token is stored.
    h.db.with_locked_tokens(CONNECTION, |_| async move {
        Ok::<_, String>(TokenDecision::Write(
            write(b"old", ChronoDuration::minutes(-1)),
            (),
        ))
    })
    .await
    .expect("database")
    .expect("seed");
    let other = second_process(h).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let db = if i % 2 == 0 {
            h.db.clone()
        } else {
            other.clone()
        };
        let calls = Arc::clone(&calls);
        tasks.push(tokio::spawn(async move { refresh(&db, calls).await }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("task"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "exactly one refresh");
    assert!(
        results.iter().all(|r| r == b"rotated-1"),
        "everyone uses the one new token"
    );
    let row =
        h.db.load_tokens(CONNECTION)
            .await
            .expect("load")
            .expect("row");
    assert_eq!(row.version, 2);
    other.close().await;
}

async fn concurrent_first_refreshers_seed_once(h: &Harness) {
    // Nothing stored yet: two processes start at once from the config's token.
    let other = second_process(h).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let (a, b) = tokio::join!(
        refresh(&h.db, Arc::clone(&calls)),
        refresh(&other, Arc::clone(&calls))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "exactly one refresh");
    assert_eq!(a, b);
    other.close().await;
}
