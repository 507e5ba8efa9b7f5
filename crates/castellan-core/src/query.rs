//! Query predicates and sorting for the client management API, in the subset of
//! the commercetools predicate syntax that Castellan supports.
//!
//! Supported (documented in `docs/api.md`):
//! - fields `id`, `name` (strings), `createdAt`, `deleteAt` (date-times), `lastUsedAt` (date);
//! - comparisons `=`, `!=`, `<>`, `<`, `<=`, `>`, `>=` against a quoted literal,
//!   `field in ("a", "b")`, `field not in (…)`, `field is defined`, `field is not defined`;
//! - `and`, `or`, `not (…)` and parentheses (`and` binds tighter than `or`);
//! - several `where` parameters are combined with `and`;
//! - `sort=<field> asc|desc`, repeatable, applied in order.
//!
//! Parsing turns literals into the stored representation of the field: strings stay text,
//! date-times become Unix milliseconds, dates become days since 1970-01-01, so that a storage
//! backend renders the AST to SQL without knowing the literal syntax.

use serde::{Deserialize, Serialize};

/// Longest `where` expression accepted, in bytes.
pub const MAX_PREDICATE_LEN: usize = 4096;
/// Deepest nesting of parentheses / `not` accepted.
pub const MAX_PREDICATE_DEPTH: usize = 16;
/// Most values in one `in (…)` list.
pub const MAX_IN_VALUES: usize = 100;

/// A client field a query may filter or sort on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Field {
    /// `id`.
    Id,
    /// `name`.
    Name,
    /// `createdAt`.
    CreatedAt,
    /// `lastUsedAt`.
    LastUsedAt,
    /// `deleteAt`.
    DeleteAt,
}

impl Field {
    /// Every field.
    pub const ALL: [Field; 5] = [
        Field::Id,
        Field::Name,
        Field::CreatedAt,
        Field::LastUsedAt,
        Field::DeleteAt,
    ];

    /// The name used in predicates and sort expressions.
    pub fn api_name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Name => "name",
            Field::CreatedAt => "createdAt",
            Field::LastUsedAt => "lastUsedAt",
            Field::DeleteAt => "deleteAt",
        }
    }

    /// The field with API name `s`, if any.
    pub fn from_api_name(s: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.api_name() == s)
    }
}

/// A literal converted to the stored representation of its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// `id`, `name`.
    Text(String),
    /// `createdAt`, `deleteAt`: Unix milliseconds; `lastUsedAt`: days since 1970-01-01.
    Int(i64),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    /// `=`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl CmpOp {
    /// The operator in SQL.
    pub fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A `where` expression, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Predicate {
    /// `field <op> value`.
    Cmp {
        /// The field compared.
        field: Field,
        /// The comparison.
        op: CmpOp,
        /// The value, as stored.
        value: Value,
    },
    /// `field in (…)`, or `field not in (…)`.
    In {
        /// The field tested.
        field: Field,
        /// The values it may (or may not) have.
        values: Vec<Value>,
        /// Whether this is `not in`.
        negated: bool,
    },
    /// `field is defined`, or `field is not defined`.
    Defined {
        /// The field tested.
        field: Field,
        /// Whether the field must have a value.
        defined: bool,
    },
    /// Both hold.
    And(Box<Predicate>, Box<Predicate>),
    /// Either holds.
    Or(Box<Predicate>, Box<Predicate>),
    /// It does not hold.
    Not(Box<Predicate>),
}

/// A sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// One `sort` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sort {
    /// The field sorted on.
    pub field: Field,
    /// Ascending or descending.
    pub direction: Direction,
}

/// The query endpoint's page size when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 20;
/// The largest `limit` the query endpoint accepts.
pub const MAX_LIMIT: u32 = 500;
/// The largest `offset` the query endpoint accepts: deeper pages need a narrower `where`.
pub const MAX_OFFSET: u32 = 10_000;

/// A validated query of clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientQuery {
    /// The `where` filter, if any.
    pub predicate: Option<Predicate>,
    /// The sort keys, in order.
    pub sort: Vec<Sort>,
    /// How many clients at most.
    pub limit: u32,
    /// How many matching clients to skip.
    pub offset: u32,
    /// Whether to count every match (`total`).
    pub with_total: bool,
}

impl Default for ClientQuery {
    fn default() -> Self {
        ClientQuery {
            predicate: None,
            sort: Vec::new(),
            limit: DEFAULT_LIMIT,
            offset: 0,
            with_total: true,
        }
    }
}

/// Why a `where` or `sort` expression was refused; the message says what is supported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// What the error messages append so the caller learns the supported subset.
pub const SUPPORTED_SUBSET: &str = "supported: fields id, name, createdAt, lastUsedAt, deleteAt; \
operators =, !=, <, <=, >, >=, in (...), not in (...), is defined, is not defined; \
combined with and, or, not (...) and parentheses; string literals in double quotes";

/// Parses one `where` expression.
pub fn parse_predicate(input: &str) -> Result<Predicate, QueryError> {
    crate::query_parser::parse(input)
}

/// Parses the `where` parameters of one request (combined with `and`).
pub fn parse_predicates(inputs: &[String]) -> Result<Option<Predicate>, QueryError> {
    let mut acc: Option<Predicate> = None;
    for i in inputs {
        let p = parse_predicate(i)?;
        acc = Some(match acc {
            None => p,
            Some(a) => Predicate::And(Box::new(a), Box::new(p)),
        });
    }
    Ok(acc)
}

/// Parses one `sort` parameter: `<field> asc|desc` (direction defaults to `asc`).
pub fn parse_sort(input: &str) -> Result<Sort, QueryError> {
    let mut parts = input.split_whitespace();
    let field_name = parts
        .next()
        .ok_or_else(|| QueryError("sort is empty; expected `<field> asc|desc`".to_owned()))?;
    let field = Field::from_api_name(field_name).ok_or_else(|| {
        QueryError(format!(
            "cannot sort by `{}`; sortable fields: id, name, createdAt, lastUsedAt, deleteAt",
            truncate(field_name)
        ))
    })?;
    let direction = match parts.next() {
        None | Some("asc") => Direction::Asc,
        Some("desc") => Direction::Desc,
        Some(other) => {
            return Err(QueryError(format!(
                "sort direction must be asc or desc, got `{}`",
                truncate(other)
            )))
        }
    };
    if parts.next().is_some() {
        return Err(QueryError(
            "sort takes `<field> asc|desc` and nothing more".to_owned(),
        ));
    }
    Ok(Sort { field, direction })
}

/// Cuts user input quoted back in an error message to a readable length.
pub(crate) fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push_str("...");
    }
    out
}

/// Cuts input quoted back in an error message (for other crates).
pub fn truncate_for_message(s: &str) -> String {
    truncate(s)
}
