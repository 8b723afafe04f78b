//! [`BridgeWork`]: a QuickBooks company file's [`Bridge`] (the connectors' session logic
//! and its dialect, ADR 0080 §2–4) as the endpoint's [`CompanyWork`]. Nothing but
//! translation: sessions by their number, progress, errors in words.

use crate::work::{CloseReason, CompanyWork, HResult, Progress, SessionInfo, WorkError};
use async_trait::async_trait;
use invsync_connectors::quickbooks_desktop::{Bridge, SessionProgress};
use std::sync::Arc;

/// See the module comment.
pub struct BridgeWork(pub Arc<Bridge>);

#[async_trait]
impl CompanyWork for BridgeWork {
    async fn has_work(&self) -> bool {
        self.0.has_work()
    }

    async fn next_request(&self, session: &SessionInfo) -> Result<Option<String>, WorkError> {
        self.0.next_request(session.id).await.map_err(WorkError)
    }

    async fn receive_response(
        &self,
        session: &SessionInfo,
        response: Result<String, HResult>,
    ) -> Result<Progress, WorkError> {
        let response = response.map_err(|h| (h.code, h.message));
        match self.0.receive_response(session.id, response).await {
            Ok(SessionProgress::Done) => Ok(Progress::Done),
            Ok(SessionProgress::Working(p)) => Ok(Progress::Working(p)),
            Err(e) => Err(WorkError(e)),
        }
    }

    async fn connection_error(&self, session: &SessionInfo, error: &HResult) {
        self.0.connection_error(session.id, &error.describe());
    }

    async fn close(&self, session: &SessionInfo, _reason: CloseReason) {
        self.0.close(session.id);
    }
}
