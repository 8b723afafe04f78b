//! The seam between the endpoint and whatever has qbXML to send: [`CompanyWork`], one per
//! company file. The endpoint knows SOAP, tickets and sessions; the work knows qbXML (the
//! `quickbooks_desktop` message layer and the engine's runs plug in here, ADR 0080 §1).
//! [`QueueWork`] is a simple implementation for tests: a queue of canned requests.

use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::Mutex;

/// A qbXML (or qbposXML) version, as `sendRequestXML` reports what QuickBooks supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QbxmlVersion {
    pub major: u32,
    pub minor: u32,
}

impl QbxmlVersion {
    pub const fn new(major: u32, minor: u32) -> QbxmlVersion {
        QbxmlVersion { major, minor }
    }
}

impl std::fmt::Display for QbxmlVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What the work knows about the session it is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// This process's number for the session (never the ticket).
    pub id: u64,
    /// The company file's name in invsync (its Web Connector user).
    pub company: String,
    /// The version requests must be written for: 13.0 (qbposXML 3.0 for POS) when
    /// QuickBooks supports it, else the newest it supports. `None` before the first
    /// `sendRequestXML` (a `connectionError` can come first).
    pub version: Option<QbxmlVersion>,
    /// The company file QuickBooks has open, as the Web Connector reports it.
    pub company_file_name: String,
    /// `qbXMLCountry`: `US`, `CA`, `UK`, … (editions differ in what they accept).
    pub country: String,
}

/// A COM error the Web Connector reports instead of a response (`receiveResponseXML`'s
/// `hresult` and `message`) or instead of a session (`connectionError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HResult {
    /// As sent, e.g. `0x80040408`.
    pub code: String,
    pub message: String,
}

impl HResult {
    /// What the code means and what to do, in an operator's words (codes invsync knows).
    pub fn meaning(&self) -> Option<&'static str> {
        crate::hresult::meaning(&self.code)
    }

    /// `0x80040408: Could not start QuickBooks. — QuickBooks could not be started: …`
    pub fn describe(&self) -> String {
        let code = self.code.trim();
        let message = self.message.trim();
        match self.meaning() {
            Some(meaning) if message.is_empty() => format!("{code}: {meaning}"),
            Some(meaning) => format!("{code}: {message} — {meaning}"),
            None if message.is_empty() => format!("{code}: (no message)"),
            None => format!("{code}: {message}"),
        }
    }
}

/// How far the work is, as `receiveResponseXML` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Percent done while work remains; the endpoint never reports more than 99 for it.
    Working(u8),
    /// Nothing remains: the Web Connector ends the session (100).
    Done,
}

/// A failure the session cannot go on after; the message is shown to the operator by the
/// Web Connector (`getLastError`), so it says what happened and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WorkError(pub String);

/// Why a session ended, as the work is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// `closeConnection`: the Web Connector ended it.
    Closed,
    /// `connectionError`: QuickBooks could not be reached (the error was passed to
    /// [`CompanyWork::connection_error`] first).
    ConnectionError,
    /// Silent for longer than `session_timeout`, or its lease went to another session.
    Expired,
    /// The daemon stopped while the session was open.
    Shutdown,
}

/// Everything the endpoint asks of one company file's work. Calls for one session come one
/// at a time, in the Web Connector's order.
#[async_trait]
pub trait CompanyWork: Send + Sync {
    /// Whether a session is wanted now. `authenticate` answers `none` when not — the Web
    /// Connector then asks again at its next scheduled run.
    async fn has_work(&self) -> bool;

    /// The next qbXML message set for `session`, written for `session.version`.
    /// `Ok(None)` while work remains but nothing is ready yet: the endpoint then lets the
    /// Web Connector wait and ask again (`NoOp`). `Err` ends the session with that message.
    async fn next_request(&self, session: &SessionInfo) -> Result<Option<String>, WorkError>;

    /// QuickBooks' answer to the last request (or the COM error that came instead). Returns
    /// how far the work is; `Err` ends the session with that message (negative progress).
    async fn receive_response(
        &self,
        session: &SessionInfo,
        response: Result<String, HResult>,
    ) -> Result<Progress, WorkError>;

    /// The Web Connector could not reach QuickBooks (`connectionError`). The session ends
    /// right after ([`CompanyWork::close`] with [`CloseReason::ConnectionError`]).
    async fn connection_error(&self, session: &SessionInfo, error: &HResult);

    /// The session ended. A request handed out whose response never came must be treated as
    /// of unknown outcome (ADR 0080 §4), never sent again blindly.
    async fn close(&self, session: &SessionInfo, reason: CloseReason);
}

/// What [`QueueWork`] saw, in order (tests read it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueEvent {
    Sent {
        session: u64,
        version: Option<QbxmlVersion>,
        request: String,
    },
    Received {
        session: u64,
        response: Result<String, HResult>,
    },
    ConnectionError {
        session: u64,
        error: HResult,
    },
    Closed {
        session: u64,
        reason: CloseReason,
    },
}

/// A queue of canned requests: each session sends what is left, one request per message,
/// and a response takes its request off the queue. A request whose response never came
/// (the session ended) stays at the front for the next session.
#[derive(Debug, Default)]
pub struct QueueWork {
    state: Mutex<QueueState>,
}

#[derive(Debug, Default)]
struct QueueState {
    queue: VecDeque<String>,
    total: usize,
    paused: bool,
    fail_next_response: Option<String>,
    events: Vec<QueueEvent>,
}

impl QueueWork {
    pub fn new(requests: impl IntoIterator<Item = String>) -> QueueWork {
        let queue: VecDeque<String> = requests.into_iter().collect();
        QueueWork {
            state: Mutex::new(QueueState {
                total: queue.len(),
                queue,
                ..QueueState::default()
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut QueueState) -> T) -> T {
        // A poisoned lock means a test panicked mid-call; its state is still usable.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    /// Adds requests at the end.
    pub fn push(&self, request: impl Into<String>) {
        self.with(|s| {
            s.queue.push_back(request.into());
            s.total += 1;
        });
    }

    /// While paused, work remains but nothing is ready (`next_request` gives `None`).
    pub fn pause(&self, paused: bool) {
        self.with(|s| s.paused = paused);
    }

    /// The next response is refused with this message (a fatal error of the work).
    pub fn fail_next_response(&self, message: impl Into<String>) {
        self.with(|s| s.fail_next_response = Some(message.into()));
    }

    pub fn remaining(&self) -> usize {
        self.with(|s| s.queue.len())
    }

    pub fn events(&self) -> Vec<QueueEvent> {
        self.with(|s| s.events.clone())
    }
}

#[async_trait]
impl CompanyWork for QueueWork {
    async fn has_work(&self) -> bool {
        self.with(|s| !s.queue.is_empty())
    }

    async fn next_request(&self, session: &SessionInfo) -> Result<Option<String>, WorkError> {
        Ok(self.with(|s| {
            if s.paused {
                return None;
            }
            let request = s.queue.front().cloned()?;
            s.events.push(QueueEvent::Sent {
                session: session.id,
                version: session.version,
                request: request.clone(),
            });
            Some(request)
        }))
    }

    async fn receive_response(
        &self,
        session: &SessionInfo,
        response: Result<String, HResult>,
    ) -> Result<Progress, WorkError> {
        self.with(|s| {
            s.events.push(QueueEvent::Received {
                session: session.id,
                response: response.clone(),
            });
            if let Some(message) = s.fail_next_response.take() {
                return Err(WorkError(message));
            }
            s.queue.pop_front();
            if s.queue.is_empty() {
                return Ok(Progress::Done);
            }
            let done = s.total - s.queue.len();
            let percent = (done * 100 / s.total.max(1)).min(99);
            Ok(Progress::Working(u8::try_from(percent).unwrap_or(99)))
        })
    }

    async fn connection_error(&self, session: &SessionInfo, error: &HResult) {
        self.with(|s| {
            s.events.push(QueueEvent::ConnectionError {
                session: session.id,
                error: error.clone(),
            })
        });
    }

    async fn close(&self, session: &SessionInfo, reason: CloseReason) {
        self.with(|s| {
            s.events.push(QueueEvent::Closed {
                session: session.id,
                reason,
            })
        });
    }
}

/// No work at all: every `authenticate` answers `none`. What the daemon serves until an
/// accounting side of kind QuickBooks Desktop or POS plugs its work in (ADR 0080).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoWork;

#[async_trait]
impl CompanyWork for NoWork {
    async fn has_work(&self) -> bool {
        false
    }

    async fn next_request(&self, _: &SessionInfo) -> Result<Option<String>, WorkError> {
        Ok(None)
    }

    async fn receive_response(
        &self,
        _: &SessionInfo,
        _: Result<String, HResult>,
    ) -> Result<Progress, WorkError> {
        Ok(Progress::Done)
    }

    async fn connection_error(&self, _: &SessionInfo, _: &HResult) {}

    async fn close(&self, _: &SessionInfo, _: CloseReason) {}
}
