//! A dataset's record and its facet values under its one `D` key (store format 5).
//!
//! sled's cost is per inserted key (a leaf copy and, often, a split: `benches/README.md`,
//! sessions 11-14), and an event of a growing mesh creates a dataset's record, two or three
//! facet values and a graph key together. So the store keeps them in one value: the callers
//! still write and read them as before (`put_dataset`, `put_dataset_facet`,
//! `put_graph_dataset`, `dataset_facet`, …, keys `D`, `F`, `N` in a group's pending writes),
//! and the store folds a group's writes of one dataset into one `D` value when it commits
//! (`Store::apply_writes`), reading the stored value once to keep the facets the group did
//! not write. A `D` key exists exactly when the dataset does, so it is the graph key too.
//!
//! Layout: a dataset with no facet value is its record as stored alone (binary layout, or
//! JSON from earlier builds). Otherwise: [`CODEC_DATASET_FOLDED`], the record's length (u32,
//! big-endian; `u32::MAX` when the dataset has facet values but no record), the record's
//! bytes, the number of facet values (u32), then each in key order: the key's length (u32),
//! the key, the value's length (u32) and the value as `F` stored it (inline behind a codec
//! byte, or a reference into an event).

/// A `D` value holding the dataset's record and its facet values (see the module docs).
pub(crate) const CODEC_DATASET_FOLDED: u8 = 6;

const NO_RECORD: u32 = u32::MAX;

/// A stored `D` value read apart: byte ranges into it, nothing copied.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Folded {
    pub(crate) record: Option<std::ops::Range<usize>>,
    /// Key and value of each facet, in key order.
    pub(crate) facets: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
}

impl Folded {
    /// Reads a stored `D` value (folded or a bare record).
    pub(crate) fn read(value: &[u8]) -> Result<Self, String> {
        Self::read_parts(value, true)
    }

    /// Where the record lies in a stored `D` value, its facets not read (the writer reads a
    /// dataset's record at every mention of it).
    pub(crate) fn record(value: &[u8]) -> Result<Option<std::ops::Range<usize>>, String> {
        Ok(Self::read_parts(value, false)?.record)
    }

    fn read_parts(value: &[u8], with_facets: bool) -> Result<Self, String> {
        if value.first() != Some(&CODEC_DATASET_FOLDED) {
            return Ok(Self { record: Some(0..value.len()), facets: Vec::new() });
        }
        let mut at = 1;
        let mut take = |len: usize, what: &str| -> Result<std::ops::Range<usize>, String> {
            let end = at + len;
            if end > value.len() {
                return Err(format!("the folded dataset value ends inside {what} (byte {at} of {})", value.len()));
            }
            let range = at..end;
            at = end;
            Ok(range)
        };
        let number = |bytes: &[u8]| bytes.iter().fold(0usize, |number, &byte| (number << 8) | usize::from(byte));
        let record_len = number(&value[take(4, "the record's length")?]);
        let record = if record_len == NO_RECORD as usize { None } else { Some(take(record_len, "the record")?) };
        if !with_facets {
            return Ok(Self { record, facets: Vec::new() });
        }
        let count = number(&value[take(4, "the number of facets")?]);
        let mut facets = Vec::with_capacity(count.min(value.len() / 6));
        for _ in 0..count {
            let key_len = number(&value[take(4, "a facet key's length")?]);
            let key = take(key_len, "a facet key")?;
            let value_len = number(&value[take(4, "a facet value's length")?]);
            let facet = take(value_len, "a facet value")?;
            facets.push((key, facet));
        }
        if at != value.len() {
            return Err(format!("the folded dataset value has {} bytes after its last facet", value.len() - at));
        }
        Ok(Self { record, facets })
    }

    /// The stored value of one facet.
    pub(crate) fn facet(&self, value: &[u8], key: &[u8]) -> Option<std::ops::Range<usize>> {
        self.facets
            .binary_search_by(|(name, _)| value[name.clone()].cmp(key))
            .ok()
            .map(|index| self.facets[index].1.clone())
    }
}

/// A dataset's `D` value from its record (as stored alone) and its facet values in key
/// order; `None` when there is neither (the key goes). A length that does not fit the layout
/// (4 GiB and more; the parser bounds events far below) is an error, never cut short.
pub(crate) fn encode<'a>(
    record: Option<&[u8]>,
    facets: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<Option<Vec<u8>>, String> {
    if facets.len() == 0 {
        return Ok(record.map(<[u8]>::to_vec));
    }
    let length = |bytes: usize, what: &str| {
        u32::try_from(bytes)
            .ok()
            .filter(|&length| length != NO_RECORD)
            .map(u32::to_be_bytes)
            .ok_or_else(|| format!("{what} of {bytes} bytes does not fit a folded dataset value"))
    };
    let mut value = vec![CODEC_DATASET_FOLDED];
    match record {
        Some(record) => {
            value.extend_from_slice(&length(record.len(), "a record")?);
            value.extend_from_slice(record);
        }
        None => value.extend_from_slice(&NO_RECORD.to_be_bytes()),
    }
    value.extend_from_slice(&length(facets.len(), "a facet count")?);
    for (key, facet) in facets {
        value.extend_from_slice(&length(key.len(), "a facet key")?);
        value.extend_from_slice(key);
        value.extend_from_slice(&length(facet.len(), "a facet value")?);
        value.extend_from_slice(facet);
    }
    Ok(Some(value))
}

/// The dataset key (`D ns NUL name`) and facet key of an `F ns NUL name NUL facet` key.
pub(crate) fn split_facet_key(key: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let rest = key.get(1..)?;
    let first = rest.iter().position(|&byte| byte == 0)?;
    let second = first + 1 + rest[first + 1..].iter().position(|&byte| byte == 0)?;
    let mut dataset = Vec::with_capacity(1 + second);
    dataset.push(crate::keys::PREFIX_DATASET);
    dataset.extend_from_slice(&rest[..second]);
    Some((dataset, &rest[second + 1..]))
}

/// The dataset key of an `N ns NUL name` key.
pub(crate) fn dataset_of_graph_key(key: &[u8]) -> Vec<u8> {
    let mut dataset = key.to_vec();
    dataset[0] = crate::keys::PREFIX_DATASET;
    dataset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_values_read_back_and_bare_records_read_as_records() {
        let facets: [(&[u8], &[u8]); 2] = [(b"ownership", b"\x01{}"), (b"schema", &[3; 17])];
        let value = encode(Some(b"\x02record"), facets.iter().copied()).unwrap().unwrap();
        let folded = Folded::read(&value).unwrap();
        assert_eq!(&value[folded.record.clone().unwrap()], b"\x02record");
        assert_eq!(&value[folded.facet(&value, b"schema").unwrap()], &[3; 17]);
        assert_eq!(&value[folded.facet(&value, b"ownership").unwrap()], b"\x01{}");
        assert_eq!(Folded::record(&value).unwrap(), folded.record);
        assert_eq!(Folded::record(b"\x02bare").unwrap(), Some(0..5));
        assert_eq!(folded.facet(&value, b"tags"), None);

        let bare = encode(Some(b"\x02record"), std::iter::empty()).unwrap().unwrap();
        assert_eq!(bare, b"\x02record");
        assert_eq!(Folded::read(&bare).unwrap(), Folded { record: Some(0..7), facets: Vec::new() });
        assert_eq!(encode(None, std::iter::empty()), Ok(None));

        let without_record = encode(None, facets.iter().copied()).unwrap().unwrap();
        assert_eq!(Folded::read(&without_record).unwrap().record, None);
        // Every truncation is an error naming where the value ends, never a panic.
        for end in 1..value.len() {
            assert!(Folded::read(&value[..end]).is_err(), "a value cut at {end} read");
        }
        let mut longer = value.clone();
        longer.push(0);
        assert!(Folded::read(&longer).unwrap_err().contains("after its last facet"));
        assert!(Folded::read(&value[..3]).unwrap_err().contains("record's length"));
    }

    #[test]
    fn facet_keys_split_into_their_dataset_and_facet() {
        let key = crate::keys::facet_key(&tributary_model::DatasetId::new("db", "orders"), "schema");
        let (dataset, facet) = split_facet_key(&key).unwrap();
        assert_eq!(dataset, crate::keys::name_key(crate::keys::PREFIX_DATASET, "db", "orders"));
        assert_eq!(facet, b"schema");
        assert_eq!(split_facet_key(b"Fdb\0orders"), None);
        let graph = crate::keys::name_key(crate::keys::PREFIX_GRAPH_DATASET, "db", "orders");
        assert_eq!(dataset_of_graph_key(&graph), dataset);
    }
}
