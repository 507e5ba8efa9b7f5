//! Tokenizer and recursive-descent parser for the `where` predicate subset documented in
//! [`crate::query`].
//!
//! Grammar (keywords are case-insensitive, field names are case-sensitive):
//!
//! ```text
//! expr       := and_expr ("or" and_expr)*
//! and_expr   := unary ("and" unary)*
//! unary      := "not" "(" expr ")" | "(" expr ")" | comparison
//! comparison := field cmp_op string
//!             | field ["not"] "in" "(" string ("," string)* ")"
//!             | field "is" ["not"] "defined"
//! cmp_op     := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
//! string     := '"' (any character but '"' and '\' | '\"' | '\\')* '"'
//! ```
//!
//! Robustness: the input length is checked before anything else, so the tokenizer and the
//! parser only ever see at most [`MAX_PREDICATE_LEN`] bytes. Both are single left-to-right
//! passes (linear time); `and`/`or` chains are parsed iteratively and recursion only happens
//! for parentheses and `not`, which is capped at [`MAX_PREDICATE_DEPTH`]. Nothing indexes or
//! slices without a bounds check, so no input can make the parser panic.

use crate::query::{
    truncate, CmpOp, Field, Predicate, QueryError, Value, MAX_IN_VALUES, MAX_PREDICATE_DEPTH,
    MAX_PREDICATE_LEN, SUPPORTED_SUBSET,
};
use chrono::{DateTime, NaiveDate, NaiveTime};

/// Parses one `where` expression into a [`Predicate`], converting literals to the stored
/// representation of their field.
pub(crate) fn parse(input: &str) -> Result<Predicate, QueryError> {
    if input.len() > MAX_PREDICATE_LEN {
        return Err(QueryError(format!(
            "the where expression is {} bytes long; at most {MAX_PREDICATE_LEN} bytes are accepted",
            input.len()
        )));
    }
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err(syntax(
            "the where expression is empty; expected a predicate such as `name = \"my-client\"`",
        ));
    }
    let mut parser = Parser {
        input,
        tokens,
        pos: 0,
        depth: 0,
    };
    let predicate = parser.parse_or()?;
    if let Some(tok) = parser.peek() {
        let column = parser.column(tok.start);
        let got = describe(tok);
        let msg = if tok.kind == Kind::RParen {
            format!("unbalanced parentheses: `)` at column {column} has no matching `(`")
        } else {
            format!(
                "unexpected {got} at column {column}; expected `and`, `or` or the end of the expression"
            )
        };
        return Err(syntax(msg));
    }
    Ok(predicate)
}

/// A syntax error: the message followed by the supported subset.
fn syntax(msg: impl AsRef<str>) -> QueryError {
    QueryError(format!("{}; {SUPPORTED_SUBSET}", msg.as_ref()))
}

// ---------------------------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// A word: field name or keyword (ASCII letters, digits, `_`, `.`).
    Ident,
    /// A double-quoted string literal, unescaped.
    Str(String),
    /// An unquoted literal such as `42`, `-1.5` or `2018-01-01` (never valid, reported).
    Bare,
    LParen,
    RParen,
    Comma,
    Op(CmpOp),
}

#[derive(Debug, Clone)]
struct Token<'a> {
    kind: Kind,
    /// The source text of the token.
    text: &'a str,
    /// Byte offset of the token in the input.
    start: usize,
}

/// 1-based character column of a byte offset.
fn column_of(input: &str, byte_offset: usize) -> usize {
    input
        .get(..byte_offset)
        .map_or(0, |prefix| prefix.chars().count())
        + 1
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn is_bare_start(c: char) -> bool {
    c.is_ascii_digit() || c == '-' || c == '+' || c == '.'
}

fn is_bare_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.' | ':' | '_')
}

/// Shows one character of user input readably (control characters escaped).
fn show_char(c: char) -> String {
    truncate(&c.escape_debug().to_string())
}

fn tokenize(input: &str) -> Result<Vec<Token<'_>>, QueryError> {
    let chars: Vec<(usize, char)> = input.char_indices().collect();
    let end_of = |j: usize| chars.get(j).map_or(input.len(), |&(off, _)| off);
    let slice = |from: usize, to: usize| input.get(from..to).unwrap_or("");
    let mut tokens = Vec::new();
    let mut j = 0;
    while let Some(&(start, c)) = chars.get(j) {
        let next = chars.get(j + 1).map(|&(_, n)| n);
        let simple = |kind: Kind, len: usize| Token {
            kind,
            text: slice(start, end_of(j + len)),
            start,
        };
        match c {
            c if c.is_whitespace() => {
                j += 1;
            }
            '(' => {
                tokens.push(simple(Kind::LParen, 1));
                j += 1;
            }
            ')' => {
                tokens.push(simple(Kind::RParen, 1));
                j += 1;
            }
            ',' => {
                tokens.push(simple(Kind::Comma, 1));
                j += 1;
            }
            '=' => {
                tokens.push(simple(Kind::Op(CmpOp::Eq), 1));
                j += 1;
            }
            '!' => {
                if next == Some('=') {
                    tokens.push(simple(Kind::Op(CmpOp::Ne), 2));
                    j += 2;
                } else {
                    return Err(syntax(format!(
                        "unexpected `!` at column {}; did you mean `!=`?",
                        column_of(input, start)
                    )));
                }
            }
            '<' => match next {
                Some('=') => {
                    tokens.push(simple(Kind::Op(CmpOp::Le), 2));
                    j += 2;
                }
                Some('>') => {
                    tokens.push(simple(Kind::Op(CmpOp::Ne), 2));
                    j += 2;
                }
                _ => {
                    tokens.push(simple(Kind::Op(CmpOp::Lt), 1));
                    j += 1;
                }
            },
            '>' => {
                if next == Some('=') {
                    tokens.push(simple(Kind::Op(CmpOp::Ge), 2));
                    j += 2;
                } else {
                    tokens.push(simple(Kind::Op(CmpOp::Gt), 1));
                    j += 1;
                }
            }
            '"' => {
                let mut value = String::new();
                let mut k = j + 1;
                loop {
                    match chars.get(k) {
                        None => {
                            return Err(syntax(format!(
                                "unterminated string literal starting at column {}; \
                                 expected a closing `\"`",
                                column_of(input, start)
                            )));
                        }
                        Some(&(_, '"')) => {
                            k += 1;
                            break;
                        }
                        Some(&(off, '\\')) => match chars.get(k + 1) {
                            Some(&(_, e @ ('"' | '\\'))) => {
                                value.push(e);
                                k += 2;
                            }
                            Some(&(_, other)) => {
                                return Err(syntax(format!(
                                    "unsupported escape `\\{}` at column {} in a string \
                                     literal; only `\\\"` and `\\\\` are allowed",
                                    show_char(other),
                                    column_of(input, off)
                                )));
                            }
                            None => {
                                return Err(syntax(format!(
                                    "unterminated string literal starting at column {}; \
                                     the input ends after a `\\`",
                                    column_of(input, start)
                                )));
                            }
                        },
                        // PostgreSQL refuses NUL in text (and no stored value holds one):
                        // refuse it here rather than fail in storage.
                        Some(&(off, '\0')) => {
                            return Err(syntax(format!(
                                "a NUL character at column {} in a string literal; \
                                 NUL is not allowed",
                                column_of(input, off)
                            )));
                        }
                        Some(&(_, ch)) => {
                            value.push(ch);
                            k += 1;
                        }
                    }
                }
                tokens.push(Token {
                    kind: Kind::Str(value),
                    text: slice(start, end_of(k)),
                    start,
                });
                j = k;
            }
            '\'' => {
                return Err(syntax(format!(
                    "single-quoted string at column {} is not supported; \
                     string literals use double quotes, e.g. name = \"my-client\"",
                    column_of(input, start)
                )));
            }
            c if is_ident_start(c) => {
                let mut k = j + 1;
                while chars.get(k).is_some_and(|&(_, ch)| is_ident_continue(ch)) {
                    k += 1;
                }
                tokens.push(Token {
                    kind: Kind::Ident,
                    text: slice(start, end_of(k)),
                    start,
                });
                j = k;
            }
            c if is_bare_start(c) => {
                let mut k = j + 1;
                while chars.get(k).is_some_and(|&(_, ch)| is_bare_continue(ch)) {
                    k += 1;
                }
                tokens.push(Token {
                    kind: Kind::Bare,
                    text: slice(start, end_of(k)),
                    start,
                });
                j = k;
            }
            other => {
                return Err(syntax(format!(
                    "unexpected character `{}` at column {}",
                    show_char(other),
                    column_of(input, start)
                )));
            }
        }
    }
    Ok(tokens)
}

/// How a token is named in an error message.
fn describe(tok: &Token<'_>) -> String {
    match &tok.kind {
        Kind::Str(s) => format!("the string literal \"{}\"", truncate(s)),
        Kind::Bare => format!("the unquoted literal `{}`", truncate(tok.text)),
        _ => format!("`{}`", truncate(tok.text)),
    }
}

fn describe_opt(tok: Option<&Token<'_>>) -> String {
    tok.map_or_else(|| "the end of the expression".to_owned(), describe)
}

fn is_keyword(tok: &Token<'_>, keyword: &str) -> bool {
    tok.kind == Kind::Ident && tok.text.eq_ignore_ascii_case(keyword)
}

/// Words with a grammatical role, which therefore cannot start a comparison.
const KEYWORDS: [&str; 6] = ["and", "or", "not", "in", "is", "defined"];

/// Commercetools operators (or common guesses) that Castellan does not implement.
const UNSUPPORTED_OPERATORS: [&str; 8] = [
    "contains",
    "within",
    "like",
    "ilike",
    "matches",
    "startswith",
    "endswith",
    "has",
];

/// Unquoted literal words that commercetools would accept for non-string fields.
const UNQUOTED_WORDS: [&str; 3] = ["true", "false", "null"];

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
    /// Current nesting of parentheses / `not`.
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.pos)
    }

    fn bump(&mut self) -> Option<Token<'a>> {
        let tok = self.tokens.get(self.pos).cloned();
        if tok.is_some() {
            self.pos += 1;
        }
        tok
    }

    fn column(&self, byte_offset: usize) -> usize {
        column_of(self.input, byte_offset)
    }

    /// " at column N" of the next token, or "" at the end of input.
    fn here(&self) -> String {
        self.peek()
            .map(|t| format!(" at column {}", self.column(t.start)))
            .unwrap_or_default()
    }

    /// "after `x`" for the token just consumed, or "at the start of the expression".
    fn after_previous(&self) -> String {
        match self.pos.checked_sub(1).and_then(|p| self.tokens.get(p)) {
            Some(prev) => format!("after {}", describe(prev)),
            None => "at the start of the expression".to_owned(),
        }
    }

    fn enter(&mut self, at: usize) -> Result<(), QueryError> {
        if self.depth >= MAX_PREDICATE_DEPTH {
            return Err(QueryError(format!(
                "the where expression nests parentheses / `not` more than \
                 {MAX_PREDICATE_DEPTH} levels deep (at column {})",
                self.column(at)
            )));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn parse_or(&mut self) -> Result<Predicate, QueryError> {
        let mut left = self.parse_and()?;
        while self.peek().is_some_and(|t| is_keyword(t, "or")) {
            self.pos += 1;
            let right = self.parse_and()?;
            left = Predicate::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Predicate, QueryError> {
        let mut left = self.parse_unary()?;
        while self.peek().is_some_and(|t| is_keyword(t, "and")) {
            self.pos += 1;
            let right = self.parse_unary()?;
            left = Predicate::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// Parses `( expr )` after its opening parenthesis was consumed at `open`.
    fn parse_group(&mut self, open: usize, what: &str) -> Result<Predicate, QueryError> {
        self.enter(open)?;
        let inner = self.parse_or()?;
        match self.peek() {
            Some(t) if t.kind == Kind::RParen => {
                self.pos += 1;
            }
            other => {
                let got = describe_opt(other);
                return Err(syntax(format!(
                    "expected `)` to close the {what} at column {}, got {got}{}; \
                     `and` / `or` may continue the expression inside the parentheses",
                    self.column(open),
                    self.here()
                )));
            }
        }
        self.leave();
        Ok(inner)
    }

    fn parse_unary(&mut self) -> Result<Predicate, QueryError> {
        let Some(tok) = self.peek().cloned() else {
            return Err(syntax(format!(
                "expected a predicate such as `name = \"x\"` {}, got the end of the expression",
                self.after_previous()
            )));
        };
        match &tok.kind {
            Kind::LParen => {
                self.pos += 1;
                self.parse_group(tok.start, "`(`")
            }
            Kind::Ident if is_keyword(&tok, "not") => {
                self.pos += 1;
                match self.peek() {
                    Some(t) if t.kind == Kind::LParen => {
                        let open = t.start;
                        self.pos += 1;
                        let inner = self.parse_group(open, "`not (`")?;
                        Ok(Predicate::Not(Box::new(inner)))
                    }
                    other => Err(syntax(format!(
                        "expected `(` after `not` at column {}, got {}; \
                         negation takes a parenthesised predicate: not (name = \"x\")",
                        self.column(tok.start),
                        describe_opt(other)
                    ))),
                }
            }
            Kind::Ident => self.parse_comparison(),
            _ => Err(syntax(format!(
                "expected a field name, `(` or `not (` {}{}, got {}; \
                 a predicate starts with a field, e.g. name = \"x\"",
                self.after_previous(),
                self.here(),
                describe(&tok)
            ))),
        }
    }

    fn parse_field(&mut self) -> Result<(Field, Token<'a>), QueryError> {
        let Some(tok) = self.bump() else {
            return Err(syntax(
                "expected a field name, got the end of the expression",
            ));
        };
        let column = self.column(tok.start);
        if KEYWORDS.iter().any(|k| is_keyword(&tok, k)) {
            return Err(syntax(format!(
                "expected a field name at column {column}, got the keyword {}",
                describe(&tok)
            )));
        }
        if self.peek().is_some_and(|t| t.kind == Kind::LParen) {
            return Err(syntax(format!(
                "nested field predicates such as `{}(...)` (column {column}) are not supported; \
                 only the top-level fields id, name, createdAt, lastUsedAt, deleteAt can be queried",
                truncate(tok.text)
            )));
        }
        if let Some(field) = Field::from_api_name(tok.text) {
            return Ok((field, tok));
        }
        let hint = Field::ALL
            .into_iter()
            .find(|f| f.api_name().eq_ignore_ascii_case(tok.text))
            .map(|f| {
                format!(
                    " (did you mean `{}`? field names are case-sensitive)",
                    f.api_name()
                )
            })
            .unwrap_or_default();
        Err(syntax(format!(
            "unknown field `{}` at column {column}{hint}",
            truncate(tok.text)
        )))
    }

    fn parse_comparison(&mut self) -> Result<Predicate, QueryError> {
        let (field, field_tok) = self.parse_field()?;
        let name = field.api_name();
        let Some(op_tok) = self.peek().cloned() else {
            return Err(syntax(format!(
                "expected an operator after `{name}`, got the end of the expression"
            )));
        };
        let op_column = self.column(op_tok.start);
        match &op_tok.kind {
            Kind::Op(op) => {
                self.pos += 1;
                let value = self.parse_literal(field, &format!("`{name} {}`", op_tok.text))?;
                Ok(Predicate::Cmp {
                    field,
                    op: *op,
                    value,
                })
            }
            Kind::Ident if is_keyword(&op_tok, "in") => {
                self.pos += 1;
                let values = self.parse_list(field, &format!("`{name} in`"))?;
                Ok(Predicate::In {
                    field,
                    values,
                    negated: false,
                })
            }
            Kind::Ident if is_keyword(&op_tok, "not") => {
                self.pos += 1;
                match self.peek() {
                    Some(t) if is_keyword(t, "in") => {
                        self.pos += 1;
                        let values = self.parse_list(field, &format!("`{name} not in`"))?;
                        Ok(Predicate::In {
                            field,
                            values,
                            negated: true,
                        })
                    }
                    other => Err(syntax(format!(
                        "expected `in` after `{name} not` (column {op_column}), got {}",
                        describe_opt(other)
                    ))),
                }
            }
            Kind::Ident if is_keyword(&op_tok, "is") => {
                self.pos += 1;
                self.parse_is(field, op_column)
            }
            Kind::Ident if UNSUPPORTED_OPERATORS.iter().any(|k| is_keyword(&op_tok, k)) => {
                Err(syntax(format!(
                    "the `{}` operator (after `{name}` at column {op_column}) is not supported",
                    truncate(op_tok.text)
                )))
            }
            _ => Err(syntax(format!(
                "expected an operator after `{name}` (column {}), got {} at column {op_column}",
                self.column(field_tok.start),
                describe(&op_tok)
            ))),
        }
    }

    /// After `field is`.
    fn parse_is(&mut self, field: Field, is_column: usize) -> Result<Predicate, QueryError> {
        let name = field.api_name();
        let negated = self.peek().is_some_and(|t| is_keyword(t, "not"));
        if negated {
            self.pos += 1;
        }
        let so_far = if negated {
            format!("{name} is not")
        } else {
            format!("{name} is")
        };
        match self.peek() {
            Some(t) if is_keyword(t, "defined") => {
                self.pos += 1;
                Ok(Predicate::Defined {
                    field,
                    defined: !negated,
                })
            }
            Some(t) if is_keyword(t, "empty") => Err(syntax(format!(
                "`{so_far} empty` (column {is_column}) is not supported; \
                 use `is defined` / `is not defined`"
            ))),
            other => Err(syntax(format!(
                "expected `defined` after `{so_far}` (column {is_column}), got {}",
                describe_opt(other)
            ))),
        }
    }

    /// A string literal after `so_far` (e.g. "`name =`"), converted for `field`.
    fn parse_literal(&mut self, field: Field, so_far: &str) -> Result<Value, QueryError> {
        let here = self.here();
        match self.bump() {
            Some(Token {
                kind: Kind::Str(s), ..
            }) => convert(field, &s),
            Some(tok)
                if tok.kind == Kind::Bare || UNQUOTED_WORDS.iter().any(|w| is_keyword(&tok, w)) =>
            {
                Err(syntax(format!(
                    "unquoted literal `{}`{here} is not supported; literals are double-quoted \
                     strings, e.g. {} \"{}\"",
                    truncate(tok.text),
                    so_far.trim_matches('`'),
                    truncate(tok.text)
                )))
            }
            other => Err(syntax(format!(
                "expected a double-quoted string literal after {so_far}{here}, got {}",
                describe_opt(other.as_ref())
            ))),
        }
    }

    /// `( "a", "b", … )` after `in` / `not in`.
    fn parse_list(&mut self, field: Field, so_far: &str) -> Result<Vec<Value>, QueryError> {
        let open = match self.peek() {
            Some(t) if t.kind == Kind::LParen => t.start,
            other => {
                return Err(syntax(format!(
                    "expected `(` after {so_far}{}, got {}; lists look like \
                     {} (\"a\", \"b\")",
                    self.here(),
                    describe_opt(other),
                    so_far.trim_matches('`')
                )));
            }
        };
        self.pos += 1;
        if self.peek().is_some_and(|t| t.kind == Kind::RParen) {
            return Err(syntax(format!(
                "the list after {so_far} at column {} is empty; it needs 1 to {MAX_IN_VALUES} values",
                self.column(open)
            )));
        }
        let mut values = Vec::new();
        loop {
            if values.len() >= MAX_IN_VALUES {
                return Err(QueryError(format!(
                    "the list after {so_far} at column {} has more than {MAX_IN_VALUES} values; \
                     at most {MAX_IN_VALUES} are accepted",
                    self.column(open)
                )));
            }
            let context = if values.is_empty() {
                format!("{so_far} (")
            } else {
                "`,`".to_owned()
            };
            values.push(self.parse_literal(field, &context)?);
            match self.peek() {
                Some(t) if t.kind == Kind::Comma => {
                    self.pos += 1;
                }
                Some(t) if t.kind == Kind::RParen => {
                    self.pos += 1;
                    return Ok(values);
                }
                other => {
                    return Err(syntax(format!(
                        "expected `,` or `)` in the list after {so_far} (opened at column {}), \
                         got {}{}",
                        self.column(open),
                        describe_opt(other),
                        self.here()
                    )));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Literal conversion
// ---------------------------------------------------------------------------------------------

/// Converts a string literal to the stored representation of `field`.
fn convert(field: Field, literal: &str) -> Result<Value, QueryError> {
    match field {
        Field::Id | Field::Name => Ok(Value::Text(literal.to_owned())),
        Field::CreatedAt | Field::DeleteAt => parse_datetime_millis(literal)
            .map(Value::Int)
            .ok_or_else(|| {
                QueryError(format!(
                    "`{}` takes an RFC 3339 date-time such as \"2018-01-01T00:00:00.001Z\" \
                     or a date such as \"2018-01-01\" (midnight UTC), got \"{}\"",
                    field.api_name(),
                    truncate(literal)
                ))
            }),
        Field::LastUsedAt => parse_date(literal)
            .map(|d| Value::Int(days_since_epoch(d)))
            .ok_or_else(|| {
                QueryError(format!(
                    "`{}` takes a date in the form YYYY-MM-DD such as \"2018-01-01\", got \"{}\"",
                    field.api_name(),
                    truncate(literal)
                ))
            }),
    }
}

/// A strict `YYYY-MM-DD` calendar date.
fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b.iter().enumerate().all(|(i, &c)| {
            if i == 4 || i == 7 {
                c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shape_ok {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn days_since_epoch(d: NaiveDate) -> i64 {
    d.and_time(NaiveTime::MIN)
        .and_utc()
        .timestamp()
        .div_euclid(86_400)
}

/// An RFC 3339 date-time, or a plain date meaning midnight UTC, as Unix milliseconds.
fn parse_datetime_millis(s: &str) -> Option<i64> {
    if let Some(d) = parse_date(s) {
        return Some(d.and_time(NaiveTime::MIN).and_utc().timestamp_millis());
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|dt| dt.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Predicate {
        match parse(s) {
            Ok(p) => p,
            Err(e) => panic!("`{s}` should parse, got: {e}"),
        }
    }

    fn err(s: &str) -> String {
        match parse(s) {
            Ok(p) => panic!("`{s}` should fail, parsed as {p:?}"),
            Err(e) => e.0,
        }
    }

    fn syntax_err(s: &str) -> String {
        let e = err(s);
        assert!(
            e.ends_with(&format!("; {SUPPORTED_SUBSET}")),
            "syntax error for `{s}` should list the supported subset: {e}"
        );
        e
    }

    fn cmp(field: Field, op: CmpOp, v: &str) -> Predicate {
        Predicate::Cmp {
            field,
            op,
            value: Value::Text(v.to_owned()),
        }
    }

    fn name_is(v: &str) -> Predicate {
        cmp(Field::Name, CmpOp::Eq, v)
    }

    fn and(a: Predicate, b: Predicate) -> Predicate {
        Predicate::And(Box::new(a), Box::new(b))
    }

    fn or(a: Predicate, b: Predicate) -> Predicate {
        Predicate::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Predicate) -> Predicate {
        Predicate::Not(Box::new(a))
    }

    #[test]
    fn nul_in_literals_is_refused() {
        assert!(syntax_err("name = \"a\u{0}b\"").contains("NUL"));
        assert!(syntax_err("id in (\"x\", \"\u{0}\")").contains("NUL"));
    }

    #[test]
    fn each_comparison_operator() {
        for (text, op) in [
            ("=", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<>", CmpOp::Ne),
            ("<", CmpOp::Lt),
            ("<=", CmpOp::Le),
            (">", CmpOp::Gt),
            (">=", CmpOp::Ge),
        ] {
            assert_eq!(p(&format!("name {text} \"x\"")), cmp(Field::Name, op, "x"));
            // Without spaces too.
            assert_eq!(p(&format!("id{text}\"y\"")), cmp(Field::Id, op, "y"));
        }
    }

    #[test]
    fn in_and_not_in() {
        assert_eq!(
            p(r#"id in ("a", "b")"#),
            Predicate::In {
                field: Field::Id,
                values: vec![Value::Text("a".into()), Value::Text("b".into())],
                negated: false,
            }
        );
        assert_eq!(
            p(r#"name NOT IN ("a")"#),
            Predicate::In {
                field: Field::Name,
                values: vec![Value::Text("a".into())],
                negated: true,
            }
        );
        assert_eq!(
            p(r#"lastUsedAt in ("1970-01-02","1970-01-01")"#),
            Predicate::In {
                field: Field::LastUsedAt,
                values: vec![Value::Int(1), Value::Int(0)],
                negated: false,
            }
        );
    }

    #[test]
    fn in_list_limits() {
        let list = |n: usize| {
            let items: Vec<String> = (0..n).map(|i| format!("\"{i}\"")).collect();
            format!("id in ({})", items.join(", "))
        };
        match p(&list(MAX_IN_VALUES)) {
            Predicate::In { values, .. } => assert_eq!(values.len(), MAX_IN_VALUES),
            other => panic!("unexpected {other:?}"),
        }
        let e = err(&list(MAX_IN_VALUES + 1));
        assert!(e.contains("more than 100 values"), "{e}");
        let e = syntax_err("id in ()");
        assert!(e.contains("is empty"), "{e}");
        let e = syntax_err(r#"id in ("a",)"#);
        assert!(
            e.contains("expected a double-quoted string literal after `,`"),
            "{e}"
        );
        let e = syntax_err(r#"id in ("a" "b")"#);
        assert!(e.contains("expected `,` or `)`"), "{e}");
        let e = syntax_err(r#"id in ("a""#);
        assert!(e.contains("got the end of the expression"), "{e}");
        let e = syntax_err(r#"id in "a""#);
        assert!(e.contains("expected `(` after `id in`"), "{e}");
        let e = syntax_err(r#"id not "a""#);
        assert!(e.contains("expected `in` after `id not`"), "{e}");
    }

    #[test]
    fn defined() {
        assert_eq!(
            p("deleteAt is defined"),
            Predicate::Defined {
                field: Field::DeleteAt,
                defined: true,
            }
        );
        assert_eq!(
            p("lastUsedAt IS Not DEFINED"),
            Predicate::Defined {
                field: Field::LastUsedAt,
                defined: false,
            }
        );
        let e = syntax_err("name is");
        assert!(e.contains("expected `defined` after `name is`"), "{e}");
        let e = syntax_err("name is not");
        assert!(e.contains("expected `defined` after `name is not`"), "{e}");
        let e = syntax_err("name is empty");
        assert!(e.contains("not supported"), "{e}");
        let e = syntax_err("name is not empty");
        assert!(e.contains("not supported"), "{e}");
    }

    #[test]
    fn precedence_and_associativity() {
        let (a, b, c) = (
            cmp(Field::Id, CmpOp::Eq, "1"),
            name_is("2"),
            cmp(Field::Id, CmpOp::Eq, "3"),
        );
        assert_eq!(
            p(r#"id = "1" or name = "2" and id = "3""#),
            or(a.clone(), and(b.clone(), c.clone()))
        );
        assert_eq!(
            p(r#"id = "1" and name = "2" or id = "3""#),
            or(and(a.clone(), b.clone()), c.clone())
        );
        assert_eq!(
            p(r#"(id = "1" or name = "2") and id = "3""#),
            and(or(a.clone(), b.clone()), c.clone())
        );
        // Left-associative chains.
        assert_eq!(
            p(r#"id = "1" OR name = "2" Or id = "3""#),
            or(or(a.clone(), b.clone()), c.clone())
        );
        assert_eq!(
            p(r#"id = "1" AND name = "2" and id = "3""#),
            and(and(a.clone(), b.clone()), c.clone())
        );
        assert_eq!(
            p(r#"not (id = "1") and NOT(name = "2" or id = "3")"#),
            and(not(a.clone()), not(or(b, c)))
        );
        assert_eq!(p(r#"((( id = "1" )))"#), a);
    }

    #[test]
    fn escapes() {
        assert_eq!(p(r#"name = "a\"b\\c""#), name_is("a\"b\\c"));
        assert_eq!(p(r#"name = """#), name_is(""));
        assert_eq!(p(r#"name = "\\""#), name_is("\\"));
        assert_eq!(p("name = \"héllo wörld ✓\""), name_is("héllo wörld ✓"));
        assert_eq!(p("name = \"tab\there\""), name_is("tab\there"));
        let e = syntax_err(r#"name = "a\nb""#);
        assert!(e.contains("unsupported escape `\\n`"), "{e}");
        let e = syntax_err(r#"name = "abc\"#);
        assert!(e.contains("unterminated string literal"), "{e}");
        let e = syntax_err(r#"name = "abc\""#);
        assert!(e.contains("unterminated string literal"), "{e}");
    }

    #[test]
    fn date_time_literals() {
        let ms = |s: &str| match p(&format!("createdAt > \"{s}\"")) {
            Predicate::Cmp {
                value: Value::Int(v),
                ..
            } => v,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(ms("2018-01-01T00:00:00.001Z"), 1_514_764_800_001);
        assert_eq!(ms("2018-01-01T00:00:00Z"), 1_514_764_800_000);
        assert_eq!(ms("2018-01-01"), 1_514_764_800_000);
        assert_eq!(ms("2018-01-01T01:00:00+01:00"), 1_514_764_800_000);
        assert_eq!(ms("1969-12-31T23:59:59.999Z"), -1);
        assert_eq!(
            p(r#"deleteAt <= "1970-01-01T00:00:00Z""#),
            Predicate::Cmp {
                field: Field::DeleteAt,
                op: CmpOp::Le,
                value: Value::Int(0),
            }
        );
        let days = |s: &str| match p(&format!("lastUsedAt = \"{s}\"")) {
            Predicate::Cmp {
                value: Value::Int(v),
                ..
            } => v,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(days("1970-01-01"), 0);
        assert_eq!(days("2018-01-01"), 17_532);
        assert_eq!(days("1969-12-31"), -1);
    }

    #[test]
    fn bad_literals_say_the_format() {
        for bad in [
            "yesterday",
            "2018-02-30",
            "2018-1-1",
            "2018-01-01T00:00:00",
            "",
            "+2018-01-01",
        ] {
            let e = err(&format!("createdAt > \"{bad}\""));
            assert!(e.contains("`createdAt` takes an RFC 3339 date-time"), "{e}");
            let e = err(&format!("deleteAt > \"{bad}\""));
            assert!(e.contains("`deleteAt` takes an RFC 3339 date-time"), "{e}");
        }
        for bad in ["2018-01-01T00:00:00Z", "2018-13-01", "01/01/2018", "x"] {
            let e = err(&format!("lastUsedAt > \"{bad}\""));
            assert!(
                e.contains("`lastUsedAt` takes a date in the form YYYY-MM-DD"),
                "{e}"
            );
        }
        let e = err(r#"lastUsedAt in ("2018-01-01", "nope")"#);
        assert!(e.contains("YYYY-MM-DD") && e.contains("nope"), "{e}");
    }

    #[test]
    fn unknown_fields() {
        let e = syntax_err(r#"key = "x""#);
        assert!(e.contains("unknown field `key`"), "{e}");
        assert!(
            e.contains("fields id, name, createdAt, lastUsedAt, deleteAt"),
            "{e}"
        );
        let e = syntax_err(r#"Name = "x""#);
        assert!(e.contains("did you mean `name`"), "{e}");
        let e = syntax_err(r#"custom.fields.x = "x""#);
        assert!(e.contains("unknown field `custom.fields.x`"), "{e}");
        let e = syntax_err(r#"and = "x""#);
        assert!(
            e.contains("expected a field name at column 1, got the keyword `and`"),
            "{e}"
        );
    }

    #[test]
    fn unsupported_constructs() {
        let e = syntax_err(r#"name contains "x""#);
        assert!(
            e.contains("`contains` operator") && e.contains("not supported"),
            "{e}"
        );
        let e = syntax_err(r#"name contains any ("x")"#);
        assert!(e.contains("not supported"), "{e}");
        let e = syntax_err(r"geo within circle(1, 2, 3)");
        assert!(e.contains("unknown field `geo`"), "{e}");
        let e = syntax_err(r"name within circle(1, 2, 3)");
        assert!(
            e.contains("`within` operator") && e.contains("not supported"),
            "{e}"
        );
        let e = syntax_err(r#"masterData(current(name = "x"))"#);
        assert!(
            e.contains("nested field predicates") && e.contains("not supported"),
            "{e}"
        );
        let e = syntax_err(r#"name(en = "x")"#);
        assert!(
            e.contains("nested field predicates such as `name(...)`"),
            "{e}"
        );
        let e = syntax_err("createdAt > 5");
        assert!(
            e.contains("unquoted literal `5`") && e.contains("not supported"),
            "{e}"
        );
        let e = syntax_err("createdAt > 2018-01-01");
        assert!(e.contains("unquoted literal `2018-01-01`"), "{e}");
        let e = syntax_err("name = true");
        assert!(e.contains("unquoted literal `true`"), "{e}");
        let e = syntax_err(r#"id in ("a", 5)"#);
        assert!(e.contains("unquoted literal `5`"), "{e}");
        let e = syntax_err("name = 'x'");
        assert!(e.contains("single-quoted"), "{e}");
    }

    #[test]
    fn syntax_errors_say_what_was_expected_where() {
        let e = syntax_err("name");
        assert!(e.contains("expected an operator after `name`"), "{e}");
        let e = syntax_err(r#"name "x""#);
        assert!(e.contains("expected an operator after `name`"), "{e}");
        let e = syntax_err(r#"name == "x""#);
        assert!(
            e.contains("expected a double-quoted string literal after `name =`"),
            "{e}"
        );
        let e = syntax_err(r#"name ! "x""#);
        assert!(e.contains("did you mean `!=`"), "{e}");
        let e = syntax_err("name =");
        assert!(e.contains("got the end of the expression"), "{e}");
        let e = syntax_err(r#"name = "x" and"#);
        assert!(
            e.contains("expected a predicate") && e.contains("after `and`"),
            "{e}"
        );
        let e = syntax_err(r#"name = "x" name = "y""#);
        assert!(e.contains("expected `and`, `or` or the end"), "{e}");
        let e = syntax_err(r#"not name = "x""#);
        assert!(e.contains("expected `(` after `not`"), "{e}");
        let e = syntax_err(r#""x" = name"#);
        assert!(e.contains("expected a field name"), "{e}");
        for empty in ["", "   ", "\t\n"] {
            let e = syntax_err(empty);
            assert!(e.contains("empty"), "{e}");
        }
        let e = syntax_err("name = \"x\" \u{1}");
        assert!(
            e.contains("unexpected character `\\u{1}` at column 12"),
            "{e}"
        );
        let e = syntax_err("nämé = \"x\"");
        assert!(e.contains("unexpected character `ä` at column 2"), "{e}");
        let e = syntax_err("name = \"x\" ; drop table clients");
        assert!(e.contains("unexpected character `;`"), "{e}");
    }

    #[test]
    fn unbalanced_parentheses() {
        let e = syntax_err(r#"(name = "x""#);
        assert!(
            e.contains("expected `)` to close the `(` at column 1"),
            "{e}"
        );
        let e = syntax_err(r#"name = "x")"#);
        assert!(e.contains("unbalanced parentheses"), "{e}");
        let e = syntax_err(r#"not (name = "x""#);
        assert!(e.contains("expected `)` to close the `not (`"), "{e}");
        let e = syntax_err("()");
        assert!(e.contains("expected a field name"), "{e}");
        let e = syntax_err(")");
        assert!(e.contains("expected a field name"), "{e}");
    }

    #[test]
    fn depth_limit() {
        let nest = |n: usize| format!("{}name = \"x\"{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(p(&nest(MAX_PREDICATE_DEPTH)), name_is("x"));
        let e = err(&nest(MAX_PREDICATE_DEPTH + 1));
        assert!(e.contains("more than 16 levels deep"), "{e}");
        let nots = |n: usize| format!("{}name = \"x\"{}", "not (".repeat(n), ")".repeat(n));
        assert!(parse(&nots(MAX_PREDICATE_DEPTH)).is_ok());
        let e = err(&nots(MAX_PREDICATE_DEPTH + 1));
        assert!(e.contains("levels deep"), "{e}");
        // Hostile: far too many opening parentheses.
        let e = err(&"(".repeat(MAX_PREDICATE_LEN));
        assert!(e.contains("levels deep"), "{e}");
    }

    #[test]
    fn length_limit() {
        let ok = format!("name = \"{}\"", "a".repeat(MAX_PREDICATE_LEN - 9));
        assert_eq!(ok.len(), MAX_PREDICATE_LEN);
        assert!(parse(&ok).is_ok());
        let long = format!("name = \"{}\"", "a".repeat(MAX_PREDICATE_LEN - 8));
        let e = err(&long);
        assert!(e.contains("at most 4096 bytes"), "{e}");
        let huge = "(".repeat(1 << 20);
        let e = err(&huge);
        assert!(e.contains("at most 4096 bytes"), "{e}");
    }

    #[test]
    fn long_chains_are_not_recursive() {
        // `or` / `and` chains are iterative: hundreds of terms within the byte limit parse fine.
        let mut s = String::from("id=\"\"");
        while s.len() + 9 <= MAX_PREDICATE_LEN {
            s.push_str(" or id=\"\"");
        }
        assert!(parse(&s).is_ok());
        let mut s = String::from("id=\"\"");
        while s.len() + 10 <= MAX_PREDICATE_LEN {
            s.push_str(" and id=\"\"");
        }
        assert!(parse(&s).is_ok());
    }

    #[test]
    fn hostile_inputs_fail_cleanly() {
        let n = MAX_PREDICATE_LEN;
        for hostile in [
            "\"".repeat(n),
            "\\".repeat(n),
            format!("name = \"{}", "\\\"".repeat(n / 2 - 5)),
            "not (".repeat(n / 5),
            "name in (\"a\",".repeat(n / 13),
            "<<<>>>!=".repeat(n / 8),
            "é".repeat(n / 2),
            "\u{0}".repeat(n),
            ")".repeat(n),
            "a".repeat(n),
            "1".repeat(n),
        ] {
            assert!(hostile.len() <= n);
            assert!(parse(&hostile).is_err(), "{}", truncate(&hostile));
        }
    }

    // ---- property tests ----------------------------------------------------------------------

    fn arb_text_field() -> impl Strategy<Value = Field> {
        prop_oneof![Just(Field::Id), Just(Field::Name)]
    }

    fn arb_field() -> impl Strategy<Value = Field> {
        prop::sample::select(Field::ALL.to_vec())
    }

    fn arb_value(field: Field) -> BoxedStrategy<Value> {
        match field {
            Field::Id | Field::Name => prop::collection::vec(
                any::<char>().prop_filter("NUL is refused", |c| *c != '\0'),
                0..10,
            )
            .prop_map(|cs| Value::Text(cs.into_iter().collect()))
            .boxed(),
            // 0000-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999Z
            Field::CreatedAt | Field::DeleteAt => (-62_167_219_200_000i64..=253_402_300_799_999)
                .prop_map(Value::Int)
                .boxed(),
            // 0000-01-01 ..= 9999-12-31
            Field::LastUsedAt => (-719_528i64..=2_932_896).prop_map(Value::Int).boxed(),
        }
    }

    fn arb_op() -> impl Strategy<Value = CmpOp> {
        prop::sample::select(vec![
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ])
    }

    fn arb_leaf() -> impl Strategy<Value = Predicate> {
        prop_oneof![
            (arb_field(), arb_op()).prop_flat_map(|(field, op)| {
                arb_value(field).prop_map(move |value| Predicate::Cmp { field, op, value })
            }),
            (arb_field(), any::<bool>()).prop_flat_map(|(field, negated)| {
                prop::collection::vec(arb_value(field), 1..4).prop_map(move |values| {
                    Predicate::In {
                        field,
                        values,
                        negated,
                    }
                })
            }),
            (arb_field(), any::<bool>())
                .prop_map(|(field, defined)| Predicate::Defined { field, defined }),
            (arb_text_field(), arb_op()).prop_map(|(field, op)| Predicate::Cmp {
                field,
                op,
                value: Value::Text("\"\\".to_owned()),
            }),
        ]
    }

    fn arb_predicate() -> impl Strategy<Value = Predicate> {
        arb_leaf().prop_recursive(5, 24, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| and(a, b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| or(a, b)),
                inner.prop_map(not),
            ]
        })
    }

    fn render_value(field: Field, v: &Value, out: &mut String) {
        out.push('"');
        match (field, v) {
            (_, Value::Text(s)) => {
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
            (Field::LastUsedAt, Value::Int(days)) => {
                let date = NaiveDate::default() + chrono::Duration::days(*days);
                out.push_str(&date.format("%Y-%m-%d").to_string());
            }
            (_, Value::Int(ms)) => {
                let dt = DateTime::from_timestamp_millis(*ms).unwrap();
                out.push_str(&dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            }
        }
        out.push('"');
    }

    /// 0: `or`, 1: `and`, 2: atoms.
    fn prec(p: &Predicate) -> u8 {
        match p {
            Predicate::Or(..) => 0,
            Predicate::And(..) => 1,
            _ => 2,
        }
    }

    fn render_operand(p: &Predicate, parens: bool, out: &mut String) {
        if parens {
            out.push('(');
        }
        render(p, out);
        if parens {
            out.push(')');
        }
    }

    /// Pretty-prints with the fewest parentheses that keep the tree shape.
    fn render(p: &Predicate, out: &mut String) {
        match p {
            Predicate::Cmp { field, op, value } => {
                out.push_str(field.api_name());
                out.push(' ');
                out.push_str(match op {
                    CmpOp::Ne => "!=",
                    other => other.sql(),
                });
                out.push(' ');
                render_value(*field, value, out);
            }
            Predicate::In {
                field,
                values,
                negated,
            } => {
                out.push_str(field.api_name());
                out.push_str(if *negated { " not in (" } else { " in (" });
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    render_value(*field, v, out);
                }
                out.push(')');
            }
            Predicate::Defined { field, defined } => {
                out.push_str(field.api_name());
                out.push_str(if *defined {
                    " is defined"
                } else {
                    " is not defined"
                });
            }
            Predicate::Or(a, b) => {
                render_operand(a, false, out);
                out.push_str(" or ");
                render_operand(b, prec(b) == 0, out);
            }
            Predicate::And(a, b) => {
                render_operand(a, prec(a) < 1, out);
                out.push_str(" and ");
                render_operand(b, prec(b) <= 1, out);
            }
            Predicate::Not(a) => {
                out.push_str("not (");
                render(a, out);
                out.push(')');
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn never_panics_on_arbitrary_strings(s in any::<String>()) {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_long_strings(s in ".{0,6000}") {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_token_soup(parts in prop::collection::vec(prop::sample::select(vec![
            "(", ")", ",", "=", "!=", "<>", "<", "<=", ">", ">=", "!", "\"", "\\", "\"x\"",
            "\"2018-01-01\"", "\"2018-01-01T00:00:00Z\"", " and ", " or ", " not ", " in ",
            " is ", " defined ", "id", "name", "createdAt", "lastUsedAt", "deleteAt", "5",
            "contains", "é", "\u{0}", " ", "'",
        ]), 0..400)) {
            let s: String = parts.concat();
            let _ = parse(&s);
        }

        #[test]
        fn rendered_ast_parses_back(pred in arb_predicate()) {
            let mut s = String::new();
            render(&pred, &mut s);
            prop_assume!(s.len() <= MAX_PREDICATE_LEN);
            match parse(&s) {
                Ok(parsed) => prop_assert_eq!(parsed, pred, "rendered as {}", s),
                Err(e) => prop_assert!(false, "`{}` failed to parse: {}", s, e),
            }
        }
    }
}
