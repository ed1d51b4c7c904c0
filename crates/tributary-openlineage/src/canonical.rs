use serde_json::Value;

/// Serialises `value` as compact JSON with object keys sorted, whatever map type
/// `serde_json` was built with. Two JSON-equal values give the same bytes.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                // Serialising a string into a Vec cannot fail.
                serde_json::to_writer(&mut *out, key).expect("string serialises");
                out.push(b':');
                write_canonical(&map[key], out);
            }
            out.push(b'}');
        }
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
/// (no intermediate buffer). Equal values hash equal.
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
