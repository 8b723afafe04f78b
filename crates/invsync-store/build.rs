//! `sqlx::migrate!` embeds the migration files at compile time; without this, editing or
//! adding a migration would not rebuild the crate and the binary would carry stale SQL.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/postgres");
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
}
