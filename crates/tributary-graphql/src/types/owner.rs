//! `Owner` (with where it was learned) and `Owned` (what an owner owns).

use crate::scalars::NodeRef;
use async_graphql::SimpleObject;
use tributary_service::OwnerView;

#[derive(SimpleObject, Clone)]
pub struct Owner {
    pub name: String,
    pub role: Option<String>,
    /// Where the ownership was learned: an `ownership` facet, a product, a domain.
    pub source: String,
}

impl crate::types::plain::Plain for Owner {
    const TYPE_NAME: &'static str = "Owner";

    fn plain_field(
        &self,
        name: &str,
        _selection: &async_graphql::parser::types::SelectionSet,
    ) -> Option<async_graphql::Value> {
        use async_graphql::Value;
        Some(match name {
            "name" => Value::String(self.name.clone()),
            "role" => crate::types::plain::optional(&self.role),
            "source" => Value::String(self.source.clone()),
            _ => return None,
        })
    }

    fn write_field(
        &self,
        name: &str,
        _selection: &async_graphql::parser::types::SelectionSet,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        write_owner_field(&self.name, self.role.as_deref(), &self.source, name, out)
    }
}

/// Writes field `field` of an `Owner` as JSON, as its value serialises; `None` for a field
/// that is not one of its scalars.
pub(crate) fn write_owner_field(
    name: &str,
    role: Option<&str>,
    source: &str,
    field: &str,
    out: &mut Vec<u8>,
) -> Option<()> {
    use crate::types::plain::{write_optional_str, write_str};
    match field {
        "name" => write_str(out, name),
        "role" => write_optional_str(out, role),
        "source" => write_str(out, source),
        _ => return None,
    }
    Some(())
}

pub(crate) fn owners(views: Vec<OwnerView>) -> Vec<Owner> {
    views.into_iter().map(|o| Owner { name: o.name, role: o.role, source: o.source }).collect()
}

#[derive(SimpleObject)]
pub struct Owned {
    pub datasets: Vec<NodeRef>,
    pub jobs: Vec<NodeRef>,
    pub products: Vec<String>,
    pub domains: Vec<String>,
}
