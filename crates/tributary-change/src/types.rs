//! Type spellings to [`DataType`], and how an old type relates to a new one.
//!
//! Producers spell the same type many ways (`int4`, `INTEGER`, `int`), so every comparison
//! goes through [`normalize_type`] first: a change of spelling alone must never be reported.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A column type reduced to its family and the parameters that decide what values fit.
///
/// `None` parameters mean the spelling did not give one; [`compare_types`] documents the
/// default it assumes for each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "SCREAMING_SNAKE_CASE", rename_all_fields = "camelCase")]
pub enum DataType {
    Boolean,
    /// `bits` is 8, 16, 24, 32, 64 or 128.
    Integer {
        bits: u16,
        signed: bool,
    },
    /// `bits` is 16, 32 or 64.
    Float {
        bits: u16,
    },
    /// `precision: None` is an unbounded `NUMERIC` (PostgreSQL). `scale` is set whenever `precision` is.
    Decimal {
        precision: Option<u32>,
        scale: Option<u32>,
    },
    /// `max_length: None` is unbounded (`STRING`, `TEXT`, bare `VARCHAR`).
    String {
        max_length: Option<u64>,
    },
    Binary {
        max_length: Option<u64>,
    },
    Date,
    /// `precision` counts fractional-second digits.
    Time {
        precision: Option<u32>,
    },
    /// Without time zone: `TIMESTAMP`, `TIMESTAMP_NTZ`, `DATETIME`.
    Timestamp {
        precision: Option<u32>,
    },
    /// An instant: `TIMESTAMPTZ`, `TIMESTAMP WITH TIME ZONE`, `TIMESTAMP_TZ`, `TIMESTAMP_LTZ`.
    TimestampTz {
        precision: Option<u32>,
    },
    Interval,
    Uuid,
    Json,
    /// Members in declared order. Empty when the spelling is a bare `STRUCT`/`RECORD` whose
    /// members are listed elsewhere (as nested schema fields).
    Struct {
        fields: Vec<StructField>,
    },
    Array {
        element: Box<DataType>,
    },
    Map {
        key: Box<DataType>,
        value: Box<DataType>,
    },
    /// The element of a bare `ARRAY` or `MAP`: unknown, so it compares equal to anything.
    Unspecified,
    /// A type we do not model (`GEOGRAPHY`, `VARIANT`, ...), kept as its normalised spelling:
    /// words uppercased, single spaces, quoted parts as written.
    Other {
        name: String,
    },
}

/// One member of a [`DataType::Struct`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StructField {
    /// As written: member names keep their case.
    pub name: String,
    pub data_type: DataType,
    /// From a `NOT NULL` / `NULL` suffix in the spelling; `None` when it says nothing.
    pub nullable: Option<bool>,
}

/// How a new type relates to the old one, from the point of view of the values it holds.
///
/// Ordered by severity, so combining the relations of several parts is `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TypeRelation {
    /// Equal after normalisation: a spelling change at most.
    Same,
    /// Every old value fits the new type without loss.
    Widened,
    /// Some old values lose range or precision.
    Narrowed,
    /// A different kind of value (STRING and INT, DATE and STRING, `T` and `ARRAY<T>`).
    FamilyChanged,
}

impl TypeRelation {
    pub fn as_str(self) -> &'static str {
        match self {
            TypeRelation::Same => "SAME",
            TypeRelation::Widened => "WIDENED",
            TypeRelation::Narrowed => "NARROWED",
            TypeRelation::FamilyChanged => "FAMILY_CHANGED",
        }
    }
}

impl fmt::Display for TypeRelation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fractional-second digits assumed when a time or timestamp spelling gives none: microseconds,
/// the default of PostgreSQL, Spark and BigQuery (Snowflake's default of 9 is not assumed).
const DEFAULT_TIME_PRECISION: u32 = 6;

impl DataType {
    /// The family name, as used in serialised form (`INTEGER`, `DECIMAL`, `STRUCT`, ...).
    pub fn family_name(&self) -> &'static str {
        match self {
            DataType::Boolean => "BOOLEAN",
            DataType::Integer { .. } => "INTEGER",
            DataType::Float { .. } => "FLOAT",
            DataType::Decimal { .. } => "DECIMAL",
            DataType::String { .. } => "STRING",
            DataType::Binary { .. } => "BINARY",
            DataType::Date => "DATE",
            DataType::Time { .. } => "TIME",
            DataType::Timestamp { .. } => "TIMESTAMP",
            DataType::TimestampTz { .. } => "TIMESTAMP_TZ",
            DataType::Interval => "INTERVAL",
            DataType::Uuid => "UUID",
            DataType::Json => "JSON",
            DataType::Struct { .. } => "STRUCT",
            DataType::Array { .. } => "ARRAY",
            DataType::Map { .. } => "MAP",
            DataType::Unspecified => "UNSPECIFIED",
            DataType::Other { .. } => "OTHER",
        }
    }
}

impl fmt::Display for DataType {
    /// The canonical spelling; [`normalize_type`] reads it back to an equal value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Boolean => f.write_str("BOOLEAN"),
            DataType::Integer { bits, signed } => {
                match bits {
                    8 => f.write_str("TINYINT")?,
                    16 => f.write_str("SMALLINT")?,
                    24 => f.write_str("MEDIUMINT")?,
                    32 => f.write_str("INT")?,
                    64 => f.write_str("BIGINT")?,
                    128 => f.write_str("HUGEINT")?,
                    other => write!(f, "INT{other}")?,
                }
                if !signed {
                    f.write_str(" UNSIGNED")?;
                }
                Ok(())
            }
            DataType::Float { bits: 16 } => f.write_str("FLOAT16"),
            DataType::Float { bits: 32 } => f.write_str("FLOAT"),
            DataType::Float { bits: 64 } => f.write_str("DOUBLE"),
            DataType::Float { bits } => write!(f, "FLOAT{bits}"),
            DataType::Decimal { precision: None, .. } => f.write_str("DECIMAL"),
            DataType::Decimal { precision: Some(precision), scale } => {
                write!(f, "DECIMAL({precision},{})", scale.unwrap_or(0))
            }
            DataType::String { max_length: None } => f.write_str("STRING"),
            DataType::String { max_length: Some(length) } => write!(f, "VARCHAR({length})"),
            DataType::Binary { max_length: None } => f.write_str("BINARY"),
            DataType::Binary { max_length: Some(length) } => write!(f, "VARBINARY({length})"),
            DataType::Date => f.write_str("DATE"),
            DataType::Time { precision } => write_with_precision(f, "TIME", *precision),
            DataType::Timestamp { precision } => write_with_precision(f, "TIMESTAMP", *precision),
            DataType::TimestampTz { precision } => write_with_precision(f, "TIMESTAMP_TZ", *precision),
            DataType::Interval => f.write_str("INTERVAL"),
            DataType::Uuid => f.write_str("UUID"),
            DataType::Json => f.write_str("JSON"),
            DataType::Struct { fields } if fields.is_empty() => f.write_str("STRUCT"),
            DataType::Struct { fields } => {
                f.write_str("STRUCT<")?;
                for (index, member) in fields.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {}", quote_member_name(&member.name), member.data_type)?;
                    match member.nullable {
                        Some(false) => f.write_str(" NOT NULL")?,
                        Some(true) => f.write_str(" NULL")?,
                        None => {}
                    }
                }
                f.write_str(">")
            }
            DataType::Array { element } if **element == DataType::Unspecified => f.write_str("ARRAY"),
            DataType::Array { element } => write!(f, "ARRAY<{element}>"),
            DataType::Map { key, value } if **key == DataType::Unspecified && **value == DataType::Unspecified => {
                f.write_str("MAP")
            }
            DataType::Map { key, value } => write!(f, "MAP<{key}, {value}>"),
            DataType::Unspecified => Ok(()),
            DataType::Other { name } => f.write_str(name),
        }
    }
}

fn write_with_precision(f: &mut fmt::Formatter<'_>, name: &str, precision: Option<u32>) -> fmt::Result {
    match precision {
        Some(precision) => write!(f, "{name}({precision})"),
        None => f.write_str(name),
    }
}

fn quote_member_name(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain { name.to_owned() } else { format!("`{}`", name.replace('`', "``")) }
}

/// Reads a type as producers spell it (SQL dialects, Spark, Hive, BigQuery, Trino, Avro,
/// Arrow names) into a [`DataType`].
///
/// Case, whitespace and aliases are normalised: `int4`/`integer`/`INT`, `int8`/`bigint`/`long`,
/// `varchar`/`character varying`/`string`/`text`, `timestamp`/`timestamp without time zone`/
/// `timestamp_ntz`, `timestamptz`/`timestamp with time zone`/`timestamp_tz`, `numeric(p,s)`, and
/// `struct<..>`/`row(..)`, `array<..>`/`array(..)`/`T[]`, `map<..>`/`map(..)` recursively.
/// A trailing `NOT NULL` is ignored here (see the schema readers). A spelling that does not
/// parse becomes [`DataType::Other`] holding its uppercased, whitespace-normalised text, so
/// two spellings still compare equal when they differ only in case or spacing; so does one
/// nesting types deeper than [`MAX_TYPE_DEPTH`].
pub fn normalize_type(spelling: &str) -> DataType {
    parse_spelling(spelling).0
}

/// [`normalize_type`], plus the nullability a `NOT NULL` / `NULL` suffix states.
pub(crate) fn parse_spelling(spelling: &str) -> (DataType, Option<bool>) {
    let tokens = tokenize(spelling);
    if tokens.is_empty() {
        return (DataType::Unspecified, None);
    }
    let mut parser = Parser { tokens: &tokens, position: 0, depth: 0 };
    match parser.parse_type() {
        Some(parsed) if parser.position == tokens.len() => parsed,
        _ => (DataType::Other { name: render_tokens(&tokens) }, None),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A bare word, as written; compared lowercased.
    Word(String),
    /// A backquoted or double-quoted name.
    Quoted(String),
    Number(u64),
    /// A single-quoted literal.
    Literal(String),
    Punct(char),
}

fn tokenize(spelling: &str) -> Vec<Token> {
    let chars: Vec<char> = spelling.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        if c.is_whitespace() {
            index += 1;
        } else if c.is_ascii_digit() {
            let start = index;
            while index < chars.len() && chars[index].is_ascii_alphanumeric() {
                index += 1;
            }
            let text: String = chars[start..index].iter().collect();
            // A run like `3d` is a word; numbers too big for u64 are words as well, so they
            // still take part in the spelling of an `Other` type.
            match text.parse::<u64>() {
                Ok(number) => tokens.push(Token::Number(number)),
                Err(_) => tokens.push(Token::Word(text)),
            }
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let start = index;
            while index < chars.len() && (chars[index].is_alphanumeric() || chars[index] == '_' || chars[index] == '$')
            {
                index += 1;
            }
            tokens.push(Token::Word(chars[start..index].iter().collect()));
        } else if c == '`' || c == '"' || c == '\'' {
            let quote = c;
            let mut text = String::new();
            index += 1;
            while index < chars.len() {
                if chars[index] == quote {
                    // A doubled quote stands for the quote character itself.
                    if chars.get(index + 1) == Some(&quote) {
                        text.push(quote);
                        index += 2;
                        continue;
                    }
                    break;
                }
                text.push(chars[index]);
                index += 1;
            }
            index += 1;
            tokens.push(if quote == '\'' { Token::Literal(text) } else { Token::Quoted(text) });
        } else {
            tokens.push(Token::Punct(c));
            index += 1;
        }
    }
    tokens
}

fn render_tokens(tokens: &[Token]) -> String {
    let mut out = String::new();
    let mut previous_was_word = false;
    for token in tokens {
        let (text, is_word) = match token {
            Token::Word(word) => (word.to_uppercase(), true),
            Token::Quoted(name) => (format!("`{name}`"), true),
            Token::Number(number) => (number.to_string(), true),
            Token::Literal(text) => (format!("'{text}'"), true),
            Token::Punct(c) => (c.to_string(), false),
        };
        if is_word && previous_was_word {
            out.push(' ');
        }
        out.push_str(&text);
        previous_was_word = is_word;
    }
    out
}

/// Types nest at most this deep in one spelling (`ARRAY<STRUCT<a: MAP<..>>>` is 3); a deeper
/// spelling reads as [`DataType::Other`], so recursion over a type stays shallow.
pub const MAX_TYPE_DEPTH: usize = 32;

struct Parser<'a> {
    tokens: &'a [Token],
    position: usize,
    /// Types being parsed around the current position; at most [`MAX_TYPE_DEPTH`].
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn peek_at(&self, offset: usize) -> Option<&Token> {
        self.tokens.get(self.position + offset)
    }

    fn peek_word(&self, offset: usize) -> Option<String> {
        match self.peek_at(offset) {
            Some(Token::Word(word)) => Some(word.to_lowercase()),
            _ => None,
        }
    }

    fn eat(&mut self, punct: char) -> bool {
        if self.peek() == Some(&Token::Punct(punct)) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, punct: char) -> Option<()> {
        self.eat(punct).then_some(())
    }

    /// type := base suffix* [NOT NULL | NULL]
    fn parse_type(&mut self) -> Option<(DataType, Option<bool>)> {
        if self.depth >= MAX_TYPE_DEPTH {
            return None;
        }
        self.depth += 1;
        let parsed = self.parse_type_at_depth();
        self.depth -= 1;
        parsed
    }

    fn parse_type_at_depth(&mut self) -> Option<(DataType, Option<bool>)> {
        let first = self.peek_word(0)?;
        self.position += 1;
        let mut data_type = match first.as_str() {
            "struct" | "row" | "record" => {
                if self.eat('<') {
                    DataType::Struct { fields: self.parse_members('>')? }
                } else if self.eat('(') {
                    DataType::Struct { fields: self.parse_members(')')? }
                } else {
                    DataType::Struct { fields: Vec::new() }
                }
            }
            "array" | "list" => match self.parse_type_arguments(1)? {
                Some(mut arguments) => DataType::Array { element: Box::new(arguments.remove(0)) },
                None => DataType::Array { element: Box::new(DataType::Unspecified) },
            },
            "map" => match self.parse_type_arguments(2)? {
                Some(mut arguments) => {
                    let value = arguments.remove(1);
                    let key = arguments.remove(0);
                    DataType::Map { key: Box::new(key), value: Box::new(value) }
                }
                None => DataType::Map { key: Box::new(DataType::Unspecified), value: Box::new(DataType::Unspecified) },
            },
            _ => self.parse_scalar(first)?,
        };
        // PostgreSQL `int[]`, `text[3][]` and SQL-standard `integer array`. Each suffix is a
        // level of nesting too, so it counts against the depth.
        let mut suffixes = 0;
        loop {
            let is_suffix = self.peek() == Some(&Token::Punct('[')) || self.peek_word(0).as_deref() == Some("array");
            if is_suffix {
                if self.depth + suffixes >= MAX_TYPE_DEPTH {
                    return None;
                }
                suffixes += 1;
            }
            if self.peek() == Some(&Token::Punct('[')) {
                self.position += 1;
                if let Some(Token::Number(_)) = self.peek() {
                    self.position += 1;
                }
                self.expect(']')?;
                data_type = DataType::Array { element: Box::new(data_type) };
            } else if self.peek_word(0).as_deref() == Some("array") {
                self.position += 1;
                data_type = DataType::Array { element: Box::new(data_type) };
            } else {
                break;
            }
        }
        let nullable = if self.peek_word(0).as_deref() == Some("not") && self.peek_word(1).as_deref() == Some("null") {
            self.position += 2;
            Some(false)
        } else if self.peek_word(0).as_deref() == Some("null") {
            self.position += 1;
            Some(true)
        } else {
            None
        };
        Some((data_type, nullable))
    }

    /// `<T, ..>` or `(T, ..)` with exactly `count` types; `Some(None)` when there is no list.
    fn parse_type_arguments(&mut self, count: usize) -> Option<Option<Vec<DataType>>> {
        let close = if self.eat('<') {
            '>'
        } else if self.eat('(') {
            ')'
        } else {
            return Some(None);
        };
        let mut arguments = Vec::new();
        loop {
            arguments.push(self.parse_type()?.0);
            if !self.eat(',') {
                break;
            }
        }
        self.expect(close)?;
        (arguments.len() == count).then_some(Some(arguments))
    }

    /// member := name [':'] type [COMMENT 'text'], separated by commas, up to `close`.
    fn parse_members(&mut self, close: char) -> Option<Vec<StructField>> {
        let mut members = Vec::new();
        if self.eat(close) {
            return Some(members);
        }
        loop {
            let name = match self.peek()? {
                Token::Word(word) => word.clone(),
                Token::Quoted(name) => name.clone(),
                _ => return None,
            };
            // Trino's anonymous `row(integer, varchar)`: the word is the type, not a name.
            let anonymous = match self.peek_at(1) {
                Some(Token::Punct(punct)) => matches!(punct, ',' | '(' | '<') || *punct == close,
                _ => false,
            };
            let name = if anonymous {
                format!("_{}", members.len() + 1)
            } else {
                self.position += 1;
                self.eat(':');
                name
            };
            let (data_type, nullable) = self.parse_type()?;
            if self.peek_word(0).as_deref() == Some("comment") {
                self.position += 1;
                match self.peek()? {
                    Token::Literal(_) | Token::Quoted(_) => self.position += 1,
                    _ => return None,
                }
            }
            members.push(StructField { name, data_type, nullable });
            if !self.eat(',') {
                break;
            }
        }
        self.expect(close)?;
        Some(members)
    }

    fn parse_scalar(&mut self, first: String) -> Option<DataType> {
        let mut words = vec![first];
        let mut arguments: Option<Vec<String>> = None;
        loop {
            match self.peek() {
                Some(Token::Word(word)) => {
                    let word = word.to_lowercase();
                    if matches!(word.as_str(), "array" | "not" | "null" | "comment") {
                        break;
                    }
                    words.push(word);
                    self.position += 1;
                }
                Some(Token::Punct('(')) if arguments.is_none() => {
                    self.position += 1;
                    arguments = Some(self.parse_scalar_arguments()?);
                }
                _ => break,
            }
        }
        Some(scalar_type(&words, arguments.as_deref().unwrap_or_default()))
    }

    /// Comma-separated arguments up to `)`, each rendered as text (`10`, `max`, `'a'`).
    fn parse_scalar_arguments(&mut self) -> Option<Vec<String>> {
        let mut arguments = Vec::new();
        let mut current = Vec::new();
        loop {
            match self.peek()? {
                Token::Punct(')') => {
                    self.position += 1;
                    if !current.is_empty() {
                        arguments.push(render_tokens(&current));
                    }
                    return Some(arguments);
                }
                Token::Punct(',') => {
                    self.position += 1;
                    arguments.push(render_tokens(&current));
                    current.clear();
                }
                Token::Punct('(' | '<' | '>' | '[' | ']') => return None,
                token => {
                    current.push(token.clone());
                    self.position += 1;
                }
            }
        }
    }
}

fn scalar_type(words: &[String], arguments: &[String]) -> DataType {
    let number = |index: usize| arguments.get(index).and_then(|argument| argument.parse::<u64>().ok());
    let small_number = |index: usize| number(index).and_then(|n| u32::try_from(n).ok());
    // MySQL's `INT(11) UNSIGNED ZEROFILL`: the width is display-only, the sign matters.
    let mut words: Vec<&str> = words.iter().map(String::as_str).filter(|word| *word != "zerofill").collect();
    let mut signed = true;
    if words.len() > 1 && words.last() == Some(&"unsigned") {
        words.pop();
        signed = false;
    } else if words.len() > 1 && words.first() == Some(&"unsigned") {
        words.remove(0);
        signed = false;
    } else if words.len() > 1 && words.last() == Some(&"signed") {
        words.pop();
    }
    let key = words.join(" ");
    let integer = |bits: u16, is_signed: bool| DataType::Integer { bits, signed: is_signed && signed };
    match key.as_str() {
        "boolean" | "bool" | "logical" => DataType::Boolean,
        "tinyint" | "int1" | "byte" => integer(8, true),
        "smallint" | "int2" | "short" | "int16" | "smallserial" | "serial2" => integer(16, true),
        "mediumint" | "int3" => integer(24, true),
        "int" | "integer" | "int4" | "int32" | "serial" | "serial4" => integer(32, true),
        "bigint" | "int8" | "long" | "int64" | "bigserial" | "serial8" => integer(64, true),
        "hugeint" | "int128" => integer(128, true),
        "utinyint" | "uint8" => integer(8, false),
        "usmallint" | "uint16" => integer(16, false),
        "uinteger" | "uint32" | "uint" => integer(32, false),
        "ubigint" | "uint64" => integer(64, false),
        "uhugeint" | "uint128" => integer(128, false),
        "half" | "float16" => DataType::Float { bits: 16 },
        // SQL-standard FLOAT(p) is single precision up to 24 mantissa bits.
        "float" => DataType::Float { bits: if number(0).is_some_and(|p| p > 24) { 64 } else { 32 } },
        "float4" | "real" | "float32" | "binary_float" => DataType::Float { bits: 32 },
        "double" | "float8" | "double precision" | "float64" | "binary_double" => DataType::Float { bits: 64 },
        "decimal" | "numeric" | "number" | "dec" => match small_number(0) {
            Some(precision) => {
                DataType::Decimal { precision: Some(precision), scale: Some(small_number(1).unwrap_or(0)) }
            }
            None => DataType::Decimal { precision: None, scale: None },
        },
        "bignumeric" | "bigdecimal" => DataType::Decimal {
            precision: Some(small_number(0).unwrap_or(76)),
            scale: Some(small_number(1).unwrap_or(if number(0).is_some() { 0 } else { 38 })),
        },
        "varchar"
        | "character varying"
        | "char varying"
        | "string"
        | "text"
        | "nvarchar"
        | "varchar2"
        | "nvarchar2"
        | "national character varying"
        | "national char varying"
        | "clob"
        | "nclob"
        | "tinytext"
        | "mediumtext"
        | "longtext"
        | "ntext"
        | "utf8"
        | "large_string"
        | "largeutf8"
        | "citext"
        | "bpchar" => DataType::String { max_length: number(0) },
        // A bare CHAR is CHAR(1) in the SQL standard and PostgreSQL.
        "char" | "character" | "nchar" | "national character" | "national char" => {
            DataType::String { max_length: Some(number(0).unwrap_or(1)) }
        }
        "binary" | "varbinary" | "bytes" | "bytea" | "blob" | "binary varying" | "tinyblob" | "mediumblob"
        | "longblob" | "large_binary" | "largebinary" | "image" | "raw" => DataType::Binary { max_length: number(0) },
        "date" | "date32" => DataType::Date,
        "time" | "time without time zone" => DataType::Time { precision: small_number(0) },
        "timetz" | "time with time zone" => DataType::Other { name: "TIME WITH TIME ZONE".to_owned() },
        "timestamp"
        | "timestamp without time zone"
        | "timestamp_ntz"
        | "timestampntz"
        | "datetime"
        | "datetime2"
        | "smalldatetime" => DataType::Timestamp { precision: small_number(0) },
        "timestamptz"
        | "timestamp with time zone"
        | "timestamp_tz"
        | "timestamp_ltz"
        | "timestampltz"
        | "timestamp with local time zone"
        | "datetimeoffset" => DataType::TimestampTz { precision: small_number(0) },
        "uuid" | "uniqueidentifier" => DataType::Uuid,
        "json" | "jsonb" => DataType::Json,
        _ if words.first() == Some(&"interval") => DataType::Interval,
        _ => {
            let mut name = key.to_uppercase();
            if !signed {
                name.push_str(" UNSIGNED");
            }
            if !arguments.is_empty() {
                name = format!("{name}({})", arguments.join(","));
            }
            DataType::Other { name }
        }
    }
}

/// How `new` relates to `old` for the values they hold.
///
/// - Integers climb `TINYINT < SMALLINT < INT < BIGINT < HUGEINT`; unsigned to signed widens
///   only into more bits, signed to unsigned always narrows (negative values are lost).
/// - Integers into floats widen only while the float mantissa holds every value: `INT` into
///   `DOUBLE` widens, `BIGINT` into `DOUBLE` narrows (values above 2^53).
/// - `DECIMAL(p,s)` to `DECIMAL(p',s')` widens only if `s' >= s` and `p'-s' >= p-s`; an
///   unparameterised `DECIMAL` counts as unbounded. Integers and decimals convert by digit count.
///   Floats and decimals never convert losslessly.
/// - `VARCHAR(n)` and `VARBINARY(n)` by length, unbounded when no length is given.
/// - `TIME(p)` and `TIMESTAMP(p)` by fractional digits, 6 when none is given.
/// - Structs compare members by name: a removed member narrows, an added one widens.
///   Arrays and maps compare their parts.
/// - Anything else across families (STRING and INT, DATE and STRING, `TIMESTAMP` and
///   `TIMESTAMP_TZ`, `T` and `ARRAY<T>`, BOOLEAN and INT) is [`TypeRelation::FamilyChanged`].
pub fn compare_types(old: &DataType, new: &DataType) -> TypeRelation {
    use DataType as T;
    use TypeRelation as R;
    match (old, new) {
        (T::Unspecified, _) | (_, T::Unspecified) => R::Same,
        (T::Boolean, T::Boolean)
        | (T::Date, T::Date)
        | (T::Interval, T::Interval)
        | (T::Uuid, T::Uuid)
        | (T::Json, T::Json) => R::Same,
        (T::Integer { bits: old_bits, signed: old_signed }, T::Integer { bits: new_bits, signed: new_signed }) => {
            compare_integers(*old_bits, *old_signed, *new_bits, *new_signed)
        }
        (T::Float { bits: old_bits }, T::Float { bits: new_bits }) => by_order(*old_bits, *new_bits),
        (T::Integer { bits, signed }, T::Float { bits: float_bits }) => {
            if integer_value_bits(*bits, *signed) <= mantissa_bits(*float_bits) { R::Widened } else { R::Narrowed }
        }
        (T::Float { .. }, T::Integer { .. }) => R::Narrowed,
        (T::Integer { bits, signed }, T::Decimal { precision, scale }) => match precision {
            None => R::Widened,
            Some(precision) => {
                let integer_digits = precision.saturating_sub(scale.unwrap_or(0));
                if integer_digits >= digits_to_hold(*bits, *signed) { R::Widened } else { R::Narrowed }
            }
        },
        (T::Decimal { precision, scale }, T::Integer { bits, signed }) => match precision {
            Some(precision) if scale.unwrap_or(0) == 0 && *signed && *precision <= digits_always_fitting(*bits) => {
                R::Widened
            }
            _ => R::Narrowed,
        },
        (T::Decimal { .. }, T::Float { .. }) | (T::Float { .. }, T::Decimal { .. }) => R::Narrowed,
        (
            T::Decimal { precision: old_precision, scale: old_scale },
            T::Decimal { precision: new_precision, scale: new_scale },
        ) => compare_decimals(*old_precision, *old_scale, *new_precision, *new_scale),
        (T::String { max_length: old_length }, T::String { max_length: new_length })
        | (T::Binary { max_length: old_length }, T::Binary { max_length: new_length }) => {
            compare_lengths(*old_length, *new_length)
        }
        (T::Time { precision: old_precision }, T::Time { precision: new_precision })
        | (T::Timestamp { precision: old_precision }, T::Timestamp { precision: new_precision })
        | (T::TimestampTz { precision: old_precision }, T::TimestampTz { precision: new_precision }) => {
            by_order(old_precision.unwrap_or(DEFAULT_TIME_PRECISION), new_precision.unwrap_or(DEFAULT_TIME_PRECISION))
        }
        (T::Struct { fields: old_fields }, T::Struct { fields: new_fields }) => {
            // By name through hash maps: a struct may list thousands of members.
            let (old_by_name, new_by_name) = (members_by_name(old_fields), members_by_name(new_fields));
            let mut relation = R::Same;
            for old_member in old_fields {
                relation = relation.max(match new_by_name.get(old_member.name.as_str()) {
                    Some(new_member) => compare_types(&old_member.data_type, &new_member.data_type),
                    None => R::Narrowed,
                });
            }
            if new_fields.iter().any(|new_member| !old_by_name.contains_key(new_member.name.as_str())) {
                relation = relation.max(R::Widened);
            }
            relation
        }
        (T::Array { element: old_element }, T::Array { element: new_element }) => {
            compare_types(old_element, new_element)
        }
        (T::Map { key: old_key, value: old_value }, T::Map { key: new_key, value: new_value }) => {
            compare_types(old_key, new_key).max(compare_types(old_value, new_value))
        }
        (T::Other { name: old_name }, T::Other { name: new_name }) if old_name == new_name => R::Same,
        _ => R::FamilyChanged,
    }
}

/// Struct members by name; the first member of a name wins, as a linear search would find it.
fn members_by_name(fields: &[StructField]) -> HashMap<&str, &StructField> {
    let mut by_name = HashMap::with_capacity(fields.len());
    for member in fields {
        by_name.entry(member.name.as_str()).or_insert(member);
    }
    by_name
}

fn by_order<N: Ord>(old: N, new: N) -> TypeRelation {
    match new.cmp(&old) {
        std::cmp::Ordering::Equal => TypeRelation::Same,
        std::cmp::Ordering::Greater => TypeRelation::Widened,
        std::cmp::Ordering::Less => TypeRelation::Narrowed,
    }
}

fn compare_integers(old_bits: u16, old_signed: bool, new_bits: u16, new_signed: bool) -> TypeRelation {
    match (old_signed, new_signed) {
        (true, true) | (false, false) => by_order(old_bits, new_bits),
        (false, true) if new_bits > old_bits => TypeRelation::Widened,
        _ => TypeRelation::Narrowed,
    }
}

fn compare_lengths(old: Option<u64>, new: Option<u64>) -> TypeRelation {
    match (old, new) {
        (None, None) => TypeRelation::Same,
        (Some(_), None) => TypeRelation::Widened,
        (None, Some(_)) => TypeRelation::Narrowed,
        (Some(old), Some(new)) => by_order(old, new),
    }
}

fn compare_decimals(
    old_precision: Option<u32>,
    old_scale: Option<u32>,
    new_precision: Option<u32>,
    new_scale: Option<u32>,
) -> TypeRelation {
    match (old_precision, new_precision) {
        (None, None) => TypeRelation::Same,
        (Some(_), None) => TypeRelation::Widened,
        (None, Some(_)) => TypeRelation::Narrowed,
        (Some(old_precision), Some(new_precision)) => {
            let (old_scale, new_scale) = (old_scale.unwrap_or(0), new_scale.unwrap_or(0));
            let old_integer_digits = i64::from(old_precision) - i64::from(old_scale);
            let new_integer_digits = i64::from(new_precision) - i64::from(new_scale);
            if old_precision == new_precision && old_scale == new_scale {
                TypeRelation::Same
            } else if new_scale >= old_scale && new_integer_digits >= old_integer_digits {
                TypeRelation::Widened
            } else {
                TypeRelation::Narrowed
            }
        }
    }
}

/// Bits of magnitude an integer type carries (the sign bit does not count).
fn integer_value_bits(bits: u16, signed: bool) -> u16 {
    if signed { bits.saturating_sub(1) } else { bits }
}

/// Significand bits, counting the implicit leading one.
fn mantissa_bits(float_bits: u16) -> u16 {
    match float_bits {
        16 => 11,
        32 => 24,
        _ => 53,
    }
}

fn integer_max(bits: u16, signed: bool) -> u128 {
    let value_bits = u32::from(integer_value_bits(bits, signed).min(128));
    if value_bits >= 128 { u128::MAX } else { (1u128 << value_bits) - 1 }
}

/// Decimal digits needed to hold every value of the integer type (`INT` needs 10).
fn digits_to_hold(bits: u16, signed: bool) -> u32 {
    integer_max(bits, signed).to_string().len() as u32
}

/// The largest `p` such that every `DECIMAL(p,0)` value fits the signed integer type (`INT`: 9).
fn digits_always_fitting(bits: u16) -> u32 {
    digits_to_hold(bits, true).saturating_sub(1)
}

/// Why a narrowing loses values, in a few words, for the change summary.
pub(crate) fn narrowing_note(old: &DataType, new: &DataType) -> Option<String> {
    use DataType as T;
    match (old, new) {
        (T::Decimal { precision: Some(p), scale }, T::Decimal { precision: Some(new_p), scale: new_scale }) => {
            let (s, new_s) = (scale.unwrap_or(0), new_scale.unwrap_or(0));
            let (digits, new_digits) = (i64::from(*p) - i64::from(s), i64::from(*new_p) - i64::from(new_s));
            let mut notes = Vec::new();
            if new_digits < digits {
                notes.push(format!("integer digits {digits} -> {new_digits}"));
            }
            if new_s < s {
                notes.push(format!("scale {s} -> {new_s}"));
            }
            (!notes.is_empty()).then(|| notes.join(", "))
        }
        (T::Integer { bits, signed }, T::Float { bits: float_bits }) => {
            let mantissa = mantissa_bits(*float_bits);
            (integer_value_bits(*bits, *signed) > mantissa)
                .then(|| format!("integers above 2^{mantissa} lose precision"))
        }
        (T::String { max_length: length }, T::String { max_length: Some(new_length) })
        | (T::Binary { max_length: length }, T::Binary { max_length: Some(new_length) }) => {
            let length = length.map_or_else(|| "unbounded".to_owned(), |length| length.to_string());
            Some(format!("max length {length} -> {new_length}"))
        }
        (T::Decimal { precision: None, .. }, T::Decimal { precision: Some(precision), scale }) => {
            Some(format!("unbounded -> {precision} digits, scale {}", scale.unwrap_or(0)))
        }
        (T::Time { precision }, T::Time { precision: new_precision })
        | (T::Timestamp { precision }, T::Timestamp { precision: new_precision })
        | (T::TimestampTz { precision }, T::TimestampTz { precision: new_precision }) => Some(format!(
            "fractional-second digits {} -> {}",
            precision.unwrap_or(DEFAULT_TIME_PRECISION),
            new_precision.unwrap_or(DEFAULT_TIME_PRECISION)
        )),
        (T::Integer { signed: true, .. }, T::Integer { signed: false, .. }) => {
            Some("negative values do not fit".to_owned())
        }
        _ => None,
    }
}
