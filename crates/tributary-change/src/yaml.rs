//! Limits on YAML text, checked before the YAML parser sees it.
//!
//! The parser (libyaml, through `serde_yaml_ng`) takes time quadratic in the depth of flow
//! collections: once a simple key has been used, every token walks the whole stack of
//! open `[` and `{` (80,000 unclosed `[` after `key: ` cost 7 s). And aliases expand: a
//! few lines of nested anchors ("billion laughs"), or one large anchor named many times,
//! become more values than memory holds. [`check_yaml_limits`] refuses both, in time
//! linear in the text, naming the line and column.
//!
//! The nesting check follows libyaml's scanner token by token (indentation, simple keys,
//! quoted, plain and block scalars), so it counts exactly the flow and block levels the
//! parser would open. Where libyaml would stop with a syntax error the check stops too and
//! lets the parser report it: nothing after that point is parsed.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};

/// Flow collections (`[..]`, `{..}`) nest at most this deep.
pub const MAX_YAML_FLOW_DEPTH: usize = 64;

/// Block collections (nesting by indentation) nest at most this deep.
pub const MAX_YAML_BLOCK_DEPTH: usize = 64;

/// A document with aliases expands to at most this many values (scalars, sequences and
/// mappings, each alias counted as what it stands for). Documents without aliases are
/// bounded by their length and not counted.
pub const MAX_YAML_VALUES: usize = 500_000;

/// Where YAML text goes past a limit, and which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct YamlLimitError {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

/// Checks the nesting of `text` and, when it uses aliases, the number of values it expands to.
/// Text the parser would refuse anyway passes, as far as its first syntax error.
pub fn check_yaml_limits(text: &str) -> Result<(), YamlLimitError> {
    let mut scanner = Scanner::new(text);
    match scanner.scan() {
        Ok(()) | Err(Halt::SyntaxError) => {}
        Err(Halt::Limit(error)) => return Err(error),
    }
    if scanner.aliases > 0 { count_values(text) } else { Ok(()) }
}

/// The deepest flow and block nesting the scan saw, whether it went to the end or stopped
/// at a limit or a syntax error.
#[cfg(test)]
pub(crate) fn scanned_depths(text: &str) -> (usize, usize) {
    let mut scanner = Scanner::new(text);
    let _ = scanner.scan();
    (scanner.max_flow_level, scanner.max_block_level)
}

/// Why the scan stopped early.
#[derive(Debug)]
enum Halt {
    Limit(YamlLimitError),
    /// libyaml stops here with an error of its own.
    SyntaxError,
}

/// The possible simple key of the block context: a token that becomes a mapping key (and
/// opens a block mapping at its column) if `:` follows on the same line.
#[derive(Clone, Copy, Default)]
struct SimpleKey {
    possible: bool,
    /// At the indentation of the current block mapping: it must be a key.
    required: bool,
    index: usize,
    line: usize,
    column: usize,
}

/// libyaml's scanner state, as far as nesting depends on it. Positions count characters,
/// as libyaml's marks do. Simple keys inside flow collections are not tracked: they never
/// open a block or raise an error.
struct Scanner {
    chars: Vec<char>,
    index: usize,
    line: usize,
    column: usize,
    flow_level: usize,
    /// Column of the innermost block collection, -1 at the top.
    indent: isize,
    indents: Vec<isize>,
    simple_key_allowed: bool,
    block_key: SimpleKey,
    aliases: usize,
    /// The deepest flow and block nesting seen (for tests that compare with the parser).
    max_flow_level: usize,
    max_block_level: usize,
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// `'\0'` stands for the end of the text.
fn is_breakz(c: char) -> bool {
    is_break(c) || c == '\0'
}

fn is_blankz(c: char) -> bool {
    is_blank(c) || is_breakz(c)
}

fn is_alpha(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Characters libyaml's reader accepts; it stops with an error at any other.
fn is_printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

fn is_uri_char(c: char, verbatim: bool) -> bool {
    is_alpha(c) || ";/?:@&=+$.%!~*'()".contains(c) || (verbatim && ",[]".contains(c))
}

impl Scanner {
    fn new(text: &str) -> Self {
        // The reader refuses the first character outside YAML's printable set: the scanner
        // never gets past it.
        let chars = text.chars().take_while(|c| is_printable(*c)).collect();
        Self {
            chars,
            index: 0,
            line: 0,
            column: 0,
            flow_level: 0,
            indent: -1,
            indents: Vec::new(),
            simple_key_allowed: true,
            block_key: SimpleKey::default(),
            aliases: 0,
            max_flow_level: 0,
            max_block_level: 0,
        }
    }

    fn at(&self, offset: usize) -> char {
        self.chars.get(self.index + offset).copied().unwrap_or('\0')
    }

    fn skip(&mut self) {
        self.index += 1;
        self.column += 1;
    }

    fn skip_line(&mut self) {
        if self.at(0) == '\r' && self.at(1) == '\n' {
            self.index += 2;
        } else if is_break(self.at(0)) {
            self.index += 1;
        } else {
            return;
        }
        self.column = 0;
        self.line += 1;
    }

    fn limit(&self, line: usize, column: usize, message: String) -> Halt {
        Halt::Limit(YamlLimitError { line: line + 1, column: column + 1, message })
    }

    fn document_indicator(&self) -> bool {
        self.column == 0
            && ((self.at(0) == '-' && self.at(1) == '-' && self.at(2) == '-')
                || (self.at(0) == '.' && self.at(1) == '.' && self.at(2) == '.'))
            && is_blankz(self.at(3))
    }

    fn scan(&mut self) -> Result<(), Halt> {
        loop {
            self.scan_to_next_token();
            self.stale_simple_keys()?;
            self.unroll_indent(self.column as isize);
            let c = self.at(0);
            let next = self.at(1);
            if self.index >= self.chars.len() {
                return Ok(());
            }
            if self.column == 0 && c == '%' {
                self.unroll_indent(-1);
                self.remove_simple_key()?;
                self.simple_key_allowed = false;
                while !is_breakz(self.at(0)) {
                    self.skip();
                }
                self.skip_line();
            } else if self.document_indicator() {
                self.unroll_indent(-1);
                self.remove_simple_key()?;
                self.simple_key_allowed = false;
                self.index += 3;
                self.column += 3;
            } else if c == '[' || c == '{' {
                self.save_simple_key()?;
                self.flow_level += 1;
                self.max_flow_level = self.max_flow_level.max(self.flow_level);
                if self.flow_level > MAX_YAML_FLOW_DEPTH {
                    return Err(self.limit(
                        self.line,
                        self.column,
                        format!(
                            "flow collections (`[`, `{{`) nest deeper than {MAX_YAML_FLOW_DEPTH} levels; at most {MAX_YAML_FLOW_DEPTH} are accepted"
                        ),
                    ));
                }
                self.simple_key_allowed = true;
                self.skip();
            } else if c == ']' || c == '}' {
                self.remove_simple_key()?;
                self.flow_level = self.flow_level.saturating_sub(1);
                self.simple_key_allowed = false;
                self.skip();
            } else if c == ',' {
                self.remove_simple_key()?;
                self.simple_key_allowed = true;
                self.skip();
            } else if c == '-' && is_blankz(next) {
                if self.flow_level == 0 {
                    if !self.simple_key_allowed {
                        return Err(Halt::SyntaxError);
                    }
                    self.roll_indent(self.line, self.column)?;
                }
                self.remove_simple_key()?;
                self.simple_key_allowed = true;
                self.skip();
            } else if c == '?' && (self.flow_level > 0 || is_blankz(next)) {
                if self.flow_level == 0 {
                    if !self.simple_key_allowed {
                        return Err(Halt::SyntaxError);
                    }
                    self.roll_indent(self.line, self.column)?;
                }
                self.remove_simple_key()?;
                self.simple_key_allowed = self.flow_level == 0;
                self.skip();
            } else if c == ':' && (self.flow_level > 0 || is_blankz(next)) {
                self.fetch_value()?;
            } else if c == '*' || c == '&' {
                if c == '*' {
                    self.aliases += 1;
                }
                self.save_simple_key()?;
                self.simple_key_allowed = false;
                self.skip();
                let start = self.index;
                while is_alpha(self.at(0)) {
                    self.skip();
                }
                let end = self.at(0);
                if self.index == start || !(is_blankz(end) || "?:,]}%@`".contains(end)) {
                    return Err(Halt::SyntaxError);
                }
            } else if c == '!' {
                self.save_simple_key()?;
                self.simple_key_allowed = false;
                self.scan_tag()?;
            } else if (c == '|' || c == '>') && self.flow_level == 0 {
                self.remove_simple_key()?;
                self.simple_key_allowed = true;
                self.scan_block_scalar()?;
            } else if c == '\'' || c == '"' {
                self.save_simple_key()?;
                self.simple_key_allowed = false;
                self.scan_flow_scalar(c == '\'')?;
            } else if !(is_blankz(c) || "-?:,[]{}#&*!|>'\"%@`".contains(c))
                || (c == '-' && !is_blank(next))
                || (self.flow_level == 0 && (c == '?' || c == ':') && !is_blankz(next))
            {
                self.save_simple_key()?;
                self.simple_key_allowed = false;
                self.scan_plain_scalar()?;
            } else {
                return Err(Halt::SyntaxError);
            }
        }
    }

    fn scan_to_next_token(&mut self) {
        loop {
            if self.column == 0 && self.at(0) == '\u{FEFF}' {
                self.skip();
            }
            while self.at(0) == ' ' || ((self.flow_level > 0 || !self.simple_key_allowed) && self.at(0) == '\t') {
                self.skip();
            }
            if self.at(0) == '#' {
                while !is_breakz(self.at(0)) {
                    self.skip();
                }
            }
            if !is_break(self.at(0)) {
                return;
            }
            self.skip_line();
            if self.flow_level == 0 {
                self.simple_key_allowed = true;
            }
        }
    }

    /// A block-context key stops being possible past its line or 1024 characters on.
    fn stale_simple_keys(&mut self) -> Result<(), Halt> {
        let key = &mut self.block_key;
        if key.possible && (key.line < self.line || key.index + 1024 < self.index) {
            if key.required {
                return Err(Halt::SyntaxError);
            }
            key.possible = false;
        }
        Ok(())
    }

    fn save_simple_key(&mut self) -> Result<(), Halt> {
        if self.flow_level == 0 && self.simple_key_allowed {
            self.remove_simple_key()?;
            self.block_key = SimpleKey {
                possible: true,
                required: self.indent == self.column as isize,
                index: self.index,
                line: self.line,
                column: self.column,
            };
        }
        Ok(())
    }

    fn remove_simple_key(&mut self) -> Result<(), Halt> {
        if self.flow_level == 0 {
            if self.block_key.possible && self.block_key.required {
                return Err(Halt::SyntaxError);
            }
            self.block_key.possible = false;
        }
        Ok(())
    }

    fn fetch_value(&mut self) -> Result<(), Halt> {
        if self.flow_level > 0 {
            self.simple_key_allowed = false;
        } else if self.block_key.possible {
            let key = self.block_key;
            self.roll_indent(key.line, key.column)?;
            self.block_key.possible = false;
            self.simple_key_allowed = false;
        } else {
            if !self.simple_key_allowed {
                return Err(Halt::SyntaxError);
            }
            self.roll_indent(self.line, self.column)?;
            self.simple_key_allowed = true;
        }
        self.skip();
        Ok(())
    }

    /// A block collection opens at `column` if it is deeper than the current one.
    fn roll_indent(&mut self, line: usize, column: usize) -> Result<(), Halt> {
        if self.flow_level == 0 && self.indent < column as isize {
            self.indents.push(self.indent);
            self.indent = column as isize;
            self.max_block_level = self.max_block_level.max(self.indents.len());
            if self.indents.len() > MAX_YAML_BLOCK_DEPTH {
                return Err(self.limit(
                    line,
                    column,
                    format!(
                        "block collections (nested by indentation) nest deeper than {MAX_YAML_BLOCK_DEPTH} levels; at most {MAX_YAML_BLOCK_DEPTH} are accepted"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn unroll_indent(&mut self, column: isize) {
        if self.flow_level > 0 {
            return;
        }
        while self.indent > column {
            // The stack holds one entry per open block collection.
            self.indent = self.indents.pop().unwrap_or(-1);
        }
    }

    fn scan_tag(&mut self) -> Result<(), Halt> {
        if self.at(1) == '<' {
            self.skip();
            self.skip();
            while is_uri_char(self.at(0), true) {
                self.skip();
            }
            if self.at(0) != '>' {
                return Err(Halt::SyntaxError);
            }
            self.skip();
        } else {
            // `!`, `!!suffix`, `!handle!suffix`, `!suffix`: a handle is made of URI characters too.
            self.skip();
            while is_uri_char(self.at(0), false) {
                self.skip();
            }
        }
        let end = self.at(0);
        if is_blankz(end) || (self.flow_level > 0 && end == ',') { Ok(()) } else { Err(Halt::SyntaxError) }
    }

    fn scan_flow_scalar(&mut self, single: bool) -> Result<(), Halt> {
        let quote = if single { '\'' } else { '"' };
        self.skip();
        loop {
            if self.document_indicator() || self.index >= self.chars.len() {
                return Err(Halt::SyntaxError);
            }
            while !is_blankz(self.at(0)) {
                let c = self.at(0);
                if single && c == '\'' && self.at(1) == '\'' {
                    self.skip();
                    self.skip();
                } else if c == quote {
                    break;
                } else if !single && c == '\\' && is_break(self.at(1)) {
                    self.skip();
                    self.skip_line();
                    break;
                } else if !single && c == '\\' {
                    // The escaped character; the digits of `\x`, `\u` and `\U` read as
                    // ordinary characters after it.
                    self.skip();
                    self.skip();
                } else {
                    self.skip();
                }
            }
            if self.at(0) == quote {
                self.skip();
                return Ok(());
            }
            while is_blank(self.at(0)) || is_break(self.at(0)) {
                if is_blank(self.at(0)) { self.skip() } else { self.skip_line() }
            }
        }
    }

    fn scan_plain_scalar(&mut self) -> Result<(), Halt> {
        let indent = self.indent + 1;
        let mut leading_blanks = false;
        loop {
            if self.document_indicator() || self.at(0) == '#' {
                break;
            }
            while !is_blankz(self.at(0)) {
                let (c, next) = (self.at(0), self.at(1));
                if self.flow_level > 0 && c == ':' && ",?[]{}".contains(next) {
                    return Err(Halt::SyntaxError);
                }
                if (c == ':' && is_blankz(next)) || (self.flow_level > 0 && ",[]{}".contains(c)) {
                    break;
                }
                leading_blanks = false;
                self.skip();
            }
            if !(is_blank(self.at(0)) || is_break(self.at(0))) {
                break;
            }
            while is_blank(self.at(0)) || is_break(self.at(0)) {
                if is_blank(self.at(0)) {
                    if leading_blanks && (self.column as isize) < indent && self.at(0) == '\t' {
                        return Err(Halt::SyntaxError);
                    }
                    self.skip();
                } else {
                    self.skip_line();
                    leading_blanks = true;
                }
            }
            if self.flow_level == 0 && (self.column as isize) < indent {
                break;
            }
        }
        if leading_blanks {
            self.simple_key_allowed = true;
        }
        Ok(())
    }

    fn scan_block_scalar(&mut self) -> Result<(), Halt> {
        self.skip();
        let mut increment = 0;
        let digit = |c: char| c.to_digit(10).map(|digit| digit as isize);
        if self.at(0) == '+' || self.at(0) == '-' {
            self.skip();
            if let Some(value) = digit(self.at(0)) {
                if value == 0 {
                    return Err(Halt::SyntaxError);
                }
                increment = value;
                self.skip();
            }
        } else if let Some(value) = digit(self.at(0)) {
            if value == 0 {
                return Err(Halt::SyntaxError);
            }
            increment = value;
            self.skip();
            if self.at(0) == '+' || self.at(0) == '-' {
                self.skip();
            }
        }
        while is_blank(self.at(0)) {
            self.skip();
        }
        if self.at(0) == '#' {
            while !is_breakz(self.at(0)) {
                self.skip();
            }
        }
        if !is_breakz(self.at(0)) {
            return Err(Halt::SyntaxError);
        }
        self.skip_line();
        let mut indent = 0;
        if increment > 0 {
            indent = if self.indent >= 0 { self.indent + increment } else { increment };
        }
        self.block_scalar_breaks(&mut indent)?;
        while self.column as isize == indent && self.index < self.chars.len() {
            while !is_breakz(self.at(0)) {
                self.skip();
            }
            self.skip_line();
            self.block_scalar_breaks(&mut indent)?;
        }
        Ok(())
    }

    /// Empty lines and indentation before a block scalar's next line; settles the scalar's
    /// indentation (`indent` 0: not known yet) from the first non-empty line.
    fn block_scalar_breaks(&mut self, indent: &mut isize) -> Result<(), Halt> {
        let mut max_indent = 0;
        loop {
            while (*indent == 0 || (self.column as isize) < *indent) && self.at(0) == ' ' {
                self.skip();
            }
            max_indent = max_indent.max(self.column as isize);
            if (*indent == 0 || (self.column as isize) < *indent) && self.at(0) == '\t' {
                return Err(Halt::SyntaxError);
            }
            if !is_break(self.at(0)) {
                break;
            }
            self.skip_line();
        }
        if *indent == 0 {
            *indent = max_indent.max(self.indent + 1).max(1);
        }
        Ok(())
    }
}

/// Expands the document as the deserializer would, counting values, and stops past
/// [`MAX_YAML_VALUES`]. Any other problem is left to the real deserialization.
fn count_values(text: &str) -> Result<(), YamlLimitError> {
    let budget = Cell::new(MAX_YAML_VALUES);
    let exceeded = Cell::new(false);
    let counter = Counter { budget: &budget, exceeded: &exceeded };
    let Err(error) = counter.deserialize(serde_yaml_ng::Deserializer::from_str(text)) else { return Ok(()) };
    if !exceeded.get() {
        return Ok(());
    }
    let (line, column) = error.location().map_or((1, 1), |location| (location.line(), location.column()));
    Err(YamlLimitError {
        line,
        column,
        message: format!(
            "the document expands through aliases to more than {MAX_YAML_VALUES} values; at most {MAX_YAML_VALUES} are accepted"
        ),
    })
}

/// Visits every value, through aliases, spending one unit of `budget` on each.
#[derive(Clone, Copy)]
struct Counter<'a> {
    budget: &'a Cell<usize>,
    exceeded: &'a Cell<bool>,
}

impl Counter<'_> {
    fn spend<E: de::Error>(self) -> Result<(), E> {
        match self.budget.get().checked_sub(1) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => {
                self.exceeded.set(true);
                Err(E::custom("too many values"))
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for Counter<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Counter<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.spend()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.spend()
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.spend()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.spend()
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.spend()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.spend()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.spend()
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        self.spend()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.spend()?;
        self.deserialize(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.spend()?;
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.spend()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.spend()?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        self.spend()?;
        let ((), variant) = data.variant_seed(self)?;
        variant.newtype_variant_seed(self)
    }
}
