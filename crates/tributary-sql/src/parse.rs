//! Dialects, the bounded pre-scan and parsing with fallbacks.

use sqlparser::ast::Statement;
use sqlparser::dialect::{
    AnsiDialect, BigQueryDialect, ClickHouseDialect, DatabricksDialect, Dialect, DuckDbDialect, GenericDialect,
    HiveDialect, MsSqlDialect, MySqlDialect, OracleDialect, PostgreSqlDialect, RedshiftSqlDialect, SQLiteDialect,
    SnowflakeDialect, SparkSqlDialect, TeradataDialect,
};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

/// The longest SQL text [`derive()`](crate::derive()) accepts (1 MiB; dbt's largest compiled
/// models are a few hundred KiB).
pub const MAX_SQL_BYTES: usize = 1 << 20;

/// The most tokens one expression may have at one nesting level (between commas, `WHEN`,
/// `THEN`, `ELSE`, or inside one pair of brackets). The parser builds chains of infix and
/// postfix operators (`a + b + …`, `x::int::text…`) as trees as deep as they are long, and
/// walking or dropping a tree that deep overflows the stack; the pre-scan refuses them first.
pub const MAX_EXPRESSION_TOKENS: usize = 10_000;

/// The most `UNION`/`INTERSECT`/`EXCEPT` operators one query may chain (the parser nests
/// them as deep as the chain is long, like operators; commas do not end the chain).
pub const MAX_SET_OPERATIONS: usize = 5_000;

/// Why a text could not be analysed. Messages name the dialect and, for parse errors, the
/// parser's own message with its position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    #[error("sql text of {len} bytes is over the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    #[error("sql has an expression of more than {limit} tokens at line {line}, column {column}")]
    ExpressionTooLong { limit: usize, line: u64, column: u64 },
    #[error("sql chains more than {limit} set operations (union, intersect, except) at line {line}, column {column}")]
    TooManySetOperations { limit: usize, line: u64, column: u64 },
    /// `line` and `column` (from 1) when the parser gave a position.
    #[error("sql does not parse as {dialect}: {message}")]
    Parse { dialect: &'static str, message: String, line: Option<u64>, column: Option<u64> },
}

/// The dialect used for an OpenLineage `sql` facet's `dialect` string: the canonical name of
/// the sqlparser dialect, `generic` for unknown or absent names. Spelling is forgiving:
/// case, spaces, `-` and `_` are ignored (`Spark SQL`, `sql_server`).
pub fn dialect_name(dialect: Option<&str>) -> &'static str {
    let normalized: String =
        dialect.unwrap_or("").chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    match normalized.as_str() {
        "postgres" | "postgresql" | "pg" | "psql" | "greenplum" | "cockroachdb" | "timescaledb" => "postgres",
        "redshift" => "redshift",
        "snowflake" => "snowflake",
        "bigquery" | "googlebigquery" | "gbq" => "bigquery",
        "mysql" | "mariadb" | "tidb" | "singlestore" => "mysql",
        "hive" | "hiveql" | "impala" => "hive",
        "spark" | "sparksql" | "glue" => "spark",
        "databricks" | "databrickssql" => "databricks",
        "duckdb" | "motherduck" => "duckdb",
        "mssql" | "sqlserver" | "tsql" | "azuresql" | "synapse" | "fabric" => "mssql",
        "sqlite" => "sqlite",
        "ansi" => "ansi",
        "clickhouse" => "clickhouse",
        "oracle" => "oracle",
        "teradata" => "teradata",
        // No dialect of their own in sqlparser; their syntax is close to the generic one.
        "trino" | "presto" | "athena" | "starburst" => "generic",
        _ => "generic",
    }
}

fn dialect_of(name: &'static str) -> Box<dyn Dialect> {
    match name {
        "postgres" => Box::new(PostgreSqlDialect {}),
        "redshift" => Box::new(RedshiftSqlDialect {}),
        "snowflake" => Box::new(SnowflakeDialect),
        "bigquery" => Box::new(BigQueryDialect),
        "mysql" => Box::new(MySqlDialect {}),
        "hive" => Box::new(HiveDialect {}),
        "spark" => Box::new(SparkSqlDialect {}),
        "databricks" => Box::new(DatabricksDialect {}),
        "duckdb" => Box::new(DuckDbDialect {}),
        "mssql" => Box::new(MsSqlDialect {}),
        "sqlite" => Box::new(SQLiteDialect {}),
        "ansi" => Box::new(AnsiDialect {}),
        "clickhouse" => Box::new(ClickHouseDialect {}),
        "oracle" => Box::new(OracleDialect {}),
        "teradata" => Box::new(TeradataDialect {}),
        _ => Box::new(GenericDialect),
    }
}

/// Tried in order after the requested dialect fails: the most permissive ones.
const FALLBACKS: [&str; 2] = ["generic", "duckdb"];

/// Parses `sql` in the requested dialect, then in the fallbacks; on failure, the error is
/// the requested dialect's.
pub(crate) fn parse(sql: &str, dialect: Option<&str>) -> Result<(&'static str, Vec<Statement>), SqlError> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(SqlError::TooLarge { len: sql.len(), limit: MAX_SQL_BYTES });
    }
    let requested = dialect_name(dialect);
    let first_error = match parse_in(sql, requested) {
        Ok(statements) => return Ok((requested, statements)),
        Err(error) => error,
    };
    for fallback in FALLBACKS {
        if fallback == requested {
            continue;
        }
        if let Ok(statements) = parse_in(sql, fallback) {
            return Ok((fallback, statements));
        }
    }
    Err(first_error)
}

fn parse_in(sql: &str, name: &'static str) -> Result<Vec<Statement>, SqlError> {
    let dialect = dialect_of(name);
    let tokens = Tokenizer::new(&*dialect, sql)
        .with_unescape(true)
        .tokenize_with_location()
        .map_err(|e| parse_error(name, e.to_string()))?;
    check_expression_lengths(&tokens)?;
    Parser::new(&*dialect).with_tokens_with_locations(tokens).parse_statements().map_err(|e| {
        let message = match e {
            ParserError::TokenizerError(message) | ParserError::ParserError(message) => message,
            ParserError::RecursionLimitExceeded => "nested too deeply (parser recursion limit)".to_owned(),
        };
        let mut error = parse_error(name, message);
        if let SqlError::Parse { message, line: line @ None, column, .. } = &mut error
            && message.ends_with("found: EOF")
        {
            // The end of the text has no token position: point after its last character.
            let (end_line, end_column) = end_of(sql);
            message.push_str(&format!(" at Line: {end_line}, Column: {end_column}"));
            *line = Some(end_line);
            *column = Some(end_column);
        }
        error
    })
}

fn parse_error(dialect: &'static str, message: String) -> SqlError {
    let (line, column) = position_in(&message).map_or((None, None), |(l, c)| (Some(l), Some(c)));
    SqlError::Parse { dialect, message, line, column }
}

/// The line and column (from 1) just after the last character of `sql`.
fn end_of(sql: &str) -> (u64, u64) {
    let line = sql.split('\n').count() as u64;
    let last = sql.rsplit('\n').next().unwrap_or("");
    (line, last.chars().count() as u64 + 1)
}

/// The position sqlparser appends to its messages: `… at Line: 3, Column: 14`.
fn position_in(message: &str) -> Option<(u64, u64)> {
    let at = message.rfind(" at Line: ")?;
    let (line, column) = message[at + " at Line: ".len()..].split_once(", Column: ")?;
    let column: String = column.chars().take_while(char::is_ascii_digit).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

/// Refuses expressions whose operator chains could be deeper than [`MAX_EXPRESSION_TOKENS`]:
/// counts the tokens of each nesting level (brackets and `CASE … END` open a level, and count
/// one token at the level they open from) since the last comma, `WHEN`, `THEN`, `ELSE` or
/// `;`. An infix chain adds at least one token per step at its own level, so its depth is
/// bounded by the count. Set operators are counted per level until `;` and bounded by
/// [`MAX_SET_OPERATIONS`]. Linear and without recursion.
fn check_expression_lengths(tokens: &[TokenWithSpan]) -> Result<(), SqlError> {
    // Tokens and set operators counted at the current level, and the counts of the
    // enclosing levels.
    let mut current = 0usize;
    let mut set_operations = 0usize;
    let mut enclosing: Vec<(usize, usize)> = Vec::new();
    for token in tokens {
        let keyword = match &token.token {
            Token::Word(word) => word.keyword,
            _ => Keyword::NoKeyword,
        };
        match token.token {
            Token::Whitespace(_) | Token::EOF => continue,
            Token::SemiColon => {
                current = 0;
                set_operations = 0;
                enclosing.clear();
                continue;
            }
            Token::Comma => {
                current = 0;
                continue;
            }
            _ => {}
        }
        if matches!(keyword, Keyword::UNION | Keyword::INTERSECT | Keyword::EXCEPT | Keyword::MINUS) {
            set_operations += 1;
            if set_operations > MAX_SET_OPERATIONS {
                return Err(SqlError::TooManySetOperations {
                    limit: MAX_SET_OPERATIONS,
                    line: token.span.start.line,
                    column: token.span.start.column,
                });
            }
        }
        if matches!(keyword, Keyword::WHEN | Keyword::THEN | Keyword::ELSE) {
            current = 0;
            continue;
        }
        let closes = matches!(token.token, Token::RParen | Token::RBracket | Token::RBrace) || keyword == Keyword::END;
        if closes && let Some((outer, outer_set_operations)) = enclosing.pop() {
            current = outer;
            set_operations = outer_set_operations;
        }
        current += 1;
        if current > MAX_EXPRESSION_TOKENS {
            return Err(SqlError::ExpressionTooLong {
                limit: MAX_EXPRESSION_TOKENS,
                line: token.span.start.line,
                column: token.span.start.column,
            });
        }
        let opens = matches!(token.token, Token::LParen | Token::LBracket | Token::LBrace) || keyword == Keyword::CASE;
        if opens {
            enclosing.push((current, set_operations));
            current = 0;
            set_operations = 0;
        }
    }
    Ok(())
}
