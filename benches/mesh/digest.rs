//! The peers' result digest (`peers/common.py`, `digest`): SHA-1 over the rows sorted by
//! (namespace, name), each written as `namespace \x1f name \n`, first 16 hex digits. Written
//! out here (SHA-1 is 60 lines) rather than adding a dependency to the workspace for one
//! benchmark cross-check.

/// Digest of a result set of (namespace, name) rows, in any order.
pub fn rows_digest<S: AsRef<str>>(rows: &[(S, S)]) -> String {
    let mut sorted: Vec<(&str, &str)> = rows.iter().map(|(ns, name)| (ns.as_ref(), name.as_ref())).collect();
    // Python sorts str tuples by code point; UTF-8 byte order is the same order.
    sorted.sort_unstable();
    let mut hasher = Sha1::default();
    for (namespace, name) in sorted {
        hasher.update(namespace.as_bytes());
        hasher.update(b"\x1f");
        hasher.update(name.as_bytes());
        hasher.update(b"\n");
    }
    hasher.hex()[..16].to_owned()
}

/// SHA-1 (FIPS 180-4), streaming.
pub struct Sha1 {
    state: [u32; 5],
    buffer: Vec<u8>,
    length_bytes: u64,
}

impl Default for Sha1 {
    fn default() -> Self {
        Self {
            state: [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0],
            buffer: Vec::with_capacity(64),
            length_bytes: 0,
        }
    }
}

impl Sha1 {
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.length_bytes += bytes.len() as u64;
        if !self.buffer.is_empty() {
            let take = (64 - self.buffer.len()).min(bytes.len());
            self.buffer.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buffer.len() == 64 {
                let block: [u8; 64] = self.buffer[..].try_into().expect("the buffer holds exactly one block");
                self.compress(&block);
                self.buffer.clear();
            }
        }
        while bytes.len() >= 64 {
            let block: [u8; 64] = bytes[..64].try_into().expect("sliced to one block");
            self.compress(&block);
            bytes = &bytes[64..];
        }
        self.buffer.extend_from_slice(bytes);
    }

    pub fn hex(mut self) -> String {
        let bit_length = self.length_bytes.wrapping_mul(8);
        let mut tail = std::mem::take(&mut self.buffer);
        tail.push(0x80);
        while tail.len() % 64 != 56 {
            tail.push(0);
        }
        tail.extend_from_slice(&bit_length.to_be_bytes());
        for block in tail.chunks_exact(64) {
            self.compress(block.try_into().expect("padded to whole blocks"));
        }
        self.state.iter().map(|word| format!("{word:08x}")).collect()
    }

    fn compress(&mut self, block: &[u8; 64]) {
        let mut schedule = [0u32; 80];
        for (word, chunk) in schedule.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes(chunk.try_into().expect("four bytes"));
        }
        for t in 16..80 {
            schedule[t] = (schedule[t - 3] ^ schedule[t - 8] ^ schedule[t - 14] ^ schedule[t - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = self.state;
        for (t, word) in schedule.iter().enumerate() {
            let (f, k) = match t {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let temp = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = temp;
        }
        for (state, value) in self.state.iter_mut().zip([a, b, c, d, e]) {
            *state = state.wrapping_add(value);
        }
    }
}

/// Known answers, checked at start-up so a broken digest cannot pass as a mismatch.
pub fn self_check() {
    let sha = |text: &[u8]| {
        let mut hasher = Sha1::default();
        hasher.update(text);
        hasher.hex()
    };
    assert_eq!(sha(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert_eq!(sha(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_eq!(
        sha(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
    );
    assert_eq!(sha(&[b'a'; 1000]), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
    // The peers' digest of two rows (python: peers.common.digest).
    assert_eq!(rows_digest(&[("ns", "b"), ("ns", "a")]), PEERS_TWO_ROWS);
}

/// `digest([("ns", "b"), ("ns", "a")])` from `peers/common.py`.
const PEERS_TWO_ROWS: &str = "a1c19be707c70b6b";
