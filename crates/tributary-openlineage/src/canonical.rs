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
