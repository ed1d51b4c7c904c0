//! `Domain`: a domain with its products, owners, namespaces and policies.

use crate::types::owner::Owner;
use async_graphql::{Json, SimpleObject};
use serde_json::Value;

#[derive(SimpleObject)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub owners: Vec<Owner>,
    pub namespaces: Vec<String>,
    pub version: u64,
    pub policies: Json<Value>,
    pub products: Vec<String>,
}
