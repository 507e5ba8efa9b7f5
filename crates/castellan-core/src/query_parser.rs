pub(crate) fn parse(_input: &str) -> Result<crate::query::Predicate, crate::query::QueryError> { Err(crate::query::QueryError("not yet".into())) }
