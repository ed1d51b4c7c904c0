//! Consumed log partitions (Kafka topics): how far each is applied (`Q`) and the records
//! that were not events (`X`). Written in the same atomic batch as the event (or rejection)
//! they advance past, so that a record is applied exactly once across restarts. Not derived
//! from events: `reindex` copies them ([`Store::copy_access_records`]).

use tributary_model::{PartitionOffset, SourcePosition, SourceRejection};

use crate::keys::*;
use crate::{EventWrite, Result, Store, StoreError, decode_record, encode_blob};

/// `Q` or `X`, topic, NUL, partition (big-endian, so partitions sort in order).
fn partition_key(prefix: u8, topic: &str, partition: i32) -> Vec<u8> {
    let mut key = Vec::with_capacity(6 + topic.len() + 8);
    key.push(prefix);
    key.extend_from_slice(topic.as_bytes());
    key.push(0);
    // Partitions are never negative; the sign bit flipped keeps the order if one were.
    key.extend_from_slice(&((partition as u32) ^ (1 << 31)).to_be_bytes());
    key
}

fn rejection_key(position: &SourcePosition) -> Vec<u8> {
    let mut key = partition_key(PREFIX_SOURCE_REJECTION, &position.topic, position.partition);
    key.extend_from_slice(&((position.offset as u64) ^ (1 << 63)).to_be_bytes());
    key
}

fn split_partition_key(key: &[u8]) -> Option<(String, i32)> {
    let rest = key.get(1..)?;
    let separator = rest.iter().position(|&byte| byte == 0)?;
    let topic = std::str::from_utf8(&rest[..separator]).ok()?.to_owned();
    let partition = rest.get(separator + 1..separator + 5)?;
    let partition = (u32::from_be_bytes(partition.try_into().ok()?) ^ (1 << 31)) as i32;
    Some((topic, partition))
}

fn corrupt(key: &[u8], reason: &str) -> StoreError {
    StoreError::Corrupt { key: String::from_utf8_lossy(key).into_owned(), reason: reason.to_owned() }
}

impl Store {
    /// Every consumed partition's offset (the next to read), by topic and partition.
    pub fn source_offsets(&self) -> Result<Vec<PartitionOffset>> {
        let mut offsets = Vec::new();
        for entry in self.scan_entries([PREFIX_SOURCE_OFFSET]) {
            let (key, value) = entry?;
            let (topic, partition) = split_partition_key(&key).ok_or_else(|| corrupt(&key, "bad offset key"))?;
            let offset = <[u8; 8]>::try_from(value.as_ref()).map_err(|_| corrupt(&key, "an offset is 8 bytes"))?;
            offsets.push(PartitionOffset { topic, partition, offset: i64::from_be_bytes(offset) });
        }
        Ok(offsets)
    }

    /// One partition's stored offset (the next to read), if any record of it was applied.
    pub fn source_offset(&self, topic: &str, partition: i32) -> Result<Option<i64>> {
        self.source_offset_in(None, topic, partition)
    }

    pub(crate) fn source_offset_in(
        &self,
        group: Option<&crate::GroupWrite>,
        topic: &str,
        partition: i32,
    ) -> Result<Option<i64>> {
        let key = partition_key(PREFIX_SOURCE_OFFSET, topic, partition);
        match self.get_in(group, &key)? {
            Some(value) => Ok(Some(i64::from_be_bytes(
                <[u8; 8]>::try_from(value.as_ref()).map_err(|_| corrupt(&key, "an offset is 8 bytes"))?,
            ))),
            None => Ok(None),
        }
    }

    /// Rejected records of `topic` (every topic when `None`), in topic, partition and offset
    /// order, starting after `after`, at most `limit`.
    pub fn source_rejections(
        &self,
        topic: Option<&str>,
        after: Option<&SourcePosition>,
        limit: usize,
    ) -> Result<Vec<SourceRejection>> {
        let mut prefix = vec![PREFIX_SOURCE_REJECTION];
        if let Some(topic) = topic {
            prefix.extend_from_slice(topic.as_bytes());
            prefix.push(0);
        }
        let db = self.db()?;
        let start = match after {
            Some(position) => {
                let mut key = rejection_key(position);
                key.push(0);
                key
            }
            None => prefix.clone(),
        };
        let mut found = Vec::new();
        for entry in db.range(start..) {
            let (key, value) = entry?;
            if !key.starts_with(&prefix) || found.len() >= limit {
                break;
            }
            found.push(decode_record(&key, &value)?);
        }
        Ok(found)
    }
}

impl EventWrite {
    /// Marks `position` applied: its partition's offset moves past it, in this batch.
    pub fn put_source_offset(&mut self, position: &SourcePosition) {
        let key = partition_key(PREFIX_SOURCE_OFFSET, &position.topic, position.partition);
        self.batch.insert(key, &(position.offset + 1).to_be_bytes());
    }

    /// Records a consumed record that is not an event, and moves its partition past it.
    pub fn put_source_rejection(&mut self, rejection: &SourceRejection) -> Result<()> {
        let key = rejection_key(&rejection.position);
        let json = serde_json::to_vec(rejection).map_err(|error| StoreError::Encode {
            key: String::from_utf8_lossy(&key).into_owned(),
            reason: error.to_string(),
        })?;
        self.batch.insert(key, encode_blob(&json, self.compress));
        self.put_source_offset(&rejection.position);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreConfig;
    use tributary_model::Timestamp;

    fn position(topic: &str, partition: i32, offset: i64) -> SourcePosition {
        SourcePosition { topic: topic.into(), partition, offset }
    }

    #[test]
    fn offsets_and_rejections_round_trip_in_order() {
        let store = Store::open_temporary(&StoreConfig::default()).unwrap();
        let mut write = store.write();
        write.put_source_offset(&position("lineage", 2, 41));
        write.put_source_offset(&position("lineage", 10, 7));
        write.put_source_offset(&position("a", 0, 0));
        for (partition, offset) in [(2, 5), (0, 300), (2, 1)] {
            let rejection = SourceRejection::new(
                position("lineage", partition, offset),
                Timestamp(1),
                Some("run:x".into()),
                "eventTime",
                "missing",
                3,
            );
            write.put_source_rejection(&rejection).unwrap();
        }
        store.commit(write).unwrap();
        let offsets = store.source_offsets().unwrap();
        let listed: Vec<_> = offsets.iter().map(|o| (o.topic.as_str(), o.partition, o.offset)).collect();
        // The rejections moved their partitions too (0 -> 301); 2 stays at the greatest write
        // of the batch (41 + 1 was overwritten by the rejection at 1: the last write wins).
        assert_eq!(listed, [("a", 0, 1), ("lineage", 0, 301), ("lineage", 2, 2), ("lineage", 10, 8)]);
        assert_eq!(store.source_offset("lineage", 10).unwrap(), Some(8));
        assert_eq!(store.source_offset("lineage", 11).unwrap(), None);
        let all = store.source_rejections(Some("lineage"), None, 10).unwrap();
        let at: Vec<_> = all.iter().map(|r| (r.position.partition, r.position.offset)).collect();
        assert_eq!(at, [(0, 300), (2, 1), (2, 5)]);
        let after = store.source_rejections(Some("lineage"), Some(&position("lineage", 2, 1)), 10).unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].position.offset, 5);
        assert!(store.source_rejections(Some("line"), None, 10).unwrap().is_empty());
        assert_eq!(store.source_rejections(None, None, 2).unwrap().len(), 2);
    }
}
