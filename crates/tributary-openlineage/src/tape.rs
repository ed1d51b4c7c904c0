//! An event parsed without a JSON tree: its bytes are written out as canonical JSON in one
//! pass ([`canonicalize`]), and that canonical JSON is indexed as a flat tape of nodes
//! ([`Tape`]) which the event's rules read through [`JsonView`]. Nothing is allocated per
//! node, key or string (strings with escapes aside).
//!
//! [`canonicalize`] must write exactly what [`crate::canonical_json`] writes for the value
//! `serde_json` parses from the same bytes: stored hashes depend on it. The tests check it
//! against that oracle on every example event and on generated JSON.

use std::ops::Range;

use serde_json::Value;
use tributary_model::JsonView;

/// `serde_json` refuses containers nested this deep (its recursion limit); so does
/// [`canonicalize`], leaving the error's wording to `serde_json`.
const MAX_DEPTH: usize = 127;

/// Reordering an object's members copies what was written inside it, so nested unordered
/// objects copy their contents once per level: at most this many times the input's size in
/// all before [`canonicalize`] gives up and leaves the bytes to `serde_json`'s tree, which
/// costs the same at any depth.
const MAX_COPY_FACTOR: usize = 8;

/// The canonical JSON of `input`: compact, object keys sorted (the last of duplicate keys
/// kept), strings and numbers spelled as `serde_json` writes them. `None` when `input` is not
/// JSON `serde_json` accepts, or when this pass cannot tell (the caller then parses with
/// `serde_json`, for its error or, should the two disagree, its tree).
pub(crate) fn canonicalize(input: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(input).ok()?;
    let mut writer = Canonicalizer {
        src: text.as_bytes(),
        at: 0,
        out: Vec::with_capacity(input.len()),
        members: Vec::new(),
        decoded_keys: Vec::new(),
        scratch: Vec::new(),
        order: Vec::new(),
        copy_budget: MAX_COPY_FACTOR.saturating_mul(input.len()).saturating_add(4096),
        depth: 0,
    };
    writer.skip_whitespace();
    writer.value()?;
    writer.skip_whitespace();
    if writer.at != writer.src.len() {
        return None;
    }
    // Only valid UTF-8 was copied, and escapes were written by serde_json.
    String::from_utf8(writer.out).ok()
}

/// One member of an object being written: its key (decoded) and where the member sits in the
/// output.
struct Member {
    key: KeyText,
    member: Range<usize>,
}

/// A key without escapes is its bytes in the input; a decoded one lives in `decoded_keys`.
#[derive(Clone, Copy)]
enum KeyText {
    Input(usize, usize),
    Decoded(usize),
}

struct Canonicalizer<'a> {
    src: &'a [u8],
    at: usize,
    out: Vec<u8>,
    /// The members of the objects being written, innermost last.
    members: Vec<Member>,
    decoded_keys: Vec<String>,
    scratch: Vec<u8>,
    /// The members of the object being reordered, by index, in key order.
    order: Vec<usize>,
    /// Bytes reordering may still copy (see [`MAX_COPY_FACTOR`]).
    copy_budget: usize,
    depth: usize,
}

impl Canonicalizer<'_> {
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.src.get(self.at) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Option<()> {
        match *self.src.get(self.at)? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => {
                let (content, escaped) = self.string_token()?;
                self.write_string(content, escaped)
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if !self.src[self.at..].starts_with(word) {
            return None;
        }
        self.at += word.len();
        self.out.extend_from_slice(word);
        Some(())
    }

    fn number(&mut self) -> Option<()> {
        let start = self.at;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.src.get(self.at) {
            self.at += 1;
        }
        let token = &self.src[start..self.at];
        // Up to 19 digits without a sign, a leading zero, a fraction or an exponent: a u64
        // that serde_json writes back as the same digits.
        let plain = token.len() <= 19 && token.iter().all(u8::is_ascii_digit) && (token.len() == 1 || token[0] != b'0');
        if plain {
            self.out.extend_from_slice(token);
            return Some(());
        }
        // Everything else is spelled as serde_json reads and writes it (floats, big and
        // negative integers); an invalid token fails here as in a whole-document parse.
        match serde_json::from_slice::<Value>(token).ok()? {
            number @ Value::Number(_) => serde_json::to_writer(&mut self.out, &number).ok(),
            _ => None,
        }
    }

    /// The string starting at the `"` under the cursor: its content's range in the input
    /// (without the quotes) and whether it holds escapes. The cursor moves past it.
    fn string_token(&mut self) -> Option<(Range<usize>, bool)> {
        let start = self.at + 1;
        let mut at = start;
        let mut escaped = false;
        loop {
            match *self.src.get(at)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    at += 2;
                }
                byte if byte < 0x20 => return None,
                _ => at += 1,
            }
        }
        self.at = at + 1;
        Some((start..at, escaped))
    }

    /// A string's content decoded (escapes resolved, as serde_json resolves them).
    fn decode(&self, content: &Range<usize>) -> Option<String> {
        serde_json::from_slice(&self.src[content.start - 1..content.end + 1]).ok()
    }

    fn write_string(&mut self, content: Range<usize>, escaped: bool) -> Option<()> {
        if escaped {
            let text = self.decode(&content)?;
            serde_json::to_writer(&mut self.out, &text).ok()
        } else {
            // Without escapes or control characters, serde_json writes the bytes as they are.
            self.out.push(b'"');
            self.out.extend_from_slice(&self.src[content]);
            self.out.push(b'"');
            Some(())
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn array(&mut self) -> Option<()> {
        self.enter()?;
        self.at += 1;
        self.out.push(b'[');
        self.skip_whitespace();
        if self.src.get(self.at) == Some(&b']') {
            self.at += 1;
        } else {
            loop {
                self.skip_whitespace();
                self.value()?;
                self.skip_whitespace();
                match *self.src.get(self.at)? {
                    b',' => self.out.push(b','),
                    b']' => break,
                    _ => return None,
                }
                self.at += 1;
            }
            self.at += 1;
        }
        self.out.push(b']');
        self.depth -= 1;
        Some(())
    }

    fn key_bytes(&self, key: KeyText) -> &[u8] {
        match key {
            KeyText::Input(start, end) => &self.src[start..end],
            KeyText::Decoded(index) => self.decoded_keys[index].as_bytes(),
        }
    }

    fn object(&mut self) -> Option<()> {
        self.enter()?;
        self.at += 1;
        let open = self.out.len();
        self.out.push(b'{');
        let first = self.members.len();
        let decoded_before = self.decoded_keys.len();
        self.skip_whitespace();
        if self.src.get(self.at) == Some(&b'}') {
            self.at += 1;
        } else {
            loop {
                self.skip_whitespace();
                if self.src.get(self.at) != Some(&b'"') {
                    return None;
                }
                let (content, escaped) = self.string_token()?;
                let member_start = self.out.len();
                let key = if escaped {
                    let text = self.decode(&content)?;
                    serde_json::to_writer(&mut self.out, &text).ok()?;
                    self.decoded_keys.push(text);
                    KeyText::Decoded(self.decoded_keys.len() - 1)
                } else {
                    self.write_string(content.clone(), false)?;
                    KeyText::Input(content.start, content.end)
                };
                self.skip_whitespace();
                if self.src.get(self.at) != Some(&b':') {
                    return None;
                }
                self.at += 1;
                self.out.push(b':');
                self.skip_whitespace();
                self.value()?;
                self.members.push(Member { key, member: member_start..self.out.len() });
                self.skip_whitespace();
                match *self.src.get(self.at)? {
                    b',' => self.out.push(b','),
                    b'}' => break,
                    _ => return None,
                }
                self.at += 1;
            }
            self.at += 1;
            self.sort_members(open, first)?;
        }
        self.members.truncate(first);
        self.decoded_keys.truncate(decoded_before);
        self.out.push(b'}');
        self.depth -= 1;
        Some(())
    }

    /// Rewrites the members written since `first` (after the `{` at `open`) in key order,
    /// keeping the last of equal keys, unless they are in order already.
    /// `None` when the copy budget is spent.
    fn sort_members(&mut self, open: usize, first: usize) -> Option<()> {
        let members = &self.members[first..];
        let in_order = members.windows(2).all(|pair| self.key_bytes(pair[0].key) < self.key_bytes(pair[1].key));
        if in_order {
            return Some(());
        }
        let region = self.out.len() - open - 1;
        self.copy_budget = self.copy_budget.checked_sub(region)?;
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend(first..self.members.len());
        // Stable: equal keys stay in input order, and the last of them wins.
        order.sort_by(|a, b| self.key_bytes(self.members[*a].key).cmp(self.key_bytes(self.members[*b].key)));
        order.dedup_by(|later, earlier| {
            let same = self.key_bytes(self.members[*later].key) == self.key_bytes(self.members[*earlier].key);
            if same {
                *earlier = *later;
            }
            same
        });
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.out[open + 1..]);
        self.out.truncate(open + 1);
        for (position, index) in order.iter().enumerate() {
            if position > 0 {
                self.out.push(b',');
            }
            let range = &self.members[*index].member;
            self.out.extend_from_slice(&self.scratch[range.start - open - 1..range.end - open - 1]);
        }
        self.order = order;
        Some(())
    }
}

/// The canonical JSON of an event indexed as nodes in document order: a container's node is
/// followed by its members (an object's as key, value, key, value …).
pub(crate) struct Tape<'a> {
    json: &'a str,
    nodes: Vec<Node>,
    /// The decoded text of strings that hold escapes.
    decoded: Vec<String>,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Null,
    Bool(bool),
    Number,
    /// A string without escapes: its text is its content in `json`.
    Str,
    /// A string with escapes: its text is `decoded[index]`.
    Escaped(u32),
    Array,
    Object,
}

#[derive(Clone, Copy, Debug)]
struct Node {
    kind: Kind,
    /// The value's bytes in `json` (a string's quotes, a container's brackets included).
    start: u32,
    end: u32,
    /// The index of the node after this value (and its members).
    next: u32,
    /// Elements or members of a container.
    len: u32,
}

impl<'a> Tape<'a> {
    /// Indexes canonical JSON as [`canonicalize`] writes it. `None` when it is not (or is
    /// larger than 4 GiB).
    pub(crate) fn new(json: &'a str) -> Option<Self> {
        u32::try_from(json.len()).ok()?;
        let mut tape = Tape { json, nodes: Vec::with_capacity(json.len() / 16), decoded: Vec::new() };
        let end = tape.node(0)?;
        (end == json.len()).then_some(tape)
    }

    pub(crate) fn root(&self) -> TapeRef<'_> {
        TapeRef { tape: self, index: 0 }
    }

    /// Reads the value at byte `at`; returns where it ends.
    fn node(&mut self, at: usize) -> Option<usize> {
        let bytes = self.json.as_bytes();
        let index = self.nodes.len();
        self.nodes.push(Node { kind: Kind::Null, start: at as u32, end: 0, next: 0, len: 0 });
        let (kind, end, len) = match *bytes.get(at)? {
            b'n' => (Kind::Null, at + 4, 0),
            b't' => (Kind::Bool(true), at + 4, 0),
            b'f' => (Kind::Bool(false), at + 5, 0),
            b'"' => {
                let (end, escaped) = string_end(bytes, at + 1)?;
                let kind = if escaped {
                    self.decoded.push(serde_json::from_str(&self.json[at..end]).ok()?);
                    Kind::Escaped(u32::try_from(self.decoded.len() - 1).ok()?)
                } else {
                    Kind::Str
                };
                (kind, end, 0)
            }
            b'[' | b'{' => {
                let object = bytes[at] == b'{';
                let close = if object { b'}' } else { b']' };
                let mut at = at + 1;
                let mut len = 0u32;
                if bytes.get(at) != Some(&close) {
                    loop {
                        if object {
                            at = self.node(at)?;
                            if bytes.get(at) != Some(&b':') {
                                return None;
                            }
                            at += 1;
                        }
                        at = self.node(at)?;
                        len += 1;
                        match bytes.get(at)? {
                            b',' => at += 1,
                            byte if *byte == close => break,
                            _ => return None,
                        }
                    }
                }
                (if object { Kind::Object } else { Kind::Array }, at + 1, len)
            }
            _ => {
                let mut end = at;
                while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = bytes.get(end) {
                    end += 1;
                }
                if end == at {
                    return None;
                }
                (Kind::Number, end, 0)
            }
        };
        if end > bytes.len() {
            return None;
        }
        let next = u32::try_from(self.nodes.len()).ok()?;
        self.nodes[index] = Node { kind, start: at as u32, end: end as u32, next, len };
        Some(end)
    }
}

/// Just past the `"` closing the string whose content starts at `at`, and whether it held an
/// escape.
fn string_end(bytes: &[u8], mut at: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        let found = at + memchr::memchr2(b'"', b'\\', bytes.get(at..)?)?;
        if bytes[found] == b'"' {
            return Some((found + 1, escaped));
        }
        escaped = true;
        at = found + 2;
    }
}

/// A value in a [`Tape`].
#[derive(Clone, Copy)]
pub(crate) struct TapeRef<'a> {
    tape: &'a Tape<'a>,
    index: u32,
}

impl<'a> TapeRef<'a> {
    fn node(self) -> Node {
        self.tape.nodes[self.index as usize]
    }

    /// Where the value's canonical JSON sits in the tape's JSON.
    pub(crate) fn span(self) -> Range<usize> {
        let node = self.node();
        node.start as usize..node.end as usize
    }

    /// The value's canonical JSON.
    pub(crate) fn json(self) -> &'a str {
        &self.tape.json[self.span()]
    }

    /// The value as a `serde_json::Value`, parsed from its canonical JSON.
    pub(crate) fn to_value(self) -> Value {
        // A tape indexes JSON that serde_json wrote or checked: every value's span parses.
        serde_json::from_str(self.json()).expect("a tape's values are valid JSON")
    }
}

/// The elements of an array, or the keys and values of an object, in a [`Tape`].
pub(crate) struct Children<'a> {
    tape: &'a Tape<'a>,
    next: u32,
    left: u32,
}

impl<'a> Iterator for Children<'a> {
    type Item = TapeRef<'a>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = TapeRef { tape: self.tape, index: self.next };
        self.next = item.node().next;
        Some(item)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

impl ExactSizeIterator for Children<'_> {}

pub(crate) struct Members<'a>(Children<'a>);

impl ExactSizeIterator for Members<'_> {}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, TapeRef<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        let key = self.0.next()?;
        let value = self.0.next()?;
        Some((key.as_str().unwrap_or_default(), value))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.0.left as usize / 2;
        (left, Some(left))
    }
}

impl<'a> TapeRef<'a> {
    fn children(self, kind_matches: bool, per_item: u32) -> Option<Children<'a>> {
        let node = self.node();
        kind_matches.then(|| Children { tape: self.tape, next: self.index + 1, left: node.len * per_item })
    }
}

impl<'a> JsonView<'a> for TapeRef<'a> {
    type Items = Children<'a>;
    type Members = Members<'a>;

    fn get(self, key: &str) -> Option<Self> {
        // Keys are sorted and unique: the first key past `key` ends the search.
        for (name, value) in self.members()? {
            match name.cmp(key) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Some(value),
                std::cmp::Ordering::Greater => return None,
            }
        }
        None
    }
    fn as_str(self) -> Option<&'a str> {
        let node = self.node();
        match node.kind {
            Kind::Str => Some(&self.tape.json[node.start as usize + 1..node.end as usize - 1]),
            Kind::Escaped(index) => Some(&self.tape.decoded[index as usize]),
            _ => None,
        }
    }
    fn as_bool(self) -> Option<bool> {
        match self.node().kind {
            Kind::Bool(value) => Some(value),
            _ => None,
        }
    }
    fn as_number(self) -> Option<serde_json::Number> {
        match self.node().kind {
            Kind::Number => serde_json::from_str(self.json()).ok(),
            _ => None,
        }
    }
    fn is_null(self) -> bool {
        matches!(self.node().kind, Kind::Null)
    }
    fn is_object(self) -> bool {
        matches!(self.node().kind, Kind::Object)
    }
    fn items(self) -> Option<Self::Items> {
        self.children(matches!(self.node().kind, Kind::Array), 1)
    }
    fn members(self) -> Option<Self::Members> {
        self.children(matches!(self.node().kind, Kind::Object), 2).map(Members)
    }
    fn size(self) -> Option<usize> {
        let node = self.node();
        matches!(node.kind, Kind::Array | Kind::Object).then_some(node.len as usize)
    }
    fn with_value<R>(self, read: impl FnOnce(&Value) -> R) -> R {
        read(&self.to_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oracle(input: &str) -> Option<String> {
        let value: Value = serde_json::from_str(input).ok()?;
        Some(String::from_utf8(crate::canonical_json(&value)).unwrap())
    }

    #[test]
    fn canonical_form_matches_serde_json_on_awkward_input() {
        let cases = [
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":2,"b":{"z":[],"y":{}},"a":3}"#,
            r#" { "k\u00e9y" : "v\/al\n\u0001" , "kéx" : -0 , "\"q" : 1.50e3 } "#,
            r#"[1e400]"#,
            r#"[18446744073709551615, 18446744073709551616, -9223372036854775808, -9223372036854775809]"#,
            r#"[0.1, 1E2, -1.0e-2, 00]"#,
            r#"{"a":"\ud83d\ude00","b":"\ud800"}"#,
            r#"[true,false,null,"x" ]  "#,
            r#"{"a":1,}"#,
            r#"[1,]"#,
            r#"{"a" 1}"#,
            "\"tab\tinside\"",
            r#"[tru]"#,
            r#"{}"#,
            r#"[]"#,
            "",
            "  ",
            r#"{"a":1} x"#,
            r#"{"z":1,"y":2,"x":{"c":1,"b":2,"a":[{"q":1,"p":2}]}}"#,
        ];
        for input in cases {
            assert_eq!(canonicalize(input.as_bytes()), oracle(input), "{input}");
        }
        let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        for depth in [126, 127, 128, 129] {
            assert_eq!(canonicalize(deep(depth).as_bytes()), oracle(&deep(depth)), "depth {depth}");
        }
        assert_eq!(canonicalize(b"\"\xff\""), None);
    }

    /// Unordered objects nested deep copy their contents once per level: past the budget the
    /// one-pass writer leaves the bytes to serde_json (whose tree gives the same canonical form).
    #[test]
    fn deep_unordered_nesting_stays_within_the_copy_budget() {
        let filler = "x".repeat(1000);
        let nested = |depth: usize| {
            let mut text = format!("\"{filler}\"");
            for _ in 0..depth {
                text = format!(r#"{{"b":{text},"a":1}}"#);
            }
            text
        };
        let shallow = nested(4);
        assert_eq!(canonicalize(shallow.as_bytes()), oracle(&shallow));
        let deep = nested(100);
        assert_eq!(canonicalize(deep.as_bytes()), None);
        let event = crate::parse_event(deep.as_bytes()).unwrap_err();
        assert_eq!(event.field, "eventTime", "{event}");
    }

    #[test]
    fn tape_reads_what_serde_json_reads() {
        let input = r#"{"b":[1,"two",{"x":null,"w":true}],"a":{"k\"ey":"va\\lue","e":[]},"c":-1.5}"#;
        let canonical = canonicalize(input.as_bytes()).unwrap();
        let tape = Tape::new(&canonical).unwrap();
        let value: Value = serde_json::from_str(input).unwrap();
        let root = tape.root();
        assert_eq!(root.size(), Some(3));
        let keys: Vec<&str> = root.members().unwrap().map(|(key, _)| key).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(root.get("a").and_then(|a| a.get("k\"ey")).and_then(JsonView::as_str), Some("va\\lue"));
        assert_eq!(root.get("c").and_then(JsonView::as_number), value["c"].as_number().cloned());
        let items: Vec<TapeRef<'_>> = root.get("b").unwrap().items().unwrap().collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].as_str(), Some("two"));
        assert_eq!(items[2].get("w").and_then(JsonView::as_bool), Some(true));
        assert!(items[2].get("x").unwrap().is_null());
        assert!(items[2].get("v").is_none());
        assert_eq!(root.get("b").unwrap().with_value(Clone::clone), value["b"]);
        assert_eq!(root.get("b").unwrap().json(), r#"[1,"two",{"w":true,"x":null}]"#);
    }

    /// Writes `value` as JSON the way a client might: keys in any order (some twice, the
    /// first time with another value), strings with needless escapes, numbers and whitespace
    /// spelled variously. `choice` is a stream of pseudo-random numbers.
    fn spell(value: &Value, choice: &mut dyn FnMut(u32) -> u32, out: &mut String) {
        let space = |choice: &mut dyn FnMut(u32) -> u32, out: &mut String| {
            out.push_str(["", " ", "\n  ", "\t", "\r\n"][choice(5) as usize]);
        };
        match value {
            Value::Object(members) => {
                let mut order: Vec<(&String, &Value)> = members.iter().collect();
                match choice(3) {
                    0 => order.reverse(),
                    1 => {
                        let half = order.len() / 2;
                        order.rotate_left(half);
                    }
                    _ => {}
                }
                out.push('{');
                let mut first = true;
                for (key, member) in order {
                    let entry = |value: &Value, choice: &mut dyn FnMut(u32) -> u32, out: &mut String| {
                        space(choice, out);
                        spell_string(key, choice, out);
                        space(choice, out);
                        out.push(':');
                        space(choice, out);
                        spell(value, choice, out);
                    };
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    if choice(6) == 0 {
                        entry(&Value::Bool(true), choice, out);
                        out.push(',');
                    }
                    entry(member, choice, out);
                }
                space(choice, out);
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    space(choice, out);
                    spell(item, choice, out);
                }
                space(choice, out);
                out.push(']');
            }
            Value::String(text) => spell_string(text, choice, out),
            Value::Number(number) => match (number.as_i64(), choice(3)) {
                (Some(n), 0) => out.push_str(&format!("{n}.0")),
                (Some(n), 1) if n >= 0 => out.push_str(&format!("{n}e0")),
                _ => out.push_str(&number.to_string()),
            },
            other => out.push_str(&other.to_string()),
        }
    }

    fn spell_string(text: &str, choice: &mut dyn FnMut(u32) -> u32, out: &mut String) {
        out.push('"');
        for ch in text.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' if choice(2) == 0 => out.push_str("\\/"),
                ch if (ch as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", ch as u32)),
                ch if choice(4) == 0 => {
                    let mut units = [0u16; 2];
                    for unit in ch.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04X}"));
                    }
                }
                ch => out.push(ch),
            }
        }
        out.push('"');
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let text = "[\\[\\]{}\\\\\"a-c/:,\\u{1}\\u{1f}é€😀 ]{0,6}";
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            any::<f64>().prop_filter("finite", |n| n.is_finite()).prop_map(Value::from),
            text.prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(text, inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        /// However a value is spelled, the one-pass canonical form is what serde_json's tree of
        /// those bytes gives, and the tape reads it back as that tree.
        #[test]
        fn canonical_form_of_any_spelling_is_serde_jsons(value in json_value(), seed in proptest::prelude::any::<u64>()) {
            let mut state = seed | 1;
            let mut choice = |n: u32| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % u64::from(n)) as u32
            };
            let mut text = String::new();
            spell(&value, &mut choice, &mut text);
            let expected = oracle(&text);
            proptest::prop_assert!(expected.is_some(), "not JSON: {}", text);
            let canonical = canonicalize(text.as_bytes());
            proptest::prop_assert_eq!(&canonical, &expected, "{}", text);
            let canonical = canonical.unwrap();
            let tape = Tape::new(&canonical).unwrap();
            let read: Value = serde_json::from_str(&canonical).unwrap();
            proptest::prop_assert_eq!(tape.root().with_value(Clone::clone), read.clone());
            proptest::prop_assert!(same(tape.root(), &read), "{}", canonical);
        }
    }

    /// Whether the tape's view of a value answers every question as the tree does.
    fn same(view: TapeRef<'_>, value: &Value) -> bool {
        let scalars = view.as_str() == value.as_str()
            && view.as_bool() == value.as_bool()
            && view.as_number().as_ref() == value.as_number()
            && view.is_null() == value.is_null()
            && view.is_object() == value.is_object()
            && view.size() == value.size();
        let items = match (view.items(), value.as_array()) {
            (Some(items), Some(expected)) => items.zip(expected).all(|(item, expected)| same(item, expected)),
            (None, None) => true,
            _ => false,
        };
        let members = match (view.members(), value.as_object()) {
            (Some(members), Some(expected)) => {
                members.zip(expected).all(|((key, member), (expected_key, expected))| {
                    key == expected_key
                        && same(member, expected)
                        && view.get(key).is_some_and(|got| same(got, expected))
                })
            }
            (None, None) => true,
            _ => false,
        };
        scalars && items && members
    }
}
