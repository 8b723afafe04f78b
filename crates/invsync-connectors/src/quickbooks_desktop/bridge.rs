//! One company file's meeting point of the Web Connector's sessions and the engine's runs
//! (ADR 0080 §2–4): the [`Bridge`]. The daemon hands the same bridge to the endpoint (as
//! the company file's `CompanyWork`, through a thin adapter in `invsync-webconnector`) and
//! to the engine's connection of kind `quickbooks-desktop` ([`crate::OpenContext`]).
//!
//! **A session** (what the Web Connector opens every `RunEveryNMinutes`) goes:
//! 1. *markers*: quantity writes of an earlier session whose answer never came are looked
//!    up by the marker tied to their write key (ADR 0080 §4) — found: applied; not found:
//!    computed again from this session's read; never sent blindly twice;
//! 2. *posted orders*: the references of the store orders runs asked about are looked up
//!    (sales receipts and invoices), before the read, as ARCHITECTURE step 5 orders it;
//! 3. *the whole read*: every active item, page by page with iterators; complete, it is
//!    kept as the accounting snapshot (a [`SnapshotStore`]) with the session's time; a
//!    half read is never kept (`3391`, a dropped session: the next one starts over);
//! 4. *serving runs*: the write and re-read jobs runs handed over while they wait for a
//!    session, each checked against this session's read (compare-and-set: a value that is
//!    not the one the run planned from comes back stale and is planned again), several
//!    writes per message set. While a run is attached the session waits for its next job
//!    (`NoOp`); when none is left, the session ends.
//!
//! **Runs** plan from the snapshot ([`Bridge::snapshot`], refused when older than
//! `max_age`) and hand writes and re-reads to the next session ([`Bridge::write`],
//! [`Bridge::reread`]), waiting at most `max_age` for one to start.
//!
//! What is said on the wire is the [`Dialect`]'s business (Desktop qbXML; POS qbposXML).

use super::dialect::{Dialect, DialectError, KeptItem, ReadCursor, WriteBatch, WriteResult};
use crate::{ConnectorError, ErrorKind, RecordRef, Reject, Write, WriteOutcome};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use compact_str::CompactString;
use invsync_core::{FieldValue, Record};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tracing::{info, warn};

/// The accounting side as the last complete session read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptSnapshot {
    pub records: Vec<Record>,
    pub rejects: Vec<Reject>,
    /// When the session that read it ran.
    pub read_at: DateTime<Utc>,
    /// References of store orders that session found on posted documents.
    pub posted: BTreeSet<String>,
}

/// Where snapshots are kept between sessions and processes (the run-history database; the
/// engine implements it).
#[async_trait]
pub trait SnapshotStore: Send + Sync {
    async fn load(&self, company: &str) -> Result<Option<KeptSnapshot>, String>;
    async fn save(&self, company: &str, snapshot: &KeptSnapshot) -> Result<(), String>;
    /// When the Web Connector last called for this company file (any session).
    async fn last_seen(&self, company: &str) -> Option<DateTime<Utc>>;
}

/// What `/healthz` and `/metrics` show of a bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeStatus {
    /// Jobs of runs waiting for a session, and since when the oldest waits.
    pub waiting_jobs: usize,
    pub waiting_since: Option<DateTime<Utc>>,
    /// When the last complete read ran (this process).
    pub last_read_at: Option<DateTime<Utc>>,
    /// Quantity writes whose answer was lost, to be looked up by marker.
    pub unsettled: usize,
    /// Why the last session failed, if it did (QuickBooks could not be reached, …).
    pub last_error: Option<String>,
}

/// How far a session is, as the endpoint reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionProgress {
    Working(u8),
    Done,
}

enum JobKind {
    Write {
        writes: Vec<Write>,
        outcomes: Vec<Option<WriteOutcome>>,
        /// Quantity writes sent whose answer never came: look for their marker first.
        unverified: BTreeSet<usize>,
    },
    Reread(Vec<RecordRef>),
}

enum Answer {
    Written(Vec<WriteOutcome>),
    Records(Vec<Record>),
}

struct Job {
    id: u64,
    kind: JobKind,
    queued_at: DateTime<Utc>,
    started: bool,
    /// Some write came back locked in this session (`3170`–`3180`, `3231`): the job waits
    /// for the next one.
    deferred: Option<u64>,
    reply: Option<oneshot::Sender<Answer>>,
}

enum Phase {
    Markers,
    Posted,
    Read(ReadCursor),
    Serve,
}

enum InFlight {
    Markers(Vec<(u64, usize, String)>),
    Posted(Vec<String>),
    Read(ReadCursor),
    Write {
        job: u64,
        /// Write indexes of the job, and the items they were checked against.
        sent: Vec<(usize, KeptItem)>,
        batch: WriteBatch,
    },
    Reread(u64),
}

struct Session {
    id: u64,
    phase: Phase,
    in_flight: Option<(InFlight, String)>,
    read: Vec<KeptItem>,
    rejects: Vec<Reject>,
    posted: BTreeSet<String>,
    /// This session's view of every item: the read, then every answer since.
    fresh: HashMap<CompactString, KeptItem>,
    /// Items whose write came back `3200`: re-read before anything else is written.
    dirty: HashSet<CompactString>,
    pages: u64,
    /// When this session found nothing left to do (it ends).
    finished: Option<std::time::Instant>,
}

#[derive(Default)]
struct State {
    session: Option<Session>,
    jobs: VecDeque<Job>,
    next_job: u64,
    /// References of store orders to look up in the next session.
    refs: BTreeSet<String>,
    attached: usize,
    latest: Option<Arc<KeptSnapshot>>,
    /// Why the last session of this process failed (cleared by a complete read).
    last_error: Option<String>,
}

/// See the module comment.
pub struct Bridge {
    company: String,
    dialect: Arc<dyn Dialect>,
    store: Arc<dyn SnapshotStore>,
    max_age: Duration,
    /// Whether this process serves the Web Connector (the daemon) or not (the CLI): runs
    /// that must write QuickBooks are refused at once where nothing will ever serve them.
    serving: bool,
    state: Mutex<State>,
    changed: Notify,
}

/// How long a session in which a run is attached waits for that run's next job before it
/// answers `NoOp` (the Web Connector then waits 5 s and asks again).
const JOB_WAIT: Duration = Duration::from_secs(2);

/// How long after a session found nothing left to do `has_work` says so (the endpoint
/// asks right away, to end the session rather than answer `NoOp`).
const FINISHED_GRACE: Duration = Duration::from_secs(5);

impl Bridge {
    /// A bridge for `company` (the Web Connector user). `serving`: this process serves the
    /// Web Connector's endpoint.
    pub fn new(
        company: impl Into<String>,
        dialect: Arc<dyn Dialect>,
        store: Arc<dyn SnapshotStore>,
        max_age: Duration,
        serving: bool,
    ) -> Arc<Bridge> {
        Arc::new(Bridge {
            company: company.into(),
            dialect,
            store,
            max_age,
            serving,
            state: Mutex::new(State::default()),
            changed: Notify::new(),
        })
    }

    pub fn company(&self) -> &str {
        &self.company
    }

    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    pub fn serving(&self) -> bool {
        self.serving
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn error(&self, kind: ErrorKind, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::new("accounting", kind, message)
    }

    async fn last_seen_words(&self) -> String {
        let seen = match self.store.last_seen(&self.company).await {
            Some(t) => format!(
                "the Web Connector was last seen {}",
                t.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None => "the Web Connector has never called for this company file".to_owned(),
        };
        match self.state().last_error.clone() {
            Some(e) => format!("{seen}; its last session failed: {e}"),
            None => seen,
        }
    }

    /// The snapshot runs plan from. Older than `max_age` (or none yet): an
    /// [`ErrorKind::Outdated`] error saying how old and when the Web Connector was last
    /// seen — the run is skipped; stale stock is never written to a store.
    pub async fn snapshot(&self) -> Result<Arc<KeptSnapshot>, ConnectorError> {
        let cached = self.state().latest.clone();
        let snapshot = match cached {
            Some(s) => Some(s),
            None => self
                .store
                .load(&self.company)
                .await
                .map_err(|e| {
                    self.error(
                        ErrorKind::Unavailable,
                        format!("cannot read the kept QuickBooks snapshot: {e}"),
                    )
                })?
                .map(Arc::new),
        };
        let Some(snapshot) = snapshot else {
            return Err(self.error(
                ErrorKind::Outdated,
                format!(
                    "{} has not been read yet: no Web Connector session has completed a read of company file `{}` ({}); runs wait for one",
                    self.dialect.product(),
                    self.company,
                    self.last_seen_words().await
                ),
            ));
        };
        let age = (Utc::now() - snapshot.read_at).to_std().unwrap_or_default();
        if age > self.max_age {
            return Err(self.error(
                ErrorKind::Outdated,
                format!(
                    "{} was last read {} ago ({}); quantities and prices older than accounting.max_age = {} are not written",
                    self.dialect.product(),
                    humanize(age),
                    self.last_seen_words().await,
                    humanize(self.max_age)
                ),
            ));
        }
        Ok(snapshot)
    }

    /// The references of the store orders still holding stock, which the next session
    /// looks up. Each call replaces the last: a run asks about every tracked order that is
    /// not posted yet (every store's), so orders marked posted or closed since drop out.
    pub fn ask_posted(&self, refs: impl IntoIterator<Item = String>) {
        self.state().refs = refs.into_iter().collect();
    }

    /// Keeps sessions open for the caller's next jobs until the guard is dropped (the run
    /// ends).
    pub fn attach(self: &Arc<Self>) -> Attached {
        self.state().attached += 1;
        Attached(Arc::clone(self))
    }

    /// Hands writes to the next session and waits for their outcomes (at most `max_age`
    /// for a session to take them up).
    pub async fn write(&self, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let n = writes.len();
        let kind = JobKind::Write {
            outcomes: vec![None; n],
            writes,
            unverified: BTreeSet::new(),
        };
        match self.submit(kind).await? {
            Answer::Written(outcomes) => Ok(outcomes),
            Answer::Records(_) => Err(self.error(
                ErrorKind::Other,
                "a write was answered with records (a bug)",
            )),
        }
    }

    /// Reads these items again in the next session (or the one open now).
    pub async fn reread(&self, refs: Vec<RecordRef>) -> Result<Vec<Record>, ConnectorError> {
        match self.submit(JobKind::Reread(refs)).await? {
            Answer::Records(records) => Ok(records),
            Answer::Written(_) => Err(self.error(
                ErrorKind::Other,
                "a re-read was answered with outcomes (a bug)",
            )),
        }
    }

    async fn submit(&self, kind: JobKind) -> Result<Answer, ConnectorError> {
        if !self.serving {
            return Err(self.error(
                ErrorKind::Unsupported,
                format!(
                    "{} is written only inside a Web Connector session, which the daemon serves: run this update from a schedule of `invsync daemon` (or the web page), not from the command line",
                    self.dialect.product()
                ),
            ));
        }
        let (tx, mut rx) = oneshot::channel();
        let id = {
            let mut s = self.state();
            s.next_job += 1;
            let id = s.next_job;
            s.jobs.push_back(Job {
                id,
                kind,
                queued_at: Utc::now(),
                started: false,
                deferred: None,
                reply: Some(tx),
            });
            id
        };
        self.changed.notify_waiters();
        self.publish();
        info!(company = %self.company, "waiting for the Web Connector's next session");
        match tokio::time::timeout(self.max_age, &mut rx).await {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(_)) => {
                return Err(self.error(
                    ErrorKind::Other,
                    "the Web Connector session dropped the job (a bug)",
                ));
            }
            Err(_) => {}
        }
        // Not taken up within max_age: withdraw it, unless a session has started on it
        // (then it is seen through, within another max_age).
        let withdrawn = {
            let mut s = self.state();
            match s.jobs.iter().position(|j| j.id == id) {
                Some(i) if !s.jobs[i].started => {
                    s.jobs.remove(i);
                    true
                }
                _ => false,
            }
        };
        self.publish();
        if !withdrawn && let Ok(Ok(answer)) = tokio::time::timeout(self.max_age, &mut rx).await {
            return Ok(answer);
        }
        self.state().jobs.retain(|j| j.id != id);
        self.publish();
        Err(self.error(
            ErrorKind::Outdated,
            format!(
                "no Web Connector session took this run's {} writes within accounting.max_age = {} ({}); nothing was written",
                self.dialect.product(),
                humanize(self.max_age),
                self.last_seen_words().await
            ),
        ))
    }

    /// The gauges of `/metrics`: runs waiting for a session, the snapshot's time.
    fn publish(&self) {
        let status = self.status();
        let company = self.company.clone();
        metrics::gauge!("invsync_web_connector_waiting_runs", "company" => company.clone())
            .set(status.waiting_jobs as f64);
        if let Some(read_at) = status.last_read_at {
            metrics::gauge!("invsync_web_connector_last_read_timestamp_seconds", "company" => company)
                .set(read_at.timestamp() as f64);
        }
    }

    /// What `/healthz` and `/metrics` show.
    pub fn status(&self) -> BridgeStatus {
        let s = self.state();
        BridgeStatus {
            waiting_jobs: s.jobs.len(),
            waiting_since: s.jobs.iter().map(|j| j.queued_at).min(),
            last_read_at: s.latest.as_ref().map(|l| l.read_at),
            unsettled: s
                .jobs
                .iter()
                .map(|j| match &j.kind {
                    JobKind::Write { unverified, .. } => unverified.len(),
                    JobKind::Reread(_) => 0,
                })
                .sum(),
            last_error: s.last_error.clone(),
        }
    }

    // ---- the endpoint's side --------------------------------------------------------

    /// Whether a session is wanted: always (every session reads QuickBooks whole), except
    /// right after the open session found nothing left to do — the endpoint then ends it
    /// instead of answering `NoOp`. A session that died at that point does not keep the
    /// next one from starting.
    pub fn has_work(&self) -> bool {
        let s = self.state();
        s.session
            .as_ref()
            .and_then(|sess| sess.finished)
            .is_none_or(|t| t.elapsed() >= FINISHED_GRACE)
    }

    /// The open session has served every job and no run is attached.
    /// A run waiting on a job deferred to the next session hands over nothing more in this
    /// one, so a deferred job ends the session too.
    fn session_done(s: &State) -> bool {
        let Some(sess) = s.session.as_ref() else {
            return false;
        };
        let deferred = s.jobs.iter().any(|j| j.deferred == Some(sess.id));
        matches!(sess.phase, Phase::Serve)
            && s.jobs.iter().all(|j| j.deferred == Some(sess.id))
            && (s.attached == 0 || deferred)
    }

    /// The next message set of `session`; `None` while nothing is ready.
    pub async fn next_request(&self, session: u64) -> Result<Option<String>, String> {
        let deadline = tokio::time::Instant::now() + JOB_WAIT;
        loop {
            let notified = self.changed.notified();
            let (request, done, replies) = {
                let mut s = self.state();
                let mut replies = Vec::new();
                let request = self.prepare(&mut s, session, &mut replies)?;
                let done = request.is_none() && Bridge::session_done(&s);
                if done && let Some(sess) = s.session.as_mut() {
                    sess.finished = Some(std::time::Instant::now());
                }
                (request, done, replies)
            };
            send_replies(replies);
            self.publish();
            if request.is_some() || done {
                return Ok(request);
            }
            // A run is attached: give it a moment to hand its next job over.
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(None);
            }
        }
    }

    fn prepare(
        &self,
        s: &mut State,
        session: u64,
        replies: &mut Vec<(oneshot::Sender<Answer>, Answer)>,
    ) -> Result<Option<String>, String> {
        if s.session.as_ref().map(|x| x.id) != Some(session) {
            s.session = Some(Session {
                id: session,
                phase: Phase::Markers,
                in_flight: None,
                read: Vec::new(),
                rejects: Vec::new(),
                posted: BTreeSet::new(),
                fresh: HashMap::new(),
                dirty: HashSet::new(),
                pages: 0,
                finished: None,
            });
        }
        let State {
            session: Some(sess),
            jobs,
            refs,
            ..
        } = s
        else {
            return Ok(None);
        };
        if let Some((_, text)) = &sess.in_flight {
            return Ok(Some(text.clone()));
        }
        loop {
            match &sess.phase {
                Phase::Markers => {
                    let wanted: Vec<(u64, usize, String)> = jobs
                        .iter()
                        .flat_map(|j| match &j.kind {
                            JobKind::Write {
                                writes, unverified, ..
                            } => unverified
                                .iter()
                                .map(|&i| (j.id, i, writes[i].key.clone()))
                                .collect::<Vec<_>>(),
                            JobKind::Reread(_) => Vec::new(),
                        })
                        .collect();
                    let keys: Vec<String> = wanted.iter().map(|(_, _, k)| k.clone()).collect();
                    match self.dialect.markers_request(&keys) {
                        Some(text) => {
                            sess.in_flight = Some((InFlight::Markers(wanted), text.clone()));
                            return Ok(Some(text));
                        }
                        None => sess.phase = Phase::Posted,
                    }
                }
                Phase::Posted => {
                    let asked: Vec<String> = refs.iter().cloned().collect();
                    match self.dialect.posted_request(&asked) {
                        Some(text) => {
                            sess.in_flight = Some((InFlight::Posted(asked), text.clone()));
                            return Ok(Some(text));
                        }
                        None => sess.phase = Phase::Read(ReadCursor::default()),
                    }
                }
                Phase::Read(cursor) => {
                    let text = self.dialect.read_request(cursor).map_err(|e| e.message)?;
                    sess.in_flight = Some((InFlight::Read(cursor.clone()), text.clone()));
                    return Ok(Some(text));
                }
                Phase::Serve => {
                    let this = sess.id;
                    let Some(job) = jobs.iter_mut().find(|j| j.deferred != Some(this)) else {
                        return Ok(None);
                    };
                    let job_id = job.id;
                    job.started = true;
                    match &mut job.kind {
                        JobKind::Reread(wanted) => {
                            let items: Vec<&KeptItem> = wanted
                                .iter()
                                .filter_map(|r| sess.fresh.get(&r.id))
                                .filter(|i| sess.dirty.contains(&i.record.id))
                                .collect();
                            if items.is_empty() {
                                // This session's view is as fresh as a re-read.
                                let records = wanted
                                    .iter()
                                    .filter_map(|r| sess.fresh.get(&r.id))
                                    .map(|i| i.record.clone())
                                    .collect();
                                finish(jobs, job_id, replies, Answer::Records(records));
                                continue;
                            }
                            let text =
                                self.dialect.reread_request(&items).map_err(|e| e.message)?;
                            let id = job.id;
                            sess.in_flight = Some((InFlight::Reread(id), text.clone()));
                            return Ok(Some(text));
                        }
                        JobKind::Write {
                            writes, outcomes, ..
                        } => {
                            let mut sent: Vec<(usize, KeptItem)> = Vec::new();
                            for (i, write) in writes.iter().enumerate() {
                                if outcomes[i].is_some() {
                                    continue;
                                }
                                outcomes[i] = match check_write(write, sess) {
                                    Ok(item) => {
                                        sent.push((i, item));
                                        None
                                    }
                                    Err(outcome) => Some(outcome),
                                };
                            }
                            if sent.is_empty() {
                                finish_write_if_done(jobs, job_id, replies);
                                continue;
                            }
                            let pairs: Vec<(&Write, &KeptItem)> =
                                sent.iter().map(|(i, item)| (&writes[*i], item)).collect();
                            let batch = self.dialect.write_request(&pairs);
                            for ((i, _), slot) in sent.iter().zip(&batch.slots) {
                                if let Err(why) = slot {
                                    outcomes[*i] = Some(WriteOutcome::Failed(why.clone()));
                                }
                            }
                            let Some(text) = batch.text.clone() else {
                                finish_write_if_done(jobs, job_id, replies);
                                continue;
                            };
                            let id = job.id;
                            sess.in_flight = Some((
                                InFlight::Write {
                                    job: id,
                                    sent,
                                    batch,
                                },
                                text.clone(),
                            ));
                            return Ok(Some(text));
                        }
                    }
                }
            }
        }
    }

    /// QuickBooks' answer to the request in flight (or the COM error instead).
    pub async fn receive_response(
        &self,
        session: u64,
        response: Result<String, (String, String)>,
    ) -> Result<SessionProgress, String> {
        let mut replies = Vec::new();
        let (result, save) = {
            let mut s = self.state();
            let mut save = None;
            let result = self.receive(&mut s, session, response, &mut replies, &mut save);
            (result, save)
        };
        send_replies(replies);
        if let Err(e) = &result {
            self.state().last_error = Some(e.clone());
        }
        if let Some(snapshot) = save {
            let snapshot = Arc::new(snapshot);
            {
                let mut s = self.state();
                s.latest = Some(Arc::clone(&snapshot));
                s.last_error = None;
            }
            info!(
                company = %self.company,
                items = snapshot.records.len(),
                rejects = snapshot.rejects.len(),
                "read QuickBooks whole in a Web Connector session; keeping it as the accounting snapshot"
            );
            if let Err(e) = self.store.save(&self.company, &snapshot).await {
                warn!(company = %self.company, error = %e, "cannot keep the QuickBooks snapshot in the database; runs of other processes plan from the older one");
            }
        }
        self.changed.notify_waiters();
        self.publish();
        result
    }

    fn receive(
        &self,
        s: &mut State,
        session: u64,
        response: Result<String, (String, String)>,
        replies: &mut Vec<(oneshot::Sender<Answer>, Answer)>,
        save: &mut Option<KeptSnapshot>,
    ) -> Result<SessionProgress, String> {
        let attached = s.attached;
        let State {
            session: Some(sess),
            jobs,
            ..
        } = s
        else {
            return Err("a response came for no session (a bug)".into());
        };
        if sess.id != session {
            return Err("a response came for another session (a bug)".into());
        }
        let Some((in_flight, request)) = sess.in_flight.take() else {
            return Err("a response came for no request (a bug)".into());
        };
        let text = match response {
            Ok(text) => text,
            Err((code, message)) => {
                let element = request_element(&request);
                let words = self.dialect.hresult(&element, &code, &message);
                if let InFlight::Write { job, sent, .. } = &in_flight {
                    // The company rejected the whole message set: nothing in it was done.
                    fail_sent(jobs, *job, sent, &words);
                    finish_write_if_done(jobs, *job, replies);
                }
                return Err(words);
            }
        };
        let fatal = |e: DialectError| e.message;
        match in_flight {
            InFlight::Markers(wanted) => {
                let keys: Vec<String> = wanted.iter().map(|(_, _, k)| k.clone()).collect();
                let found = self.dialect.markers_response(&keys, &text).map_err(fatal)?;
                for ((job, i, _), found) in wanted.iter().zip(found) {
                    if let Some(JobKind::Write {
                        outcomes,
                        unverified,
                        ..
                    }) = jobs.iter_mut().find(|j| j.id == *job).map(|j| &mut j.kind)
                    {
                        unverified.remove(i);
                        if found {
                            info!(company = %self.company, "an adjustment whose answer was lost is in QuickBooks: settled as applied, not sent again");
                            outcomes[*i] = Some(WriteOutcome::Applied);
                        }
                    }
                }
                sess.phase = Phase::Posted;
            }
            InFlight::Posted(asked) => {
                // Asked again each session until the runs stop asking (they mark the order
                // posted once a snapshot says so).
                sess.posted = self
                    .dialect
                    .posted_response(&text)
                    .map_err(fatal)?
                    .into_iter()
                    .filter(|r| asked.contains(r))
                    .collect();
                sess.phase = Phase::Read(ReadCursor::default());
            }
            InFlight::Read(cursor) => {
                let page = self.dialect.read_response(&cursor, &text).map_err(|e| {
                    if e.restart_read {
                        format!("{}; the next session reads from the start", e.message)
                    } else {
                        e.message
                    }
                })?;
                for w in &page.warnings {
                    warn!(company = %self.company, warning = %w, "QuickBooks warned while reading items");
                }
                sess.pages += 1;
                sess.read.extend(page.items);
                sess.rejects.extend(page.rejects);
                match page.next {
                    Some(next) => sess.phase = Phase::Read(next),
                    None => {
                        let read = std::mem::take(&mut sess.read);
                        *save = Some(KeptSnapshot {
                            records: read.iter().map(|i| i.record.clone()).collect(),
                            rejects: std::mem::take(&mut sess.rejects),
                            read_at: Utc::now(),
                            posted: sess.posted.clone(),
                        });
                        sess.fresh = read.into_iter().map(|i| (i.record.id.clone(), i)).collect();
                        sess.phase = Phase::Serve;
                    }
                }
            }
            InFlight::Reread(job) => {
                let found = self.dialect.reread_response(&text).map_err(fatal)?;
                for item in found {
                    sess.dirty.remove(&item.record.id);
                    sess.fresh.insert(item.record.id.clone(), item);
                }
                if let Some(j) = jobs.iter().position(|j| j.id == job)
                    && let Some(mut done) = jobs.remove(j)
                    && let JobKind::Reread(wanted) = &done.kind
                {
                    let records = wanted
                        .iter()
                        .filter_map(|r| sess.fresh.get(&r.id))
                        .map(|i| i.record.clone())
                        .collect();
                    if let Some(tx) = done.reply.take() {
                        replies.push((tx, Answer::Records(records)));
                    }
                }
            }
            InFlight::Write { job, sent, batch } => {
                let results = {
                    let Some(JobKind::Write { writes, .. }) =
                        jobs.iter().find(|j| j.id == job).map(|j| &j.kind)
                    else {
                        return Err("the write job went missing (a bug)".into());
                    };
                    let pairs: Vec<(&Write, &KeptItem)> =
                        sent.iter().map(|(i, item)| (&writes[*i], item)).collect();
                    self.dialect.write_response(&pairs, &batch, &text)
                };
                let results = match results {
                    Ok(r) => r,
                    Err(e) => {
                        fail_sent(jobs, job, &sent, &e.message);
                        finish_write_if_done(jobs, job, replies);
                        return Err(e.message);
                    }
                };
                if let Some(j) = jobs.iter_mut().find(|j| j.id == job)
                    && let JobKind::Write {
                        writes, outcomes, ..
                    } = &mut j.kind
                {
                    for ((i, item), result) in sent.iter().zip(results) {
                        let Some(result) = result else { continue };
                        outcomes[*i] = Some(match result {
                            WriteResult::Retry(why) => {
                                info!(company = %self.company, reason = %why, "a write waits for the next Web Connector session");
                                j.deferred = Some(session);
                                continue;
                            }
                            WriteResult::Applied(now) => {
                                let mut now = now.unwrap_or_else(|| item.clone());
                                if let FieldValue::Quantity(q) = writes[*i].new {
                                    now.record.quantity = Some(q);
                                }
                                if let FieldValue::Price(p) = writes[*i].new {
                                    now.record.price = Some(p);
                                }
                                sess.fresh.insert(now.record.id.clone(), now);
                                WriteOutcome::Applied
                            }
                            WriteResult::Stale(why) => {
                                sess.dirty.insert(item.record.id.clone());
                                WriteOutcome::Stale(why)
                            }
                            WriteResult::Failed(why) => WriteOutcome::Failed(why),
                        });
                    }
                }
                finish_write_if_done(jobs, job, replies);
            }
        }
        let deferred = jobs.iter().any(|j| j.deferred == Some(session));
        let eligible = jobs.iter().any(|j| j.deferred != Some(session));
        Ok(match sess.phase {
            Phase::Serve if !eligible && (attached == 0 || deferred) => SessionProgress::Done,
            Phase::Serve => SessionProgress::Working(99),
            // The read is most of a session; the iterator's remaining count is per list.
            Phase::Read(_) => {
                SessionProgress::Working(u8::try_from((5 + sess.pages).min(90)).unwrap_or(90))
            }
            _ => SessionProgress::Working(5),
        })
    }

    /// The Web Connector could not reach QuickBooks.
    pub fn connection_error(&self, session: u64, words: &str) {
        self.state().last_error = Some(words.to_owned());
        warn!(company = %self.company, session, error = %words, "the Web Connector could not reach QuickBooks; runs wait for the next session");
    }

    /// The session ended. A write in flight whose answer never came: quantity writes are
    /// looked up by their marker next session; price writes are checked against the next
    /// read (a mod that was applied moved the item's EditSequence and price).
    pub fn close(&self, session: u64) {
        let mut s = self.state();
        let State {
            session: sess,
            jobs,
            ..
        } = &mut *s;
        if sess.as_ref().map(|x| x.id) != Some(session) {
            return;
        }
        if let Some(Session {
            in_flight: Some((InFlight::Write { job, sent, .. }, _)),
            ..
        }) = sess.take()
            && let Some(JobKind::Write {
                writes, unverified, ..
            }) = jobs.iter_mut().find(|j| j.id == job).map(|j| &mut j.kind)
        {
            for (i, _) in sent {
                if matches!(writes[i].new, FieldValue::Quantity(_)) {
                    unverified.insert(i);
                }
            }
            warn!(company = %self.company, "a Web Connector session ended with writes unanswered; the next session checks what was done before sending anything again");
        }
        *sess = None;
        drop(s);
        self.changed.notify_waiters();
    }
}

/// The bridges this process serves sessions for, by company file: one per company file
/// and process, like the rate budgets of ADR 0026, so every engine of the daemon (the
/// scheduler's, the web page's) hands its runs to the sessions the endpoint serves.
static SERVING: Mutex<BTreeMap<String, Weak<Bridge>>> = Mutex::new(BTreeMap::new());

impl Bridge {
    /// Makes this (serving) bridge the one of its company file in this process, for as
    /// long as it lives.
    pub fn register(self: &Arc<Self>) {
        let mut map = SERVING.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, b| b.strong_count() > 0);
        map.insert(self.company.clone(), Arc::downgrade(self));
    }

    /// The bridge this process serves sessions for `company` through, if any.
    pub fn registered(company: &str) -> Option<Arc<Bridge>> {
        SERVING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(company)
            .and_then(Weak::upgrade)
    }
}

/// Keeps sessions serving a run until dropped ([`Bridge::attach`]).
pub struct Attached(Arc<Bridge>);

impl Drop for Attached {
    fn drop(&mut self) {
        let mut s = self.0.state();
        s.attached = s.attached.saturating_sub(1);
        drop(s);
        self.0.changed.notify_waiters();
    }
}

/// The item this session read for `write`, when it still has the value the run planned
/// from; else the write's outcome.
fn check_write(write: &Write, sess: &Session) -> Result<KeptItem, WriteOutcome> {
    let Some(item) = sess.fresh.get(&write.id) else {
        return Err(WriteOutcome::Failed(
            "not an active item in QuickBooks any more (made inactive or deleted since it was read)".into(),
        ));
    };
    if sess.dirty.contains(&write.id) {
        return Err(WriteOutcome::Stale(
            "changed in QuickBooks since it was read; planned again from a new read".into(),
        ));
    }
    let current = match write.old {
        FieldValue::Price(_) => item.record.price.map(FieldValue::Price),
        FieldValue::Quantity(_) => item.record.quantity.map(FieldValue::Quantity),
    };
    if current != Some(write.old) {
        let now = match current {
            Some(FieldValue::Price(p)) => p.to_string(),
            Some(FieldValue::Quantity(q)) => q.to_string(),
            None => "none".into(),
        };
        return Err(WriteOutcome::Stale(format!(
            "changed in QuickBooks since the snapshot the run planned from (now {now}); planned again"
        )));
    }
    Ok(item.clone())
}

fn fail_sent(jobs: &mut VecDeque<Job>, job: u64, sent: &[(usize, KeptItem)], why: &str) {
    if let Some(JobKind::Write { outcomes, .. }) =
        jobs.iter_mut().find(|j| j.id == job).map(|j| &mut j.kind)
    {
        for (i, _) in sent {
            outcomes[*i] = Some(WriteOutcome::Failed(why.to_owned()));
        }
    }
}

fn finish_write_if_done(
    jobs: &mut VecDeque<Job>,
    job: u64,
    replies: &mut Vec<(oneshot::Sender<Answer>, Answer)>,
) {
    let Some(i) = jobs.iter().position(|j| j.id == job) else {
        return;
    };
    let done = matches!(&jobs[i].kind, JobKind::Write { outcomes, .. } if outcomes.iter().all(Option::is_some));
    if !done {
        return;
    }
    if let Some(mut job) = jobs.remove(i)
        && let JobKind::Write { outcomes, .. } = job.kind
        && let Some(tx) = job.reply.take()
    {
        let outcomes = outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| WriteOutcome::Failed("no outcome (a bug)".into())))
            .collect();
        replies.push((tx, Answer::Written(outcomes)));
    }
}

fn finish(
    jobs: &mut VecDeque<Job>,
    job: u64,
    replies: &mut Vec<(oneshot::Sender<Answer>, Answer)>,
    answer: Answer,
) {
    if let Some(i) = jobs.iter().position(|j| j.id == job)
        && let Some(mut job) = jobs.remove(i)
        && let Some(tx) = job.reply.take()
    {
        replies.push((tx, answer));
    }
}

fn send_replies(replies: Vec<(oneshot::Sender<Answer>, Answer)>) {
    for (tx, answer) in replies {
        // A run that stopped waiting has gone; nothing to tell it.
        let _ = tx.send(answer);
    }
}

/// The first request element of a message set (for messages), e.g. `ItemInventoryModRq`.
fn request_element(text: &str) -> String {
    let Some(start) = text.find("<QBXMLMsgsRq") else {
        return "the request".into();
    };
    let rest = &text[start..];
    let Some(open) = rest[1..].find('<') else {
        return "the request".into();
    };
    rest[open + 2..]
        .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .next()
        .unwrap_or("the request")
        .to_owned()
}

/// `2 h 10 min`, `45 min`, `30 s`.
pub fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}
