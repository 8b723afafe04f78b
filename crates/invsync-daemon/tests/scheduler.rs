//! The scheduling core with time under control: a manual clock, runs that last as long as
//! a test says, and a real database (every scenario on SQLite and on Postgres).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use invsync_config::{Config, LoadOptions};
use invsync_core::{RunCounts, RunStatus};
use invsync_daemon::{Health, ManualClock, Scheduler, SlotRunner};
use invsync_engine::{EngineError, RunReport, SyncRequest};
use invsync_store::{Backend, Db, PoolOptions, StoreError};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Records every run; a run waits for a permit when `hold` is set (a long run).
#[derive(Default)]
struct FakeRunner {
    runs: Mutex<Vec<(String, Option<DateTime<Utc>>)>>,
    hold: Mutex<Option<Arc<Semaphore>>>,
    busy_store: Mutex<Option<String>>,
    /// Runs that ended: schedule, the config's cadence for it as the run saw it, and
    /// whether the run was asked to stop.
    finished: Mutex<Vec<(String, Option<String>, bool)>>,
}

impl FakeRunner {
    fn runs(&self) -> Vec<(String, Option<DateTime<Utc>>)> {
        self.runs.lock().expect("lock").clone()
    }
    fn count(&self, schedule: &str) -> usize {
        self.runs().iter().filter(|(s, _)| s == schedule).count()
    }
}

#[async_trait]
impl SlotRunner for FakeRunner {
    async fn run(
        &self,
        config: Arc<Config>,
        request: SyncRequest,
        cancel: CancellationToken,
    ) -> Result<RunReport, EngineError> {
        if self.busy_store.lock().expect("lock").as_deref() == Some(request.store.as_str()) {
            return Err(EngineError::Store(StoreError::RunInProgress {
                store: request.store.clone(),
                run_id: 99,
            }));
        }
        self.runs.lock().expect("lock").push((
            request.schedule.clone().unwrap_or_default(),
            request.scheduled_for,
        ));
        let hold = self.hold.lock().expect("lock").clone();
        if let Some(hold) = hold {
            let _permit = hold.acquire().await.expect("permit");
        }
        let name = request.schedule.clone().unwrap_or_default();
        let cadence = config
            .schedules
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.cadence.describe());
        self.finished
            .lock()
            .expect("lock")
            .push((name, cadence, cancel.is_cancelled()));
        Ok(RunReport {
            run_id: None,
            dry_run: false,
            status: RunStatus::Succeeded,
            counts: RunCounts::default(),
            changes: vec![],
            skipped: vec![],
            error: None,
            input_error: false,
            unrecorded: None,
            unknown_skus: vec![],
        })
    }
}

struct World {
    dir: tempfile::TempDir,
    db: Db,
    clock: Arc<ManualClock>,
    runner: Arc<FakeRunner>,
    _pg: Option<invsync_test_support::pg::TestDatabase>,
}

fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("time")
}

fn t0() -> DateTime<Utc> {
    t(2026, 11, 27, 10, 0)
}

const BASE: &str = "[accounting]\nkind = \"file\"\npath = \"a.csv\"\n[stores.shop]\nkind = \"file\"\npath = \"s.csv\"\n[stores.pos]\nkind = \"file\"\npath = \"p.csv\"\n";

impl World {
    async fn new(backend: Backend) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let pg = match backend {
            Backend::Postgres => Some(invsync_test_support::pg::fresh_database().await),
            Backend::Sqlite => None,
        };
        let url = match &pg {
            Some(pg) => pg.url().to_owned(),
            None => format!("sqlite://{}/invsync.db", dir.path().display()),
        };
        let db = Db::connect(&url, &PoolOptions::default())
            .await
            .expect("connect");
        db.migrate().await.expect("migrate");
        World {
            dir,
            db,
            clock: Arc::new(ManualClock::new(t0())),
            runner: Arc::new(FakeRunner::default()),
            _pg: pg,
        }
    }

    fn config(&self, schedules: &str) -> Arc<Config> {
        let path = self.dir.path().join("invsync.toml");
        std::fs::write(&path, format!("{BASE}{schedules}")).expect("write");
        let now = Some(self.clock.get());
        Arc::new(
            invsync_config::load_with(
                &path,
                &LoadOptions {
                    env: Some(Default::default()),
                    now,
                },
            )
            .expect("valid config"),
        )
    }

    async fn scheduler(&self, schedules: &str) -> Scheduler {
        self.scheduler_as(schedules, None).await
    }

    async fn scheduler_as(&self, schedules: &str, owner: Option<&str>) -> Scheduler {
        let config = self.config(schedules);
        let mut s = Scheduler::new(
            self.db.clone(),
            self.clock.clone(),
            self.runner.clone(),
            config.clone(),
            Arc::new(Health::default()),
        );
        if let Some(owner) = owner {
            s = s.with_owner(owner);
        }
        s.apply_config(config).await.expect("apply");
        s
    }

    /// Sets the clock, runs one scheduling pass, and waits for the runs it started (unless
    /// runs are being held).
    async fn at(&self, s: &mut Scheduler, when: DateTime<Utc>) {
        self.clock.set(when);
        s.tick().await.expect("tick");
        if self.runner.hold.lock().expect("lock").is_none() {
            s.wait_idle().await;
        }
    }
}

const EVERY_15M: &str = "[[schedules]]\nname = \"s\"\nstore = \"shop\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"quantity\"]\n";
const EVERY_24H: &str = "[[schedules]]\nname = \"daily\"\nstore = \"shop\"\nevery = \"24h\"\nupdate = \"store\"\nfields = [\"quantity\"]\n";

macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() { super::$name(super::World::new(invsync_store::Backend::Sqlite).await).await }
            #[tokio::test(flavor = "multi_thread")]
            async fn postgres() { super::$name(super::World::new(invsync_store::Backend::Postgres).await).await }
        }
    )*};
}

both!(
    a_never_run_schedule_is_due_at_start_then_keeps_its_cadence,
    a_run_longer_than_its_interval_delays_the_next_instead_of_overlapping,
    missed_slots_coalesce_into_one_run,
    a_restart_keeps_due_times,
    the_wall_clock_jumping_forward_runs_once_then_keeps_going,
    the_wall_clock_jumping_backward_repeats_nothing,
    cron_in_a_time_zone_runs_once_per_local_day_across_dst,
    two_daemons_run_each_slot_exactly_once,
    reloads_add_change_and_remove_schedules,
    a_reload_leaves_runs_in_flight_alone,
    a_busy_store_records_a_skipped_slot,
);

async fn a_never_run_schedule_is_due_at_start_then_keeps_its_cadence(w: World) {
    let mut s = w.scheduler(EVERY_15M).await;
    w.at(&mut s, t0()).await;
    assert_eq!(
        w.runner.runs(),
        vec![("s".to_owned(), Some(t0()))],
        "due at start"
    );
    w.at(&mut s, t0() + TimeDelta::minutes(14)).await;
    assert_eq!(w.runner.count("s"), 1, "not before its interval");
    w.at(&mut s, t0() + TimeDelta::minutes(15)).await;
    w.at(
        &mut s,
        t0() + TimeDelta::minutes(30) + TimeDelta::seconds(2),
    )
    .await;
    assert_eq!(w.runner.count("s"), 3);
    let slots: Vec<_> = w
        .runner
        .runs()
        .into_iter()
        .filter_map(|(_, due)| due)
        .collect();
    assert_eq!(
        slots,
        vec![
            t0(),
            t0() + TimeDelta::minutes(15),
            t0() + TimeDelta::minutes(30)
        ],
        "the cadence does not drift"
    );
}

async fn a_run_longer_than_its_interval_delays_the_next_instead_of_overlapping(w: World) {
    let hold = Arc::new(Semaphore::new(0));
    *w.runner.hold.lock().expect("lock") = Some(hold.clone());
    let mut s = w.scheduler(EVERY_15M).await;
    w.at(&mut s, t0()).await;
    for minutes in [10, 15, 20, 30, 40] {
        w.at(&mut s, t0() + TimeDelta::minutes(minutes)).await;
    }
    assert_eq!(
        w.runner.count("s"),
        1,
        "a 40-minute run is never overlapped"
    );
    *w.runner.hold.lock().expect("lock") = None;
    hold.add_permits(1);
    s.wait_idle().await;
    w.at(&mut s, t0() + TimeDelta::minutes(41)).await;
    assert_eq!(
        w.runner.count("s"),
        2,
        "the next slot runs once, right after"
    );
    w.at(&mut s, t0() + TimeDelta::minutes(42)).await;
    assert_eq!(w.runner.count("s"), 2, "and not again for the missed slots");
    w.at(&mut s, t0() + TimeDelta::minutes(56)).await;
    assert_eq!(w.runner.count("s"), 3, "then every 15 minutes from there");
}

async fn missed_slots_coalesce_into_one_run(w: World) {
    let mut s = w.scheduler(EVERY_15M).await;
    w.at(&mut s, t0()).await;
    // Three days of downtime: 288 slots missed.
    w.at(&mut s, t0() + TimeDelta::days(3)).await;
    w.at(&mut s, t0() + TimeDelta::days(3) + TimeDelta::seconds(1))
        .await;
    assert_eq!(w.runner.count("s"), 2, "one catch-up run, not 288");
    w.at(&mut s, t0() + TimeDelta::days(3) + TimeDelta::minutes(15))
        .await;
    assert_eq!(w.runner.count("s"), 3, "the schedule keeps firing");
}

async fn a_restart_keeps_due_times(w: World) {
    let mut s = w.scheduler(EVERY_24H).await;
    w.at(&mut s, t0()).await;
    drop(s);
    // Deploys every 6 hours: each restart is a fresh scheduler on the same database.
    for hours in [6, 12, 18] {
        let mut s = w.scheduler(EVERY_24H).await;
        w.at(&mut s, t0() + TimeDelta::hours(hours)).await;
    }
    assert_eq!(
        w.runner.count("daily"),
        1,
        "restarts do not reset a 24h schedule"
    );
    let mut s = w.scheduler(EVERY_24H).await;
    w.at(&mut s, t0() + TimeDelta::hours(24)).await;
    assert_eq!(w.runner.count("daily"), 2, "but it still runs every 24h");
}

async fn the_wall_clock_jumping_forward_runs_once_then_keeps_going(w: World) {
    let mut s = w.scheduler(EVERY_15M).await;
    w.at(&mut s, t0()).await;
    w.at(&mut s, t0() + TimeDelta::hours(2)).await; // a VM resume or an NTP step
    w.at(&mut s, t0() + TimeDelta::hours(2) + TimeDelta::minutes(1))
        .await;
    assert_eq!(w.runner.count("s"), 2);
    w.at(&mut s, t0() + TimeDelta::hours(2) + TimeDelta::minutes(15))
        .await;
    assert_eq!(
        w.runner.count("s"),
        3,
        "normal cadence afterwards (the tokio-cron-scheduler #113 failure mode)"
    );
}

async fn the_wall_clock_jumping_backward_repeats_nothing(w: World) {
    let mut s = w.scheduler(EVERY_15M).await;
    w.at(&mut s, t0()).await;
    w.at(&mut s, t0() + TimeDelta::minutes(15)).await;
    assert_eq!(w.runner.count("s"), 2);
    for back in [
        t0(),
        t0() + TimeDelta::minutes(5),
        t0() + TimeDelta::minutes(16),
    ] {
        w.at(&mut s, back).await;
    }
    assert_eq!(
        w.runner.count("s"),
        2,
        "slots already done are not run again"
    );
    w.at(&mut s, t0() + TimeDelta::minutes(30)).await;
    assert_eq!(w.runner.count("s"), 3);
}

async fn cron_in_a_time_zone_runs_once_per_local_day_across_dst(w: World) {
    let berlin: Tz = "Europe/Berlin".parse().expect("tz");
    let cron = "[[schedules]]\nname = \"nightly\"\nstore = \"shop\"\ncron = \"0 30 2 * * *\"\ntimezone = \"Europe/Berlin\"\nupdate = \"store\"\nfields = [\"price\"]\n";
    // Both 2026 transitions: spring forward on 29 March (02:30 does not exist), fall back
    // on 25 October (02:30 happens twice).
    for (from, days) in [(t(2026, 3, 26, 12, 0), 6), (t(2026, 10, 22, 12, 0), 6)] {
        w.clock.set(from);
        let mut s = w.scheduler(cron).await;
        w.at(&mut s, from).await; // never run: due at start (the start-up run)
        let before = w.runner.count("nightly");
        let mut now = from;
        let end = from + TimeDelta::days(days);
        while now < end {
            now += TimeDelta::minutes(10);
            w.at(&mut s, now).await;
        }
        let runs: Vec<DateTime<Utc>> = w
            .runner
            .runs()
            .into_iter()
            .filter(|(n, _)| n == "nightly")
            .filter_map(|(_, due)| due)
            .skip(before)
            .collect();
        let mut days_seen: Vec<NaiveDate> = runs
            .iter()
            .map(|r| r.with_timezone(&berlin).date_naive())
            .collect();
        let n = days_seen.len();
        days_seen.dedup();
        assert_eq!(days_seen.len(), n, "one run per local day: {runs:?}");
        assert_eq!(n, days as usize, "every day ran: {runs:?}");
        for r in &runs {
            let local = r.with_timezone(&berlin).format("%H:%M").to_string();
            assert!(
                local == "02:30" || local == "03:00",
                "runs at 02:30 local (03:00 when 02:30 does not exist): {local}"
            );
        }
        w.db.delete_schedule("nightly").await.expect("reset");
    }
}

async fn two_daemons_run_each_slot_exactly_once(w: World) {
    let many: String = (0..20)
        .map(|i| format!("[[schedules]]\nname = \"s{i}\"\nstore = \"{}\"\nevery = \"15m\"\nupdate = \"store\"\nfields = [\"price\"]\n", if i % 2 == 0 { "shop" } else { "pos" }))
        .collect();
    let mut a = w.scheduler_as(&many, Some("daemon-a")).await;
    let mut b = w.scheduler_as(&many, Some("daemon-b")).await;
    for step in 0..4 {
        let when = t0() + TimeDelta::minutes(15 * step);
        w.clock.set(when);
        let (ra, rb) = tokio::join!(a.tick(), b.tick());
        ra.expect("a");
        rb.expect("b");
        a.wait_idle().await;
        b.wait_idle().await;
    }
    for i in 0..20 {
        assert_eq!(
            w.runner.count(&format!("s{i}")),
            4,
            "schedule s{i}: one run per slot"
        );
    }
}

async fn reloads_add_change_and_remove_schedules(w: World) {
    let mut s = w.scheduler(&format!("{EVERY_15M}{EVERY_24H}")).await;
    w.at(&mut s, t0()).await;
    assert_eq!((w.runner.count("s"), w.runner.count("daily")), (1, 1));
    // Change "daily" to hourly, remove "s", add "new".
    let changed = "[[schedules]]\nname = \"daily\"\nstore = \"shop\"\nevery = \"1h\"\nupdate = \"store\"\nfields = [\"quantity\"]\n\
                   [[schedules]]\nname = \"new\"\nstore = \"pos\"\nevery = \"6h\"\nupdate = \"store\"\nfields = [\"price\"]\n";
    w.clock.set(t0() + TimeDelta::minutes(20));
    let config = w.config(changed);
    s.apply_config(config).await.expect("reload");
    w.at(&mut s, t0() + TimeDelta::minutes(20)).await;
    assert_eq!(w.runner.count("new"), 1, "an added schedule is due at once");
    w.at(&mut s, t0() + TimeDelta::minutes(40)).await;
    assert_eq!(w.runner.count("s"), 1, "a removed schedule no longer runs");
    assert_eq!(w.runner.count("daily"), 1);
    w.at(&mut s, t0() + TimeDelta::minutes(60)).await;
    assert_eq!(
        w.runner.count("daily"),
        2,
        "a changed cadence counts from the last run"
    );
    let names: Vec<String> =
        w.db.list_schedules()
            .await
            .expect("list")
            .into_iter()
            .map(|r| r.name)
            .collect();
    assert_eq!(names, ["daily", "new"]);
}

async fn a_reload_leaves_runs_in_flight_alone(w: World) {
    let hold = Arc::new(Semaphore::new(0));
    *w.runner.hold.lock().expect("lock") = Some(hold.clone());
    let mut s = w.scheduler(&format!("{EVERY_15M}{EVERY_24H}")).await;
    w.at(&mut s, t0()).await;
    assert_eq!(s.running(), 2, "both runs are in flight");
    let before = |name: &str| {
        s.config()
            .schedules
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.cadence.describe())
    };
    let (daily_before, s_before) = (before("daily"), before("s"));
    // While they run: "daily" becomes hourly, "s" is removed, "new" is added.
    let changed = "[[schedules]]\nname = \"daily\"\nstore = \"shop\"\nevery = \"1h\"\nupdate = \"store\"\nfields = [\"quantity\"]\n\
                   [[schedules]]\nname = \"new\"\nstore = \"pos\"\nevery = \"6h\"\nupdate = \"store\"\nfields = [\"price\"]\n";
    w.clock.set(t0() + TimeDelta::minutes(5));
    s.apply_config(w.config(changed)).await.expect("reload");
    w.at(&mut s, t0() + TimeDelta::minutes(5)).await;
    // Its task records the run once it gets going.
    for _ in 0..100 {
        if w.runner.count("new") == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(w.runner.count("new"), 1, "the added schedule starts");
    assert_eq!(s.running(), 3, "the runs in flight go on");
    let daily =
        w.db.list_schedules()
            .await
            .expect("list")
            .into_iter()
            .find(|r| r.name == "daily")
            .expect("daily");
    assert!(
        daily.lease_owner.is_some(),
        "a reload does not clear the lease of the run in flight (no other daemon starts it meanwhile)"
    );
    *w.runner.hold.lock().expect("lock") = None;
    hold.add_permits(3);
    s.wait_idle().await;
    let mut finished = w.runner.finished.lock().expect("lock").clone();
    finished.sort();
    assert_eq!(
        finished,
        vec![
            ("daily".to_owned(), daily_before, false),
            ("new".to_owned(), Some("every 6h".to_owned()), false),
            ("s".to_owned(), s_before, false),
        ],
        "nothing was stopped, and each run kept the config it started with"
    );
    let runs = w.runner.runs().len();
    w.at(&mut s, t0() + TimeDelta::minutes(30)).await;
    assert_eq!(
        w.runner.runs().len(),
        runs,
        "the removed schedule does not run again"
    );
    w.at(&mut s, t0() + TimeDelta::minutes(60)).await;
    assert_eq!(
        w.runner.count("daily"),
        2,
        "the changed cadence counts from the run that was in flight"
    );
}

async fn a_busy_store_records_a_skipped_slot(w: World) {
    *w.runner.busy_store.lock().expect("lock") = Some("shop".into());
    let mut s = w.scheduler(EVERY_15M).await;
    w.at(&mut s, t0()).await;
    let runs =
        w.db.list_runs(&invsync_store::RunFilter::default())
            .await
            .expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Skipped);
    assert_eq!(runs[0].scheduled_for, Some(t0()));
    assert!(
        runs[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("already had a run in progress"))
    );
    *w.runner.busy_store.lock().expect("lock") = None;
    w.at(&mut s, t0() + TimeDelta::minutes(15)).await;
    assert_eq!(w.runner.count("s"), 1, "the schedule goes on");
}

/// The loop abandons a scheduling pass that takes too long (a slow or hung database). If
/// it is dropped while a claim's `UPDATE` waits, the statement may still commit: the slot
/// is then this daemon's, and the next pass must run it rather than lose it.
#[tokio::test(flavor = "multi_thread")]
async fn a_claim_that_outlives_an_abandoned_pass_still_runs() {
    let w = World::new(Backend::Postgres).await;
    let url = w._pg.as_ref().expect("postgres").url().to_owned();
    let mut s = w.scheduler_as(EVERY_15M, Some("daemon-a")).await;
    // Another session holds the schedule's row, so the claim's UPDATE waits for it.
    let locked = w.dir.path().join("locked");
    let mut psql = std::process::Command::new("psql")
        .arg(&url)
        .args(["-q", "-v", "ON_ERROR_STOP=1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("psql");
    {
        use std::io::Write;
        let mut stdin = psql.stdin.take().expect("stdin");
        write!(
            stdin,
            "BEGIN;\nSELECT 1 FROM sync_schedules WHERE name = 's' FOR UPDATE;\n\\! touch {}\nSELECT pg_sleep(3);\nCOMMIT;\n",
            locked.display()
        )
        .expect("write to psql");
    }
    for _ in 0..300 {
        if locked.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(locked.exists(), "psql took the row lock");
    w.clock.set(t0());
    assert!(
        tokio::time::timeout(std::time::Duration::from_secs(1), s.tick())
            .await
            .is_err(),
        "the pass waits on the locked row and is abandoned"
    );
    assert!(
        tokio::task::spawn_blocking(move || psql.wait().expect("psql"))
            .await
            .expect("join")
            .success()
    );
    // The abandoned claim went through once the row was free.
    let mut row = None;
    for _ in 0..100 {
        row =
            w.db.list_schedules()
                .await
                .expect("list")
                .into_iter()
                .next();
        if row.as_ref().is_some_and(|r| r.lease_owner.is_some()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let row = row.expect("the schedule");
    assert_eq!(
        (row.lease_owner.as_deref(), row.next_due_at),
        (Some("daemon-a"), t0() + TimeDelta::minutes(15)),
        "the claim committed after its pass was dropped"
    );
    assert_eq!(w.runner.count("s"), 0);
    w.at(&mut s, t0() + TimeDelta::seconds(5)).await;
    assert_eq!(
        w.runner.runs(),
        vec![("s".to_owned(), Some(t0()))],
        "the won slot runs, once, as the slot it was"
    );
    w.at(&mut s, t0() + TimeDelta::minutes(15)).await;
    assert_eq!(w.runner.count("s"), 2, "and the schedule goes on");
}
