//! Renders core's client query AST into a SQL `WHERE` condition and `ORDER BY`
//! list with numbered placeholders. Column names come from a fixed table; every literal is a
//! bound value, never part of the SQL text.
//!
//! Semantics, identical on both backends:
//! - the logic is two-valued: a comparison, `in` or `not in` on a field the client does not
//!   have (`lastUsedAt`, `deleteAt` may be undefined) is false, and `not (p)` matches exactly
//!   the clients `p` does not;
//! - text compares bytewise (SQLite BINARY, PostgreSQL `COLLATE "C"` in the schema);
//! - in a sort, clients without the field come last in both directions; every sort ends with
//!   `createdAt asc, id asc`, so that pages are stable.

use crate::{StoreError, StoreResult};
use castellan_core::query::{Direction, Field, Predicate, Sort, Value};
use std::fmt::Write;

/// A value to bind, in placeholder order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// SQL text with `$n` placeholders and the values they stand for.
#[derive(Debug, Default)]
pub(crate) struct Rendered {
    pub sql: String,
    pub binds: Vec<Bind>,
}

impl Rendered {
    /// Adds a value and answers its placeholder.
    pub(crate) fn push(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }
}

enum Kind {
    Text,
    Int,
}

struct Column {
    name: &'static str,
    kind: Kind,
    nullable: bool,
}

fn column(field: Field) -> Column {
    let (name, kind, nullable) = match field {
        Field::Id => ("id", Kind::Text, false),
        Field::Name => ("name", Kind::Text, false),
        Field::CreatedAt => ("created_at", Kind::Int, false),
        Field::LastUsedAt => ("last_used_at", Kind::Int, true),
        Field::DeleteAt => ("delete_at", Kind::Int, true),
    };
    Column {
        name,
        kind,
        nullable,
    }
}

fn bind_for(field: Field, col: &Column, value: &Value) -> StoreResult<Bind> {
    match (&col.kind, value) {
        (Kind::Text, Value::Text(s)) => Ok(Bind::Text(s.clone())),
        (Kind::Int, Value::Int(i)) => Ok(Bind::Int(*i)),
        // The parser converts literals to the field's representation; a mismatch is a bug
        // upstream, reported rather than compared with surprising results.
        _ => Err(StoreError::Corrupt(format!(
            "query compares `{}` with a value of another type",
            field.api_name()
        ))),
    }
}

/// Appends the condition for `p` to `out.sql`, its values to `out.binds`.
pub(crate) fn render_predicate(p: &Predicate, out: &mut Rendered) -> StoreResult<()> {
    match p {
        Predicate::Cmp { field, op, value } => {
            let col = column(*field);
            let ph = out.push(bind_for(*field, &col, value)?);
            let cmp = format!("{} {} {ph}", col.name, op.sql());
            guarded(&col, &cmp, out);
        }
        Predicate::In {
            field,
            values,
            negated,
        } => {
            let col = column(*field);
            if values.is_empty() {
                // `in ()` matches nothing; `not in ()` every client that has the field.
                let always = if *negated { "1 = 1" } else { "1 = 0" };
                guarded(&col, always, out);
                return Ok(());
            }
            let mut list = String::new();
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    list.push_str(", ");
                }
                list.push_str(&out.push(bind_for(*field, &col, v)?));
            }
            let not = if *negated { "NOT " } else { "" };
            guarded(&col, &format!("{} {not}IN ({list})", col.name), out);
        }
        Predicate::Defined { field, defined } => {
            let col = column(*field);
            let is = if *defined { "IS NOT NULL" } else { "IS NULL" };
            let _ = write!(out.sql, "{} {is}", col.name);
        }
        Predicate::And(a, b) => binary(a, "AND", b, out)?,
        Predicate::Or(a, b) => binary(a, "OR", b, out)?,
        Predicate::Not(inner) => {
            out.sql.push_str("NOT (");
            render_predicate(inner, out)?;
            out.sql.push(')');
        }
    }
    Ok(())
}

/// Writes `cond`, made false (not NULL) for clients without the field.
fn guarded(col: &Column, cond: &str, out: &mut Rendered) {
    if col.nullable {
        let _ = write!(out.sql, "({} IS NOT NULL AND {cond})", col.name);
    } else {
        let _ = write!(out.sql, "({cond})");
    }
}

fn binary(a: &Predicate, op: &str, b: &Predicate, out: &mut Rendered) -> StoreResult<()> {
    out.sql.push('(');
    render_predicate(a, out)?;
    let _ = write!(out.sql, " {op} ");
    render_predicate(b, out)?;
    out.sql.push(')');
    Ok(())
}

/// The `ORDER BY` list (without the keywords) for `sort`, ending with the stable default.
pub(crate) fn render_order(sort: &[Sort]) -> String {
    let mut parts: Vec<String> = sort
        .iter()
        .map(|s| {
            let col = column(s.field);
            let dir = match s.direction {
                Direction::Asc => "ASC",
                Direction::Desc => "DESC",
            };
            if col.nullable {
                format!("{} {dir} NULLS LAST", col.name)
            } else {
                format!("{} {dir}", col.name)
            }
        })
        .collect();
    parts.push("created_at ASC".to_owned());
    parts.push("id ASC".to_owned());
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use castellan_core::query::CmpOp;

    fn render(p: &Predicate) -> Rendered {
        let mut out = Rendered::default();
        render_predicate(p, &mut out).unwrap();
        out
    }

    #[test]
    fn values_are_bound_never_interpolated() {
        let p = Predicate::And(
            Box::new(Predicate::Cmp {
                field: Field::Name,
                op: CmpOp::Eq,
                value: Value::Text("x' OR '1'='1".to_owned()),
            }),
            Box::new(Predicate::In {
                field: Field::LastUsedAt,
                values: vec![Value::Int(3), Value::Int(4)],
                negated: true,
            }),
        );
        let r = render(&p);
        assert_eq!(
            r.sql,
            "((name = $1) AND (last_used_at IS NOT NULL AND last_used_at NOT IN ($2, $3)))"
        );
        assert_eq!(
            r.binds,
            vec![
                Bind::Text("x' OR '1'='1".to_owned()),
                Bind::Int(3),
                Bind::Int(4)
            ]
        );
    }

    #[test]
    fn not_and_defined_render_plainly() {
        let p = Predicate::Not(Box::new(Predicate::Or(
            Box::new(Predicate::Defined {
                field: Field::DeleteAt,
                defined: false,
            }),
            Box::new(Predicate::Cmp {
                field: Field::CreatedAt,
                op: CmpOp::Ne,
                value: Value::Int(5),
            }),
        )));
        assert_eq!(
            render(&p).sql,
            "NOT ((delete_at IS NULL OR (created_at <> $1)))"
        );
    }

    #[test]
    fn type_mismatch_is_an_error() {
        let p = Predicate::Cmp {
            field: Field::CreatedAt,
            op: CmpOp::Eq,
            value: Value::Text("yesterday".to_owned()),
        };
        assert!(render_predicate(&p, &mut Rendered::default()).is_err());
    }

    #[test]
    fn order_ends_with_the_stable_default() {
        assert_eq!(render_order(&[]), "created_at ASC, id ASC");
        let s = [
            Sort {
                field: Field::DeleteAt,
                direction: Direction::Desc,
            },
            Sort {
                field: Field::Name,
                direction: Direction::Asc,
            },
        ];
        assert_eq!(
            render_order(&s),
            "delete_at DESC NULLS LAST, name ASC, created_at ASC, id ASC"
        );
    }
}
