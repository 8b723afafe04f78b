//! Time as the database keeps it: the database's clock ([`Db::now`]), millisecond
//! precision ([`truncate`]) and timestamps bound as each backend stores them ([`Ts`]).
//! Every table with a time column (runs, schedules, orders, kept catalogs) uses these.

use crate::db::{Db, Pool};
use crate::error::{Context, StoreError};
use chrono::{DateTime, SubsecRound, Utc};

/// Millisecond precision: what both backends store.
pub fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

/// SQLite's text form of a timestamp (the format every SQLite migration uses).
fn text(t: DateTime<Utc>) -> String {
    truncate(t).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A timestamp bound as each backend stores it: `timestamptz` on Postgres, the sortable UTC
/// text on SQLite — so one query text and one `bind` serve both.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ts(pub DateTime<Utc>);

impl sqlx::Type<sqlx::Postgres> for Ts {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <DateTime<Utc> as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for Ts {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <DateTime<Utc> as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl sqlx::Type<sqlx::Sqlite> for Ts {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <String as sqlx::Type<sqlx::Sqlite>>::type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Sqlite> for Ts {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::sqlite::SqliteArgumentsBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <String as sqlx::Encode<sqlx::Sqlite>>::encode(text(self.0), buf)
    }
}

impl Db {
    /// The database's clock: due times are judged by it, not by the host's.
    pub async fn now(&self) -> Result<DateTime<Utc>, StoreError> {
        let now: DateTime<Utc> = match &self.pool {
            Pool::Postgres(p) => sqlx::query_scalar("SELECT now()").fetch_one(p).await,
            Pool::Sqlite(p) => {
                sqlx::query_scalar("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
                    .fetch_one(p)
                    .await
            }
        }
        .context("read the database clock")?;
        Ok(truncate(now))
    }
}
