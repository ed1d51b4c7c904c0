//! The writer thread: applies events one atomic batch each, flushes once per group,
//! updates the lineage index, then acknowledges.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};
use tributary_model::Watermark;
use tributary_openlineage::ParsedEvent;

use crate::apply::{IndexDelta, apply_event};
use crate::{IngestOutcome, ServiceError, Shared};

/// The outcome, and the event itself going back to the caller: a parsed event is a large
/// tree of allocations made on the caller's thread, and freeing them there is much cheaper
/// than on the writer (the allocator's per-thread arenas contend on cross-thread frees:
/// measured at about 80 µs per event on the writer, a third of its time).
type Reply = oneshot::Sender<(Result<IngestOutcome, ServiceError>, ParsedEvent)>;

struct Request {
    event: ParsedEvent,
    reply: Reply,
}

/// The acknowledgement of an enqueued event: resolves once the event is durable.
pub struct PendingAck {
    answer: oneshot::Receiver<(Result<IngestOutcome, ServiceError>, ParsedEvent)>,
}

impl std::future::Future for PendingAck {
    type Output = Result<IngestOutcome, ServiceError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, context: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.answer).poll(context).map(|received| match received {
            // The event is dropped here, on the caller's thread.
            Ok((result, _event)) => result,
            Err(_) => Err(ServiceError::Internal("the writer stopped before answering".into())),
        })
    }
}

#[derive(Clone)]
pub(crate) struct WriterHandle {
    sender: Arc<std::sync::Mutex<Option<mpsc::Sender<Request>>>>,
}

impl WriterHandle {
    /// Hands the event to the writer (waiting while its queue is full) and returns
    /// the acknowledgement to await.
    pub(crate) async fn enqueue(&self, event: ParsedEvent) -> Result<PendingAck, ServiceError> {
        let sender = self.sender.lock().ok().and_then(|guard| guard.clone());
        let sender = sender.ok_or_else(ServiceError::shutting_down)?;
        let (reply, answer) = oneshot::channel();
        sender.send(Request { event, reply }).await.map_err(|_| ServiceError::shutting_down())?;
        Ok(PendingAck { answer })
    }

    pub(crate) fn close(&self) {
        if let Ok(mut guard) = self.sender.lock() {
            guard.take();
        }
    }
}

pub(crate) fn start(shared: Arc<Shared>) -> (WriterHandle, std::thread::JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel(shared.config.max_group.max(1) * 2);
    let thread = std::thread::Builder::new()
        .name("tributary-writer".into())
        .spawn(move || run(shared, receiver))
        // Spawning a thread fails only when the OS is out of resources at start-up.
        .expect("spawn the writer thread");
    (WriterHandle { sender: Arc::new(std::sync::Mutex::new(Some(sender))) }, thread)
}

fn run(shared: Arc<Shared>, mut receiver: mpsc::Receiver<Request>) {
    let max_group = shared.config.max_group.max(1);
    let mut group: Vec<Request> = Vec::with_capacity(max_group);
    while let Some(first) = receiver.blocking_recv() {
        group.push(first);
        while group.len() < max_group {
            match receiver.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        commit_group(&shared, &mut group);
        shared.read_gate.let_readers_in();
    }
}

fn commit_group(shared: &Shared, group: &mut Vec<Request>) {
    let mut results: Vec<Result<IngestOutcome, ServiceError>> = Vec::with_capacity(group.len());
    let mut deltas: Vec<IndexDelta> = Vec::with_capacity(group.len());
    for request in group.iter() {
        // A bug in applying one event must not take the writer (and every later event)
        // down with it: a panic becomes that event's internal error. Nothing of the event
        // was committed, since the batch is applied only at the end of `apply_event`.
        let applied =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| apply_event(&shared.store, &request.event)))
                .unwrap_or_else(|_| Err(ServiceError::Internal("applying the event panicked".into())));
        match applied {
            Ok((outcome, delta)) => {
                results.push(Ok(outcome));
                deltas.extend(delta);
            }
            Err(failure) => {
                error!(error = %failure, "event not applied");
                results.push(Err(failure));
            }
        }
    }
    let mut schema_changes = Vec::new();
    let flushed = shared.store.flush();
    let last_sequence = shared.store.last_sequence();
    match &flushed {
        Err(failure) => {
            error!(error = %failure, "flush failed; the group is not acknowledged");
            shared.health.write_failed(failure);
        }
        Ok(()) => shared.health.write_succeeded(),
    }
    {
        // Applied batches are in the store even when the flush failed, and later reads
        // see them; keep the index in step with the store either way.
        // One lock for the index, the aliases and the mesh: answers see all of a group or
        // none of it, and the writer never waits for a second lock while holding this one.
        let mut state = shared.write_state();
        let state = &mut *state;
        let mut graph_policies_dirty = false;
        for delta in deltas {
            graph_policies_dirty |= delta.graph_policies_dirty;
            schema_changes.extend(delta.apply(&mut state.index, &mut state.aliases));
        }
        match last_sequence {
            Ok(sequence) => state.index.set_watermark(Watermark { sequence, events: sequence }),
            Err(failure) => warn!(error = %failure, "cannot read the last sequence"),
        }
        // Policies over the graph: re-evaluated only when the mesh has some and the group
        // changed what they look at; findings are recorded before the acknowledgements.
        if graph_policies_dirty && state.mesh.has_graph_policies() {
            state.mesh.refresh_violations(&state.index, &shared.store, tributary_model::Timestamp::now());
        }
    }
    shared.read_gate.published();
    // Schema changes seen in the wild: classified and traced against the updated index,
    // recorded and broadcast before the acknowledgements.
    if !schema_changes.is_empty()
        && let Err(failure) = shared.record_schema_changes(schema_changes)
    {
        error!(error = %failure, "recording schema changes failed");
    }
    for (Request { event, reply }, result) in group.drain(..).zip(results) {
        let result = match (&flushed, result) {
            (Err(failure), Ok(_)) if failure.is_resource_exhausted() => {
                Err(ServiceError::Unavailable(format!("event not made durable: the store cannot write: {failure}")))
            }
            (Err(failure), Ok(_)) => Err(ServiceError::Internal(format!("event not made durable: {failure}"))),
            (_, result) => result,
        };
        // The caller may have gone away (client disconnected); the event is stored anyway,
        // and the reply (with the event) is dropped here.
        let _ = reply.send((result, event));
    }
}
