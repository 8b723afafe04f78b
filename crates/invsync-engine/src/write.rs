//! Writing planned changes: in batches of the target connection's size, each batch on
//! record as write intents before it is sent (or not sent) and as items once answered.

use crate::error::is_input;
use crate::record::{NotRecorded, Recorder, change_item};
use crate::run::Run;
use crate::snapshot::Snapshot;
use invsync_connectors::{Connection, ConnectorError, ErrorKind, KeyRound, Write, WriteOutcome};
use invsync_core::{ChangeResult, PlannedChange};
use invsync_store::NewRunItem;

/// What became of a list of changes: one result and error per change, whether a
/// connection-wide error ended the writing (`(message, is input error)`), and whether a
/// stop request did.
pub(crate) struct Written {
    pub results: Vec<ChangeResult>,
    pub errors: Vec<Option<String>>,
    pub run_error: Option<(String, bool)>,
    pub interrupted: bool,
}

impl Written {
    /// `n` changes not written (yet): a dry run's.
    pub fn pending(n: usize) -> Written {
        Written {
            results: vec![ChangeResult::Pending; n],
            errors: vec![None; n],
            run_error: None,
            interrupted: false,
        }
    }

    /// The changes whose target changed since it was read.
    pub fn stale(&self) -> Vec<usize> {
        (0..self.results.len())
            .filter(|&i| self.results[i] == ChangeResult::Stale)
            .collect()
    }

    /// How many changes were applied.
    pub fn applied(&self) -> u64 {
        self.results
            .iter()
            .filter(|r| **r == ChangeResult::Applied)
            .count() as u64
    }

    fn fail(&mut self, range: impl IntoIterator<Item = usize>, error: &str) {
        for i in range {
            self.results[i] = ChangeResult::Failed;
            self.errors[i] = Some(error.to_owned());
        }
    }
}

/// Where the batch starting at `start` ends. A connection may take the changes of one field
/// in a row as one larger batch (Shopify's bulk price write, ADR 0110): such a run of
/// changes is a batch of its own, and the batch before it stops where it begins.
fn batch_end(
    target: &dyn Connection,
    changes: &[PlannedChange],
    start: usize,
    batch_size: usize,
) -> usize {
    let same_from = |at: usize| {
        let field = changes[at].field;
        let n = changes[at..]
            .iter()
            .take_while(|c| c.field == field)
            .count();
        (field, n)
    };
    let (field, same) = same_from(start);
    let larger = target.write_batch_size_for(field, same);
    if larger > batch_size {
        return start + larger.min(same);
    }
    let end = start.saturating_add(batch_size).min(changes.len());
    let next = start + same;
    if next < end {
        let (field, same) = same_from(next);
        if target.write_batch_size_for(field, same) > batch_size {
            return next;
        }
    }
    end
}

impl Run<'_> {
    /// Writes `changes` through `target` in batches of its size, recording each batch's
    /// items as it completes; change `n` carries the key `n` of `round`. Stops between
    /// batches on a stop request, and at once on an error no further batch would escape.
    pub(crate) async fn write(
        &self,
        recorder: &mut Recorder,
        target: &dyn Connection,
        changes: &[PlannedChange],
        snapshot: &Snapshot,
        round: KeyRound,
    ) -> Written {
        let keys = recorder.keys(round);
        let mut written = Written::pending(changes.len());
        let batch_size = target.write_batch_size().max(1);
        let mut start = 0;
        while start < changes.len() {
            if self.cancel.is_cancelled() {
                written.interrupted = true;
                break;
            }
            let end = batch_end(target, changes, start, batch_size);
            // What cannot be on record is never sent (issue 13, item 4): such a change fails
            // here, and the rest of the batch goes.
            let mut sent: Vec<usize> = Vec::with_capacity(end - start);
            let mut writes: Vec<Write> = Vec::with_capacity(end - start);
            for (i, ch) in changes.iter().enumerate().take(end).skip(start) {
                let record = snapshot.record(ch.side, ch.record);
                let id = record.map(|r| r.id.clone()).unwrap_or_default();
                let sku = record.map(|r| r.sku.clone()).unwrap_or_default();
                if let Some(why) = invsync_store::unstorable(&sku) {
                    written.fail([i], &format!("not written: its SKU {why}"));
                    continue;
                }
                sent.push(i);
                let key = keys.key(i, &id, &sku, ch.field, ch.old, ch.new);
                writes.push(Write {
                    id,
                    sku,
                    field: ch.field,
                    old: ch.old,
                    new: ch.new,
                    key,
                    sale: ch.sale,
                });
            }
            match recorder.intend(&writes).await {
                Ok(()) if writes.is_empty() => {}
                Ok(()) => match target.write(&writes).await {
                    Ok(outcomes) => written.answered(&sent, outcomes),
                    Err(e) => written.batch_failed(&sent, end..changes.len(), &e),
                },
                Err(NotRecorded::Refused(why)) => written.fail(
                    sent.iter().copied(),
                    &format!(
                        "not sent: the run history refused to record this write first ({why})"
                    ),
                ),
                Err(NotRecorded::Unavailable(why)) => {
                    let message = format!(
                        "stopped writing: invsync records each write before it sends it, and \
                         the run history could not record them: {why}"
                    );
                    written.fail(sent.iter().copied(), &format!("not sent: {message}"));
                    written.fail(end..changes.len(), &format!("not attempted: {message}"));
                    written.run_error = Some((message, false));
                }
            }
            let finished_to = if written.run_error.is_some() {
                changes.len()
            } else {
                end
            };
            let items: Vec<NewRunItem> = (start..finished_to)
                .map(|i| {
                    let (result, error) = (written.results[i], written.errors[i].clone());
                    change_item(&changes[i], snapshot, result, error)
                })
                .collect();
            recorder.record(items).await;
            self.progress.advance((finished_to - start) as u64);
            start = finished_to;
        }
        written
    }
}

impl Written {
    /// A batch the connection answered: one outcome per write sent.
    fn answered(&mut self, sent: &[usize], outcomes: Vec<WriteOutcome>) {
        let mut outcomes = outcomes.into_iter();
        for &i in sent {
            let (result, error) = match outcomes.next() {
                Some(WriteOutcome::Applied) => (ChangeResult::Applied, None),
                Some(WriteOutcome::Failed(m)) => (ChangeResult::Failed, Some(m)),
                Some(WriteOutcome::Stale(m)) => (ChangeResult::Stale, Some(m)),
                None => (
                    ChangeResult::Failed,
                    Some("the connection returned no outcome for this item".to_owned()),
                ),
            };
            self.results[i] = result;
            self.errors[i] = error;
        }
    }

    /// A batch that failed as a whole. An error every further batch would meet too (auth,
    /// a missing or malformed file) fails the changes after it (`rest`) and ends the
    /// writing, its cause on record once.
    fn batch_failed(&mut self, sent: &[usize], rest: std::ops::Range<usize>, e: &ConnectorError) {
        let message = e.to_string();
        self.fail(sent.iter().copied(), &message);
        let fatal = matches!(
            e.kind,
            ErrorKind::Auth | ErrorKind::NotFound | ErrorKind::InvalidData | ErrorKind::Unsupported
        );
        if fatal {
            self.fail(rest, &format!("not attempted: {message}"));
            self.run_error = Some((message, is_input(e)));
        }
    }
}
