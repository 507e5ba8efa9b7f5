//! A page's form whose field names may repeat (`scope`): read in the order sent, each name
//! asked for once or as all its values.

use crate::people::http::csrf_form::PageForm;
use serde::Deserialize;

/// A submitted form (`application/x-www-form-urlencoded`; undecodable bytes become U+FFFD),
/// its fields in the order sent: a name may repeat (`scope`).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Fields(Vec<(String, String)>);

impl PageForm for Fields {
    fn csrf(&self) -> Option<&str> {
        self.one("csrf").ok().flatten()
    }
}

impl Fields {
    /// The value of `name`; refused when it is sent more than once.
    pub fn one<'a>(&'a self, name: &'a str) -> Result<Option<&'a str>, String> {
        let mut values = self.all(name);
        match (values.next(), values.next()) {
            (v, None) => Ok(v),
            _ => Err(format!("The field “{name}” was sent more than once.")),
        }
    }

    /// Every value of `name`, in the order sent.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}
