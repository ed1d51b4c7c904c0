//! Scopes and their textual grammar (see the crate docs).

use std::fmt;
use std::str::FromStr;

use crate::AuthError;

/// One grant a token carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `read`: queries.
    Read,
    /// `ingest` or `ingest@…`: writing OpenLineage events within the grant.
    Ingest(IngestGrant),
    /// `domain:<id>`: applying that domain's descriptor and its products' descriptors, and seeing
    /// its restricted products. The id follows the descriptor id rule (letters, digits, `.`, `_`,
    /// `-`, `/`; not empty).
    Domain(String),
    /// `admin`: everything.
    Admin,
}

/// The namespaces an `ingest` scope may write. `None` means not limited.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct IngestGrant {
    /// Job namespaces; `Some` holds at least one glob.
    pub jobs: Option<Vec<NamespaceGlob>>,
    /// Output dataset namespaces; `Some` holds at least one glob.
    pub datasets: Option<Vec<NamespaceGlob>>,
}

/// A namespace pattern: an exact namespace, or every namespace starting with a prefix
/// (written with a trailing `*`; the empty prefix matches every namespace).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NamespaceGlob {
    Exact(String),
    Prefix(String),
}

impl NamespaceGlob {
    pub fn matches(&self, namespace: &str) -> bool {
        match self {
            NamespaceGlob::Exact(exact) => namespace == exact,
            NamespaceGlob::Prefix(prefix) => namespace.starts_with(prefix.as_str()),
        }
    }
}

impl IngestGrant {
    /// The grant of a bare `ingest`: every namespace.
    pub fn any() -> Self {
        Self::default()
    }

    pub fn covers_job(&self, job_namespace: &str) -> bool {
        covers(self.jobs.as_deref(), job_namespace)
    }

    pub fn covers_dataset(&self, dataset_namespace: &str) -> bool {
        covers(self.datasets.as_deref(), dataset_namespace)
    }
}

fn covers(globs: Option<&[NamespaceGlob]>, namespace: &str) -> bool {
    match globs {
        None => true,
        Some(globs) => globs.iter().any(|glob| glob.matches(namespace)),
    }
}

const INGEST: &str = "ingest";
const DOMAIN_PREFIX: &str = "domain:";

/// Characters written as percent escapes inside a namespace glob, with their escape.
const ESCAPES: [(char, &str); 5] = [('%', "%25"), (',', "%2C"), (';', "%3B"), ('*', "%2A"), (' ', "%20")];

impl FromStr for Scope {
    type Err = AuthError;

    fn from_str(text: &str) -> Result<Self, AuthError> {
        match text {
            "" => Err(AuthError::EmptyScope),
            "read" => Ok(Scope::Read),
            "admin" => Ok(Scope::Admin),
            INGEST => Ok(Scope::Ingest(IngestGrant::any())),
            _ => {
                if let Some(id) = text.strip_prefix(DOMAIN_PREFIX) {
                    check_domain_id(id).map_err(|reason| invalid(text, reason))?;
                    return Ok(Scope::Domain(id.to_owned()));
                }
                if let Some(limits) = text.strip_prefix(INGEST).and_then(|rest| rest.strip_prefix('@')) {
                    return parse_ingest_limits(limits).map(Scope::Ingest).map_err(|reason| invalid(text, reason));
                }
                Err(AuthError::UnknownScope { scope: text.to_owned() })
            }
        }
    }
}

fn invalid(scope: &str, reason: String) -> AuthError {
    AuthError::InvalidScope { scope: scope.to_owned(), reason }
}

/// The domain id rule of `tributary-mesh`'s descriptors, repeated here because this crate must
/// not depend on the mesh crate.
fn check_domain_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("`domain:` needs a domain id".to_owned());
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')) {
        return Err(format!("domain id `{id}` may use only letters, digits, `.`, `_`, `-` and `/`"));
    }
    Ok(())
}

fn parse_ingest_limits(limits: &str) -> Result<IngestGrant, String> {
    if limits.is_empty() {
        return Err("`ingest@` needs at least one limit, `jobs=…` or `datasets=…`".to_owned());
    }
    let mut grant = IngestGrant::any();
    for limit in limits.split(';') {
        let Some((key, globs)) = limit.split_once('=') else {
            return Err(if limit.is_empty() {
                "empty limit (a `;` too many)".to_owned()
            } else {
                format!("limit `{limit}` needs `=` and namespace globs, as in `jobs=airflow-prod`")
            });
        };
        let slot = match key {
            "jobs" => &mut grant.jobs,
            "datasets" => &mut grant.datasets,
            _ => return Err(format!("unknown limit `{key}`: expected `jobs` or `datasets`")),
        };
        if slot.is_some() {
            return Err(format!("`{key}` is limited twice: list every glob in one `{key}=…`, separated by `,`"));
        }
        if globs.is_empty() {
            return Err(format!("`{key}=` needs at least one namespace glob"));
        }
        let globs = globs.split(',').map(parse_glob).collect::<Result<Vec<_>, _>>()?;
        *slot = Some(globs);
    }
    Ok(grant)
}

fn parse_glob(text: &str) -> Result<NamespaceGlob, String> {
    if text.is_empty() {
        return Err("empty namespace glob (a `,` too many?)".to_owned());
    }
    let (body, is_prefix) = match text.strip_suffix('*') {
        Some(body) => (body, true),
        None => (text, false),
    };
    let namespace = unescape(body, text)?;
    Ok(if is_prefix { NamespaceGlob::Prefix(namespace) } else { NamespaceGlob::Exact(namespace) })
}

/// Decodes the namespace `text` of the glob `glob` (named in errors).
fn unescape(text: &str, glob: &str) -> Result<String, String> {
    let mut namespace = String::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '%' => {
                let escape = text.get(at..at + 3).unwrap_or(&text[at..]);
                let Some(&(decoded, _)) = ESCAPES.iter().find(|(_, written)| written.eq_ignore_ascii_case(escape))
                else {
                    return Err(format!(
                        "unknown escape `{escape}` in namespace glob `{glob}`: only `%25` (`%`), `%2C` (`,`), \
                         `%3B` (`;`), `%2A` (`*`) and `%20` (space) are escapes, so a literal `%` is written `%25`"
                    ));
                };
                namespace.push(decoded);
                // The escape is three ASCII bytes: skip the two after the `%`.
                chars.nth(1);
            }
            '*' => {
                return Err(format!(
                    "`*` may only end a namespace glob, and `{glob}` has one inside: write `%2A` for a literal `*`"
                ));
            }
            ' ' => {
                return Err(format!("namespace glob `{glob}` has a space: write it `%20`"));
            }
            c if c.is_control() || c.is_whitespace() => {
                return Err(format!(
                    "namespace glob `{}` has a control or whitespace character {c:?}",
                    glob.escape_debug()
                ));
            }
            c => namespace.push(c),
        }
    }
    Ok(namespace)
}

fn write_escaped(out: &mut fmt::Formatter<'_>, namespace: &str) -> fmt::Result {
    for c in namespace.chars() {
        match ESCAPES.iter().find(|(special, _)| *special == c) {
            Some((_, written)) => out.write_str(written)?,
            None => fmt::Write::write_char(out, c)?,
        }
    }
    Ok(())
}

impl fmt::Display for NamespaceGlob {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamespaceGlob::Exact(namespace) => write_escaped(out, namespace),
            NamespaceGlob::Prefix(prefix) => {
                write_escaped(out, prefix)?;
                out.write_str("*")
            }
        }
    }
}

fn write_globs(out: &mut fmt::Formatter<'_>, key: &str, globs: &[NamespaceGlob]) -> fmt::Result {
    write!(out, "{key}=")?;
    for (index, glob) in globs.iter().enumerate() {
        if index > 0 {
            out.write_str(",")?;
        }
        write!(out, "{glob}")?;
    }
    Ok(())
}

impl fmt::Display for IngestGrant {
    /// `ingest`, or `ingest@` with its limits, `jobs` first.
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str(INGEST)?;
        let mut separator = "@";
        for (key, globs) in [("jobs", &self.jobs), ("datasets", &self.datasets)] {
            if let Some(globs) = globs {
                out.write_str(separator)?;
                write_globs(out, key, globs)?;
                separator = ";";
            }
        }
        Ok(())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Read => out.write_str("read"),
            Scope::Ingest(grant) => write!(out, "{grant}"),
            Scope::Domain(id) => write!(out, "{DOMAIN_PREFIX}{id}"),
            Scope::Admin => out.write_str("admin"),
        }
    }
}

impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
