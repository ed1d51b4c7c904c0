//! Events compressed with zstd and a dictionary trained on the store's own events.
//!
//! One OpenLineage event repeats most of the last one's bytes (producer and schema URLs,
//! facet names, namespaces, field names), and lz4 compressing each event on its own sees none
//! of that. A dictionary trained on earlier events of the same store gives zstd that context:
//! on the generated mesh, 2,000 events took 2.84 MB with lz4, 2.13 MB with zstd alone and
//! 1.22 MB with zstd and a 64 KiB dictionary.
//!
//! The rules that keep every stored event readable:
//! - A dictionary is immutable once stored (`M` `dict` id, with the sequence it was trained
//!   at), and never removed: each event names the dictionary it was compressed with (codec
//!   byte 4, `CODEC_ZSTD_DICT`, its id as a big-endian u32, then one zstd frame).
//! - A dictionary is made durable (inserted and flushed) before any caller may compress with
//!   it, so no stored event names a dictionary that a crash could lose.
//! - Training happens when the store holds [`FIRST_TRAINING_AT`] events, then again each time
//!   it holds [`RETRAIN_FACTOR`] times as many as at the last training, so a mesh whose events
//!   change over time gets a dictionary of its later events; old events keep theirs. It runs
//!   off the writer (the service gives it a thread of its own) and reads committed events only.
//!
//! Lock discipline: `Dictionaries` sits behind one `RwLock` in the [`Store`](crate::Store),
//! a leaf lock: taken only to clone an `Arc` out or to publish a new dictionary, never while
//! calling sled or taking another lock.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use zstd::zstd_safe;

use crate::keys::CODEC_ZSTD_DICT;

/// The store trains its first dictionary once it holds this many events.
pub const FIRST_TRAINING_AT: u64 = 1024;
/// ... and another each time it holds this many times as many as at the last training.
pub const RETRAIN_FACTOR: u64 = 16;
/// The most recent events a training reads (and at most [`SAMPLE_BYTES`] of them). zstd's
/// training time grows with the samples' bytes and its dictionary does not improve past about
/// a hundred times its size: on the generated mesh, 1,024 events (9 MB) gave a dictionary that
/// compressed the next 2,000 events as well as one from 4,096 (38 MB; 12.6x against 12.4x)
/// for a quarter of the training's CPU (0.6 s against 2.5 s), which a busy writer shares its
/// cores with (benches/README.md, session 39).
const SAMPLES: usize = 2048;
const SAMPLE_BYTES: usize = 8 << 20;
/// The dictionary's size: zstd's advice is about a hundredth of the samples.
const DICTIONARY_BYTES: usize = 64 << 10;
const MIN_DICTIONARY_BYTES: usize = 4 << 10;
/// zstd's level for events: its default, several times lz4's ratio on events at a few tens
/// of microseconds per event, on the caller's thread.
const LEVEL: i32 = 3;
/// An event's decompressed size as its frame states it is checked against this before any
/// allocation (a damaged frame must not ask for gigabytes).
const MAX_EVENT_BYTES: u64 = 1 << 30;

/// Meta key of dictionary `id`: `Mdict` + id (u32, big-endian). Value: the sequence of the
/// last event it was trained on (u64, big-endian), then zstd's dictionary bytes.
pub(crate) const META_DICTIONARY_PREFIX: &[u8] = b"Mdict";

pub(crate) fn dictionary_key(id: u32) -> Vec<u8> {
    let mut key = META_DICTIONARY_PREFIX.to_vec();
    key.extend_from_slice(&id.to_be_bytes());
    key
}

/// One stored dictionary, ready for both directions.
pub(crate) struct EventDictionary {
    pub(crate) id: u32,
    /// The sequence of the last event it was trained on.
    pub(crate) trained_at: u64,
    compress: zstd_safe::CDict<'static>,
    decompress: zstd_safe::DDict<'static>,
}

impl std::fmt::Debug for EventDictionary {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("EventDictionary").field("id", &self.id).field("trained_at", &self.trained_at).finish()
    }
}

impl EventDictionary {
    /// From a stored value (see [`META_DICTIONARY_PREFIX`]); `None` when it is damaged.
    pub(crate) fn from_stored(id: u32, value: &[u8]) -> Option<Self> {
        let (trained_at, bytes) = value.split_first_chunk::<8>()?;
        Self::new(id, u64::from_be_bytes(*trained_at), bytes)
    }

    pub(crate) fn new(id: u32, trained_at: u64, bytes: &[u8]) -> Option<Self> {
        if bytes.is_empty() {
            return None;
        }
        let compress = zstd_safe::CDict::try_create(bytes, LEVEL)?;
        let decompress = zstd_safe::DDict::try_create(bytes)?;
        Some(Self { id, trained_at, compress, decompress })
    }

    pub(crate) fn stored_value(trained_at: u64, bytes: &[u8]) -> Vec<u8> {
        let mut value = Vec::with_capacity(8 + bytes.len());
        value.extend_from_slice(&trained_at.to_be_bytes());
        value.extend_from_slice(bytes);
        value
    }

    /// Codec byte, id, zstd frame.
    pub(crate) fn compress(&self, bytes: &[u8]) -> Vec<u8> {
        thread_local! {
            static CONTEXT: RefCell<Option<zstd_safe::CCtx<'static>>> = const { RefCell::new(None) };
        }
        let mut frame = Vec::with_capacity(zstd_safe::compress_bound(bytes.len()));
        let written = CONTEXT.with_borrow_mut(|context| {
            let context = context.get_or_insert_with(zstd_safe::CCtx::create);
            context.compress_using_cdict(&mut frame, bytes, &self.compress)
        });
        let mut stored = Vec::with_capacity(5 + frame.len());
        stored.push(CODEC_ZSTD_DICT);
        stored.extend_from_slice(&self.id.to_be_bytes());
        match written {
            Ok(_) => stored.extend_from_slice(&frame),
            // The bound above is zstd's own: a failure here is zstd's bug, and the event is
            // still stored, with lz4.
            Err(_) => {
                stored.clear();
                stored.push(crate::keys::CODEC_LZ4);
                stored.extend_from_slice(&lz4_flex::compress_prepend_size(bytes));
            }
        }
        stored
    }

    /// The bytes of one zstd frame compressed with this dictionary.
    pub(crate) fn decompress(&self, frame: &[u8]) -> Result<Vec<u8>, String> {
        thread_local! {
            static CONTEXT: RefCell<Option<zstd_safe::DCtx<'static>>> = const { RefCell::new(None) };
        }
        let size = match zstd_safe::get_frame_content_size(frame) {
            Ok(Some(size)) if size <= MAX_EVENT_BYTES => size as usize,
            Ok(Some(size)) => return Err(format!("the zstd frame claims {size} bytes")),
            Ok(None) => return Err("the zstd frame does not state its size".into()),
            Err(_) => return Err("not a zstd frame".into()),
        };
        let mut bytes = Vec::with_capacity(size);
        CONTEXT
            .with_borrow_mut(|context| {
                let context = context.get_or_insert_with(zstd_safe::DCtx::create);
                context.decompress_using_ddict(&mut bytes, frame, &self.decompress)
            })
            .map_err(|code| format!("zstd: {}", zstd_safe::get_error_name(code)))?;
        if bytes.len() != size {
            return Err(format!("the zstd frame states {size} bytes and holds {}", bytes.len()));
        }
        Ok(bytes)
    }
}

/// The store's dictionaries: every stored one by id (to read events), and the newest (to
/// compress new ones).
#[derive(Debug, Default)]
pub(crate) struct Dictionaries {
    by_id: HashMap<u32, Arc<EventDictionary>>,
    newest: Option<Arc<EventDictionary>>,
    /// A training found nothing to learn (too few or too small events) at this sequence: the
    /// next try waits for the next threshold, instead of retrying on every group.
    pub(crate) gave_up_at: u64,
}

impl Dictionaries {
    pub(crate) fn insert(&mut self, dictionary: EventDictionary) {
        let dictionary = Arc::new(dictionary);
        if self.newest.as_ref().is_none_or(|newest| newest.id < dictionary.id) {
            self.newest = Some(Arc::clone(&dictionary));
        }
        self.by_id.insert(dictionary.id, dictionary);
    }

    pub(crate) fn get(&self, id: u32) -> Option<Arc<EventDictionary>> {
        self.by_id.get(&id).cloned()
    }

    pub(crate) fn newest(&self) -> Option<Arc<EventDictionary>> {
        self.newest.clone()
    }

    pub(crate) fn ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.by_id.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    pub(crate) fn next_id(&self) -> u32 {
        self.by_id.keys().max().map_or(1, |id| id + 1)
    }

    /// Whether a store holding `events` events should train a dictionary now.
    pub(crate) fn due(&self, events: u64) -> bool {
        let last = self.newest.as_ref().map_or(0, |newest| newest.trained_at).max(self.gave_up_at);
        let threshold = if last == 0 { FIRST_TRAINING_AT } else { last.saturating_mul(RETRAIN_FACTOR) };
        events >= threshold
    }
}

/// zstd's dictionary from `samples`; `None` when zstd finds nothing to learn (too few or too
/// small samples).
pub(crate) fn train(samples: &[Vec<u8>]) -> Option<Vec<u8>> {
    // zstd wants samples of many times the dictionary's size; small events get a small one.
    let total: usize = samples.iter().map(Vec::len).sum();
    let size = (total / 16).clamp(MIN_DICTIONARY_BYTES, DICTIONARY_BYTES);
    zstd::dict::from_samples(samples, size).ok().filter(|bytes| !bytes.is_empty())
}

pub(crate) const fn sample_limits() -> (usize, usize) {
    (SAMPLES, SAMPLE_BYTES)
}
