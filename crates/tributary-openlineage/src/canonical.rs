use serde_json::{Map, Value};

/// Serialises `value` as compact JSON with object keys sorted, whatever map type
/// `serde_json` was built with. Two JSON-equal values give the same bytes.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    out
}

/// An object with its keys sorted.
fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    out.push(b'{');
    let member = |index: usize, key: &str, value: &Value, out: &mut Vec<u8>| {
        if index > 0 {
            out.push(b',');
        }
        // Serialising a string into a Vec cannot fail.
        serde_json::to_writer(&mut *out, key).expect("string serialises");
        out.push(b':');
        write_canonical(value, out);
    };
    // serde_json's default map iterates in key order already: then no sort and no lookups.
    if map.keys().is_sorted() {
        for (index, (key, value)) in map.iter().enumerate() {
            member(index, key, value, out);
        }
    } else {
        let mut members: Vec<(&String, &Value)> = map.iter().collect();
        members.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (index, (key, value)) in members.into_iter().enumerate() {
            member(index, key, value, out);
        }
    }
    out.push(b'}');
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => write_object(map, out),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        // Scalars have one compact spelling already.
        scalar => serde_json::to_writer(&mut *out, scalar).expect("scalar serialises"),
    }
}

/// 128-bit content hash (XXH3) used to recognise identical events and schemas.
pub fn content_hash(bytes: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(bytes)
}

/// 64-bit content hash of a JSON value in canonical form, computed while serialising
/// (no intermediate buffer). Equal values hash equal. It hashes the canonical JSON with a
/// `,` after every member and element, the last ones included; [`canonical_value_hash`] gives
/// the same number from the canonical JSON's bytes. Stores keep these hashes in their facet
/// stamps, so the function must not change.
pub fn value_hash(value: &Value) -> u64 {
    struct HashWriter(xxhash_rust::xxh3::Xxh3);
    impl std::io::Write for HashWriter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    fn feed(value: &Value, writer: &mut HashWriter) {
        match value {
            Value::Object(map) => {
                writer.0.update(b"{");
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort_unstable();
                for key in keys {
                    // Writing into a hasher cannot fail.
                    let _ = serde_json::to_writer(&mut *writer, key);
                    writer.0.update(b":");
                    feed(&map[key], writer);
                    writer.0.update(b",");
                }
                writer.0.update(b"}");
            }
            Value::Array(items) => {
                writer.0.update(b"[");
                for item in items {
                    feed(item, writer);
                    writer.0.update(b",");
                }
                writer.0.update(b"]");
            }
            scalar => {
                let _ = serde_json::to_writer(&mut *writer, scalar);
            }
        }
    }
    let mut writer = HashWriter(xxhash_rust::xxh3::Xxh3::new());
    feed(value, &mut writer);
    writer.0.digest()
}

/// [`value_hash`] of the value whose canonical JSON is `canonical` (as [`canonical_json`]
/// writes it), from those bytes: they are hashed in runs, with the `,` `value_hash` adds after
/// the last member or element fed before each closing bracket of a non-empty object or
/// array. One pass over the bytes, no value walked.
pub fn canonical_value_hash(canonical: &[u8]) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut run_start = 0;
    let mut at = 0;
    // Outside strings only `"` (a string opens), `}` and `]` matter; inside a string only `"`
    // (it closes, unless escaped) and `\` (the next byte is escaped). memchr finds each.
    while let Some(offset) = memchr::memchr3(b'"', b'}', b']', &canonical[at..]) {
        let found = at + offset;
        if canonical[found] == b'"' {
            at = string_end(canonical, found + 1);
            continue;
        }
        // A closing bracket: the byte before it is outside any string (a string ends in `"`),
        // and an opening bracket there means an empty container (no comma to add).
        if found == 0 || !matches!(canonical[found - 1], b'{' | b'[') {
            hasher.update(&canonical[run_start..found]);
            hasher.update(b",");
            run_start = found;
        }
        at = found + 1;
    }
    hasher.update(&canonical[run_start..]);
    hasher.digest()
}

/// Just past the `"` that closes the string whose first byte is at `at` (or the end of the
/// bytes when it does not close).
fn string_end(bytes: &[u8], mut at: usize) -> usize {
    while let Some(offset) = memchr::memchr2(b'"', b'\\', &bytes[at..]) {
        let found = at + offset;
        if bytes[found] == b'"' {
            return found + 1;
        }
        at = found + 2;
        if at >= bytes.len() {
            return bytes.len();
        }
    }
    bytes.len()
}
