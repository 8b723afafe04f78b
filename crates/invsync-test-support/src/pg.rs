//! A fresh, empty Postgres database per test.
//!
//! Tests that touch Postgres must run against a real server (no mocks) and must never
//! silently skip when it is missing: [`fresh_database`] panics with instructions instead.
//! Each call creates its own uniquely named database, so tests run in parallel without
//! seeing each other's rows, and [`TestDatabase`] drops it again when the test ends.
//!
//! The server is reached through an *admin* URL, a user allowed to create databases:
//! `$INVSYNC_TEST_POSTGRES_URL`, or [`DEFAULT_ADMIN_URL`] (the local Debian cluster over its
//! Unix socket, as the current OS user).

use sqlx::{Connection, Executor, PgConnection};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The environment variable that names the admin URL.
pub const ADMIN_URL_ENV: &str = "INVSYNC_TEST_POSTGRES_URL";

/// The admin URL used when [`ADMIN_URL_ENV`] is not set: the local cluster's socket.
pub const DEFAULT_ADMIN_URL: &str = "postgres:///postgres?host=/var/run/postgresql";

/// How to get a server, printed when none is reachable.
const HOW_TO_START: &str = "start the local cluster with `pg_ctlcluster 15 main start && \
     runuser -u postgres -- createuser -s root` (ignore \"already exists\"), or point \
     INVSYNC_TEST_POSTGRES_URL at a server where this user may CREATE DATABASE";

/// Bounds every admin connection attempt, so a missing server fails the test quickly
/// instead of hanging it.
const ADMIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes names unique within this process; the pid and a random suffix make them unique
/// across test binaries running at the same time and across leftovers of killed runs.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The admin URL in force (see the module docs).
pub fn admin_url() -> String {
    std::env::var(ADMIN_URL_ENV).unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// A database that exists for as long as this value lives. Dropping it drops the database
/// `WITH (FORCE)`, which also ends connections a test left open.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDatabase {
    /// The URL to connect to this database, with the admin URL's user, host and options.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name (`invsync_test_<pid>_<counter>_<random>`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Creates a new, empty database and returns its handle.
///
/// # Panics
/// When the server is unreachable or refuses to create the database: a test that needs
/// Postgres fails loudly, with the commands that start one, rather than being skipped.
pub async fn fresh_database() -> TestDatabase {
    let admin_url = admin_url();
    let name = format!(
        "invsync_test_{}_{}_{:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    let url = database_url(&admin_url, &name);

    let mut admin = connect_admin(&admin_url).await;
    // The name is built above from digits, lower-case letters and `_` only, so quoting
    // it is enough to make it a safe identifier.
    let create = format!(r#"CREATE DATABASE "{name}""#);
    if let Err(e) = admin.execute(sqlx::AssertSqlSafe(create)).await {
        panic!(
            "cannot create test database `{name}` on {}: {e}; {HOW_TO_START}",
            redact(&admin_url)
        );
    }
    // Closing is best effort: the database exists either way.
    let _ = admin.close().await;
    TestDatabase {
        name,
        url,
        admin_url,
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // `Drop` cannot be async and may run inside (or outside) a Tokio runtime, where
        // blocking on that runtime would deadlock: use a thread with a runtime of its own.
        let name = self.name.clone();
        let admin_url = self.admin_url.clone();
        let joined = std::thread::spawn(move || drop_database(&admin_url, &name)).join();
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop test database `{}`: {e}", self.name),
            Err(_) => eprintln!("warning: dropping test database `{}` panicked", self.name),
        }
    }
}

/// Drops `name` on its own current-thread runtime; errors are returned, never panicked,
/// because this runs from `Drop` (a panic there while unwinding would abort).
fn drop_database(admin_url: &str, name: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(async {
        let mut admin = match tokio::time::timeout(ADMIN_CONNECT_TIMEOUT, connect(admin_url)).await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(format!("cannot connect to {}: {e}", redact(admin_url))),
            Err(_) => return Err(format!("timed out connecting to {}", redact(admin_url))),
        };
        let statement = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
        admin
            .execute(sqlx::AssertSqlSafe(statement))
            .await
            .map_err(|e| e.to_string())?;
        let _ = admin.close().await;
        Ok(())
    })
}

/// libpq's default user for a URL that names none: `$PGUSER`, else the OS user. sqlx
/// 0.9 would use `anonymous` instead (its `whoami` is built without OS support).
fn implicit_user(url: &url::Url) -> Option<String> {
    if !url.username().is_empty() || url.query_pairs().any(|(key, _)| key == "user") {
        return None;
    }
    match std::env::var("PGUSER") {
        Ok(user) if !user.is_empty() => Some(user),
        _ => whoami::username().ok().filter(|user| !user.is_empty()),
    }
}

/// Connects to `url` as [`implicit_user`] when it names no user.
async fn connect(url: &str) -> Result<PgConnection, sqlx::Error> {
    let mut options: sqlx::postgres::PgConnectOptions = url.parse()?;
    if let Some(user) = url::Url::parse(url).ok().as_ref().and_then(implicit_user) {
        options = options.username(&user);
    }
    PgConnection::connect_with(&options).await
}

/// Connects to the admin database or panics with instructions.
async fn connect_admin(admin_url: &str) -> PgConnection {
    match tokio::time::timeout(ADMIN_CONNECT_TIMEOUT, connect(admin_url)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!(
            "Postgres is not reachable at {} (from ${ADMIN_URL_ENV} or the default): {e}; {HOW_TO_START}",
            redact(admin_url)
        ),
        Err(_) => panic!(
            "timed out after {ADMIN_CONNECT_TIMEOUT:?} connecting to Postgres at {}; {HOW_TO_START}",
            redact(admin_url)
        ),
    }
}

/// The admin URL with its database (the path) replaced by `name`, and the user made
/// explicit when the admin URL leaves it implicit, so every client (sqlx, `psql`, the
/// binary under test) connects as the same user.
fn database_url(admin_url: &str, name: &str) -> String {
    match url::Url::parse(admin_url) {
        Ok(mut url) => {
            url.set_path(&format!("/{name}"));
            if let Some(user) = implicit_user(&url) {
                // As a query parameter, which sqlx and libpq both read: a URL without a
                // host (`postgres:///db?host=/socket/dir`) cannot carry `user@`.
                url.query_pairs_mut().append_pair("user", &user);
            }
            url.to_string()
        }
        Err(e) => panic!("${ADMIN_URL_ENV} is not a URL ({e}): {}", redact(admin_url)),
    }
}

/// The URL without its password, for panic messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("****"));
            }
            parsed.to_string()
        }
        Err(_) => "<the admin URL, which does not parse>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_replaces_the_database_and_keeps_options() {
        let user = implicit_user(&url::Url::parse("postgres:///x").expect("a URL"))
            .expect("this test needs $PGUSER or an OS user name");
        assert_eq!(
            database_url(
                "postgres:///postgres?host=/var/run/postgresql",
                "invsync_test_1"
            ),
            format!("postgres:///invsync_test_1?host=/var/run/postgresql&user={user}")
        );
        assert_eq!(
            database_url("postgres://u:p@db:5432/postgres", "x"),
            "postgres://u:p@db:5432/x"
        );
    }

    #[test]
    fn redact_hides_the_password() {
        assert_eq!(
            redact("postgres://u:secret@db/postgres"),
            "postgres://u:****@db/postgres"
        );
    }

    #[tokio::test]
    async fn fresh_database_exists_until_dropped() {
        let db = fresh_database().await;
        let mut conn = connect(db.url())
            .await
            .expect("connect to the fresh database");
        let current: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut conn)
            .await
            .expect("query current_database()");
        assert_eq!(current, db.name());
        let name = db.name().to_owned();
        // Left open on purpose: the drop must force it closed.
        drop(db);
        let mut admin = connect_admin(&admin_url()).await;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&name)
                .fetch_one(&mut admin)
                .await
                .expect("query pg_database");
        assert!(!exists, "database {name} should be gone");
        drop(conn);
    }
}
