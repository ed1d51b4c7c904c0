use crate::redact::hmac_sha256;
use crate::*;
use tributary_model::Timestamp;

fn scope(text: &str) -> Scope {
    text.parse().unwrap_or_else(|error| panic!("`{text}` should parse: {error}"))
}

/// Parses `text`, checks it displays as `canonical` and that the canonical form parses back to the
/// same scope.
fn check_round_trip(text: &str, canonical: &str) {
    let parsed = scope(text);
    assert_eq!(parsed.to_string(), canonical, "display of `{text}`");
    assert_eq!(scope(canonical), parsed, "`{canonical}` parses back");
    let json = serde_json::to_string(&parsed).unwrap();
    assert_eq!(json, serde_json::to_string(canonical).unwrap(), "serde writes the string");
    assert_eq!(serde_json::from_str::<Scope>(&json).unwrap(), parsed, "serde reads it back");
}

/// Parses `text`, expecting an error whose message is `expected`.
fn check_error(text: &str, expected: &str) {
    match text.parse::<Scope>() {
        Ok(parsed) => panic!("`{text}` should not parse, got {parsed:?}"),
        Err(error) => assert_eq!(error.to_string(), expected, "error for `{text}`"),
    }
}

fn ingest(jobs: Option<&[NamespaceGlob]>, datasets: Option<&[NamespaceGlob]>) -> Scope {
    Scope::Ingest(IngestGrant { jobs: jobs.map(<[_]>::to_vec), datasets: datasets.map(<[_]>::to_vec) })
}

fn exact(namespace: &str) -> NamespaceGlob {
    NamespaceGlob::Exact(namespace.to_owned())
}

fn prefix(namespace: &str) -> NamespaceGlob {
    NamespaceGlob::Prefix(namespace.to_owned())
}

#[test]
fn simple_scopes_round_trip() {
    for text in ["read", "admin", "ingest", "domain:sales", "domain:finance.payments/eu-1_x"] {
        check_round_trip(text, text);
    }
    assert_eq!(scope("read"), Scope::Read);
    assert_eq!(scope("admin"), Scope::Admin);
    assert_eq!(scope("ingest"), Scope::Ingest(IngestGrant::any()));
    assert_eq!(scope("domain:sales"), Scope::Domain("sales".to_owned()));
}

#[test]
fn ingest_limits_parse_into_globs() {
    assert_eq!(scope("ingest@jobs=airflow-prod"), ingest(Some(&[exact("airflow-prod")]), None));
    assert_eq!(scope("ingest@datasets=*"), ingest(None, Some(&[prefix("")])));
    assert_eq!(
        scope("ingest@jobs=airflow-prod,dbt-*;datasets=postgres://warehouse:5432,s3://lake/sales/*"),
        ingest(
            Some(&[exact("airflow-prod"), prefix("dbt-")]),
            Some(&[exact("postgres://warehouse:5432"), prefix("s3://lake/sales/")])
        )
    );
    // `=` and `@` inside a namespace are plain characters: only the first `=` of a limit counts.
    assert_eq!(
        scope("ingest@datasets=duckdb:///data/w.duckdb,jdbc:sqlserver://h:1433/db=x,user@host:22"),
        ingest(
            None,
            Some(&[exact("duckdb:///data/w.duckdb"), exact("jdbc:sqlserver://h:1433/db=x"), exact("user@host:22")])
        )
    );
}

#[test]
fn ingest_scopes_round_trip_canonically() {
    check_round_trip("ingest@jobs=airflow-prod", "ingest@jobs=airflow-prod");
    check_round_trip("ingest@datasets=postgres://warehouse*", "ingest@datasets=postgres://warehouse*");
    check_round_trip(
        "ingest@jobs=airflow-prod,dbt-*;datasets=postgres://db:5432,duckdb:///path/db",
        "ingest@jobs=airflow-prod,dbt-*;datasets=postgres://db:5432,duckdb:///path/db",
    );
    // `datasets` first and lowercase escapes are accepted and written canonically.
    check_round_trip(
        "ingest@datasets=kafka://b1:9092%2cb2:9092;jobs=a%3bb",
        "ingest@jobs=a%3Bb;datasets=kafka://b1:9092%2Cb2:9092",
    );
}

#[test]
fn escapes_carry_reserved_characters() {
    assert_eq!(
        scope("ingest@datasets=kafka://b1:9092%2Cb2:9092,odd%25ns,semi%3Bcolon,star%2A,star%2A*,my%20space"),
        ingest(
            None,
            Some(&[
                exact("kafka://b1:9092,b2:9092"),
                exact("odd%ns"),
                exact("semi;colon"),
                exact("star*"),
                prefix("star*"),
                exact("my space"),
            ])
        )
    );
    // Every reserved character survives display and parse.
    let awkward = ingest(
        Some(&[exact("a,b;c*d%e f"), prefix("%2C literally")]),
        Some(&[exact("postgres://u@h:5432/db?x=1&y=2")]),
    );
    assert_eq!(
        awkward.to_string(),
        "ingest@jobs=a%2Cb%3Bc%2Ad%25e%20f,%252C%20literally*;datasets=postgres://u@h:5432/db?x=1&y=2"
    );
    assert_eq!(scope(&awkward.to_string()), awkward);
}

#[test]
fn scope_errors_name_the_problem() {
    let expected = "`read`, `ingest`, `ingest@…`, `domain:<id>` or `admin`";
    check_error("", &format!("empty scope: expected {expected}"));
    check_error("READ", &format!("unknown scope `READ`: expected {expected}"));
    check_error("write", &format!("unknown scope `write`: expected {expected}"));
    check_error(" read", &format!("unknown scope ` read`: expected {expected}"));
    check_error("ingest:jobs=a", &format!("unknown scope `ingest:jobs=a`: expected {expected}"));
    check_error("domain:", "invalid scope `domain:`: `domain:` needs a domain id");
    check_error(
        "domain:sales team",
        "invalid scope `domain:sales team`: domain id `sales team` may use only letters, digits, `.`, `_`, `-` and `/`",
    );
    check_error("ingest@", "invalid scope `ingest@`: `ingest@` needs at least one limit, `jobs=…` or `datasets=…`");
    check_error(
        "ingest@jobs",
        "invalid scope `ingest@jobs`: limit `jobs` needs `=` and namespace globs, as in `jobs=airflow-prod`",
    );
    check_error("ingest@jobs=", "invalid scope `ingest@jobs=`: `jobs=` needs at least one namespace glob");
    check_error("ingest@jobs=a;", "invalid scope `ingest@jobs=a;`: empty limit (a `;` too many)");
    check_error("ingest@jobs=a,", "invalid scope `ingest@jobs=a,`: empty namespace glob (a `,` too many?)");
    check_error(
        "ingest@outputs=a",
        "invalid scope `ingest@outputs=a`: unknown limit `outputs`: expected `jobs` or `datasets`",
    );
    check_error(
        "ingest@jobs=a;jobs=b",
        "invalid scope `ingest@jobs=a;jobs=b`: `jobs` is limited twice: list every glob in one `jobs=…`, separated by `,`",
    );
    check_error(
        "ingest@datasets=s3://*/sales",
        "invalid scope `ingest@datasets=s3://*/sales`: `*` may only end a namespace glob, and `s3://*/sales` has one inside: write `%2A` for a literal `*`",
    );
    check_error(
        "ingest@datasets=s3://my%20bucket%2",
        "invalid scope `ingest@datasets=s3://my%20bucket%2`: unknown escape `%2` in namespace glob `s3://my%20bucket%2`: only `%25` (`%`), `%2C` (`,`), `%3B` (`;`), `%2A` (`*`) and `%20` (space) are escapes, so a literal `%` is written `%25`",
    );
    check_error(
        "ingest@datasets=file:///a%41",
        "invalid scope `ingest@datasets=file:///a%41`: unknown escape `%41` in namespace glob `file:///a%41`: only `%25` (`%`), `%2C` (`,`), `%3B` (`;`), `%2A` (`*`) and `%20` (space) are escapes, so a literal `%` is written `%25`",
    );
    check_error("ingest@jobs=a b", "invalid scope `ingest@jobs=a b`: namespace glob `a b` has a space: write it `%20`");
    check_error(
        "ingest@jobs=a\tb",
        "invalid scope `ingest@jobs=a\tb`: namespace glob `a\\tb` has a control or whitespace character '\\t'",
    );
    // A multi-byte character right after `%` is an unknown escape, not a panic.
    assert!(matches!("ingest@jobs=%é".parse::<Scope>(), Err(AuthError::InvalidScope { .. })));
    assert!(matches!("ingest@jobs=%".parse::<Scope>(), Err(AuthError::InvalidScope { .. })));
    assert!(serde_json::from_str::<Scope>("\"writer\"").unwrap_err().to_string().contains("unknown scope `writer`"));
}

#[test]
fn globs_match_exactly_or_by_prefix() {
    assert!(exact("postgres://db:5432").matches("postgres://db:5432"));
    assert!(!exact("postgres://db:5432").matches("postgres://db:54321"));
    assert!(!exact("postgres://db:5432").matches("postgres://db"));
    assert!(prefix("postgres://db:").matches("postgres://db:5432"));
    assert!(prefix("").matches("anything"));
    assert!(prefix("").matches(""));
    assert!(!prefix("Postgres://").matches("postgres://db"), "case-sensitive");
    assert!(prefix("duckdb:///data/").matches("duckdb:///data/warehouse.duckdb"));
    assert!(!prefix("duckdb:///data/").matches("duckdb:///other/warehouse.duckdb"));
}

fn principal(scopes: &[&str]) -> Principal {
    Principal {
        credential: Credential::Token(TokenId::parse("0123456789abcdef").unwrap()),
        name: "tester".to_owned(),
        scopes: scopes.iter().map(|text| scope(text)).collect(),
    }
}

/// Expects `decision` to be denied for the missing scope `missing`, which must itself be a valid
/// scope, and returns the reason.
fn check_denied(decision: Result<(), Denied>, missing: &str) -> String {
    let denied = decision.expect_err("should be denied");
    assert_eq!(denied.missing_scope, missing);
    scope(&denied.missing_scope);
    assert!(denied.to_string().starts_with(&format!("permission denied: missing scope `{missing}`: ")));
    denied.reason
}

#[test]
fn ingest_decisions_follow_namespace_globs() {
    let airflow = principal(&["ingest@jobs=airflow-prod,dbt-*;datasets=postgres://warehouse:5432,duckdb:///data/*"]);
    assert_eq!(airflow.can_ingest("airflow-prod", &[]), Ok(()));
    assert_eq!(airflow.can_ingest("dbt-sales", &["postgres://warehouse:5432", "duckdb:///data/w.duckdb"]), Ok(()));
    let reason = check_denied(airflow.can_ingest("airflow-dev", &[]), "ingest@jobs=airflow-dev");
    assert_eq!(
        reason,
        "job namespace `airflow-dev` is outside the ingest grants \
         `ingest@jobs=airflow-prod,dbt-*;datasets=postgres://warehouse:5432,duckdb:///data/*` (token `tester`)"
    );
    // Every output must be covered; one outside is enough to refuse.
    let reason = check_denied(
        airflow.can_ingest(
            "airflow-prod",
            &["postgres://warehouse:5432", "postgres://warehouse:54320", "duckdb:///other/x", "duckdb:///other/x"],
        ),
        "ingest@jobs=airflow-prod;datasets=duckdb:///other/x,postgres://warehouse:54320",
    );
    assert!(reason.starts_with(
        "output dataset namespace `duckdb:///other/x`, `postgres://warehouse:54320` of job namespace `airflow-prod` is outside"
    ));
    // Namespaces with reserved characters are escaped in the missing scope, which stays valid.
    check_denied(airflow.can_ingest("a,b c", &[]), "ingest@jobs=a%2Cb%20c");
    check_denied(
        airflow.can_ingest("airflow-prod", &["kafka://b1:9092,b2:9092"]),
        "ingest@jobs=airflow-prod;datasets=kafka://b1:9092%2Cb2:9092",
    );

    // Unlimited `ingest`, and limits on one side only.
    assert_eq!(principal(&["ingest"]).can_ingest("anything", &["s3://anywhere"]), Ok(()));
    let jobs_only = principal(&["ingest@jobs=airflow-*"]);
    assert_eq!(jobs_only.can_ingest("airflow-prod", &["s3://anywhere"]), Ok(()));
    check_denied(jobs_only.can_ingest("spark", &["s3://anywhere"]), "ingest@jobs=spark");
    let datasets_only = principal(&["ingest@datasets=s3://lake/sales/*"]);
    assert_eq!(datasets_only.can_ingest("any-job", &["s3://lake/sales/orders"]), Ok(()));
    check_denied(
        datasets_only.can_ingest("any-job", &["s3://lake/payments/cards"]),
        "ingest@jobs=any-job;datasets=s3://lake/payments/cards",
    );

    // Grants are not combined: each event must fit one scope.
    let two = principal(&["ingest@jobs=a;datasets=x", "ingest@jobs=b;datasets=y"]);
    assert_eq!(two.can_ingest("a", &["x"]), Ok(()));
    assert_eq!(two.can_ingest("b", &["y"]), Ok(()));
    check_denied(two.can_ingest("a", &["y"]), "ingest@jobs=a;datasets=y");
    // ... but any scope that fits is enough.
    let overlapping = principal(&["ingest@jobs=a;datasets=x", "ingest@jobs=a*;datasets=y"]);
    assert_eq!(overlapping.can_ingest("a", &["y"]), Ok(()));

    // No ingest scope at all, and the scopes that do or do not imply it.
    let reason = check_denied(principal(&["read", "domain:sales"]).can_ingest("a", &[]), "ingest");
    assert_eq!(reason, "writing lineage needs an `ingest` scope (token `tester`)");
    assert_eq!(principal(&["admin"]).can_ingest("a", &["b"]), Ok(()));
    assert_eq!(Principal::anonymous_open().can_ingest("a", &["b"]), Ok(()));
}

#[test]
fn read_decisions() {
    assert_eq!(principal(&["read"]).can_read(), Ok(()));
    assert_eq!(principal(&["admin"]).can_read(), Ok(()));
    assert_eq!(Principal::anonymous_open().can_read(), Ok(()));
    let reason = check_denied(principal(&["ingest", "domain:sales"]).can_read(), "read");
    assert_eq!(reason, "reading lineage and the mesh needs `read` (token `tester`)");
    check_denied(principal(&[]).can_read(), "read");
}

#[test]
fn domain_decisions_grant_only_their_own_domain() {
    let sales = principal(&["domain:sales"]);
    assert_eq!(sales.can_apply_domain("sales"), Ok(()));
    assert_eq!(sales.can_apply_product("sales"), Ok(()));
    let reason = check_denied(sales.can_apply_domain("payments"), "domain:payments");
    assert_eq!(
        reason,
        "applying the descriptor of domain `payments` needs `domain:payments` or `admin` (token `tester`)"
    );
    let reason = check_denied(sales.can_apply_product("payments"), "domain:payments");
    assert_eq!(reason, "applying a product of domain `payments` needs `domain:payments` or `admin` (token `tester`)");
    // No prefix or hierarchy: `domain:sales` is not `domain:sales/eu`.
    check_denied(sales.can_apply_product("sales/eu"), "domain:sales/eu");
    check_denied(principal(&["read", "ingest"]).can_apply_domain("sales"), "domain:sales");
    for everything in [principal(&["admin"]), Principal::anonymous_open()] {
        assert_eq!(everything.can_apply_domain("payments"), Ok(()));
        assert_eq!(everything.can_apply_product("payments"), Ok(()));
    }
}

#[test]
fn admin_decisions() {
    assert_eq!(principal(&["admin"]).can_admin(), Ok(()));
    assert_eq!(Principal::anonymous_open().can_admin(), Ok(()));
    let reason = check_denied(principal(&["read", "ingest", "domain:sales"]).can_admin(), "admin");
    assert_eq!(reason, "managing tokens and policies needs `admin` (token `tester`)");
}

#[test]
fn restricted_products_are_seen_by_their_domain_readers() {
    assert_eq!(principal(&["read", "domain:sales"]).can_see_restricted("sales"), Ok(()));
    assert_eq!(principal(&["admin"]).can_see_restricted("sales"), Ok(()));
    assert_eq!(Principal::anonymous_open().can_see_restricted("sales"), Ok(()));
    let reason = check_denied(principal(&["read", "domain:payments"]).can_see_restricted("sales"), "domain:sales");
    assert_eq!(
        reason,
        "restricted products of domain `sales` are shown only to readers granted `domain:sales` (token `tester`)"
    );
    // A domain grant without `read` reads nothing.
    check_denied(principal(&["domain:sales"]).can_see_restricted("sales"), "read");
}

#[test]
fn open_mode_is_explicit() {
    let open = Principal::anonymous_open();
    assert!(open.is_open());
    assert_eq!(open.token_id(), None);
    assert_eq!(open.credential, Credential::Open);
    assert_eq!(open.name, "anonymous");
    // The credential alone allows everything, whatever the scopes say.
    let open_without_scopes = Principal { scopes: Vec::new(), ..Principal::anonymous_open() };
    assert_eq!(open_without_scopes.can_admin(), Ok(()));
    assert_eq!(open_without_scopes.can_ingest("a", &["b"]), Ok(()));
    // A token principal is never open, even with every scope.
    let token = principal(&["admin"]);
    assert!(!token.is_open());
    assert_eq!(token.token_id().map(TokenId::as_str), Some("0123456789abcdef"));
    assert_eq!(serde_json::to_string(&open.credential).unwrap(), r#"{"kind":"open"}"#);
    assert_eq!(serde_json::to_string(&token.credential).unwrap(), r#"{"kind":"token","id":"0123456789abcdef"}"#);
}

const CREATED: Timestamp = Timestamp(1_700_000_000_000_000);
const HOUR: i64 = 3_600_000_000;

fn new_token(expires_at: Option<Timestamp>) -> (Secret, TokenRecord) {
    generate_token(
        "airflow-prod",
        vec![scope("ingest@jobs=airflow-prod"), Scope::Read],
        "admin-alice",
        CREATED,
        expires_at,
    )
    .unwrap()
}

#[test]
fn generated_tokens_parse_and_check() {
    let (secret, record) = new_token(None);
    assert_eq!(record.format, TOKEN_RECORD_FORMAT);
    assert_eq!(record.name, "airflow-prod");
    assert_eq!(record.created_by, "admin-alice");
    assert_eq!(record.created_at, CREATED);
    assert_eq!((record.expires_at, record.last_used_at, record.revoked_at), (None, None, None));
    assert_eq!(record.id.as_str().len(), 16);

    let token = secret.reveal(&record.id);
    assert_eq!(token.len(), TOKEN_PREFIX.len() + 16 + 1 + 64);
    assert!(token.starts_with(&format!("trb_{}_", record.id)));

    let (id, presented) = parse_bearer(&format!("Bearer {token}")).expect("a generated token parses");
    assert_eq!(id, record.id);
    assert_eq!(record.check(&presented, CREATED), Ok(()));
    assert_eq!(Principal::from_token(&record).credential, Credential::Token(record.id.clone()));
    assert_eq!(Principal::from_token(&record).scopes, record.scopes);
    // The raw token (for a CLI's environment variable) and other spellings of the scheme.
    assert!(parse_token(&token).is_some());
    for header in [format!("bearer {token}"), format!("BEARER  {token}"), format!("  Bearer\t{token}  ")] {
        let (id, presented) = parse_bearer(&header).unwrap_or_else(|| panic!("`{header}` parses"));
        assert_eq!(id, record.id);
        assert_eq!(record.check(&presented, CREATED), Ok(()));
    }

    // Two tokens share neither id nor secret.
    let (other_secret, other) = new_token(None);
    assert_ne!(other.id, record.id);
    assert_ne!(other_secret.reveal(&other.id)[21..], token[21..]);
    assert_eq!(record.check(&other_secret, CREATED), Err(Unauthenticated::UnknownToken));
}

#[test]
fn malformed_bearer_values_do_not_parse() {
    let (secret, record) = new_token(None);
    let token = secret.reveal(&record.id);
    let upper = format!("trb_{}_{}", record.id, token[21..].to_uppercase());
    for header in [
        String::new(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        token.clone(),
        format!("Basic {token}"),
        format!("Bearer {}", &token[..token.len() - 1]),
        format!("Bearer {token}0"),
        format!("Bearer {token} extra"),
        format!("Bearer {}", token.replacen("trb_", "trx_", 1)),
        format!("Bearer {}", token.replacen("trb_", "", 1)),
        format!("Bearer {upper}"),
        format!("Bearer trb_{}_{}", &record.id.as_str()[..15], &token[20..]),
    ] {
        assert!(parse_bearer(&header).is_none(), "`{header}` should not parse");
    }
}

#[test]
fn checks_tell_wrong_secret_expired_and_revoked_apart() {
    let expires = Timestamp(CREATED.0 + HOUR);
    let (secret, mut record) = new_token(Some(expires));
    assert_eq!(record.check(&secret, Timestamp(expires.0 - 1)), Ok(()));
    assert_eq!(record.check(&secret, expires), Err(Unauthenticated::Expired { id: record.id.clone(), at: expires }));

    // A wrong secret under the right id, and the right secret under another id.
    let token = secret.reveal(&record.id);
    let mut wrong = token.clone().into_bytes();
    let last = wrong.len() - 1;
    wrong[last] = if wrong[last] == b'0' { b'1' } else { b'0' };
    let (_, wrong_secret) = parse_token(std::str::from_utf8(&wrong).unwrap()).unwrap();
    assert_eq!(record.check(&wrong_secret, CREATED), Err(Unauthenticated::UnknownToken));
    let (other_secret, other) = new_token(None);
    let swapped = format!("trb_{}_{}", other.id, &token[21..]);
    let (swapped_id, swapped_secret) = parse_token(&swapped).unwrap();
    assert_eq!(swapped_id, other.id);
    assert_eq!(other.check(&swapped_secret, CREATED), Err(Unauthenticated::UnknownToken));
    assert_eq!(other.check(&other_secret, CREATED), Ok(()));
    // Expiry and revocation are told only to someone holding the secret.
    assert_eq!(record.check(&wrong_secret, expires), Err(Unauthenticated::UnknownToken));

    let revoked_at = Timestamp(CREATED.0 + 10);
    assert!(record.revoke(revoked_at));
    assert!(!record.revoke(Timestamp(CREATED.0 + 20)), "revoking twice keeps the first time");
    assert_eq!(record.revoked_at, Some(revoked_at));
    assert_eq!(record.check(&secret, CREATED), Err(Unauthenticated::Revoked { id: record.id.clone(), at: revoked_at }));
    assert_eq!(record.check(&wrong_secret, CREATED), Err(Unauthenticated::UnknownToken));

    let expired = Unauthenticated::Expired { id: record.id.clone(), at: expires };
    assert_eq!(expired.to_string(), format!("token `{}` expired at 2023-11-14T23:13:20Z", record.id));
    assert_eq!(Unauthenticated::UnknownToken.to_string(), "unknown token");
}

#[test]
fn last_use_only_moves_forward() {
    let (_, mut record) = new_token(None);
    record.mark_used(Timestamp(CREATED.0 + 5));
    record.mark_used(Timestamp(CREATED.0 + 2));
    assert_eq!(record.last_used_at, Some(Timestamp(CREATED.0 + 5)));
    record.mark_used(Timestamp(CREATED.0 + 9));
    assert_eq!(record.last_used_at, Some(Timestamp(CREATED.0 + 9)));
}

#[test]
fn generation_refuses_bad_names_scopes_and_expiry() {
    let scopes = || vec![Scope::Read];
    let name_error = |name: &str| generate_token(name, scopes(), "alice", CREATED, None).unwrap_err().to_string();
    assert_eq!(name_error(""), "invalid token name ``: must not be empty");
    assert_eq!(name_error("  "), "invalid token name `  `: must not be empty");
    assert_eq!(name_error(" x"), "invalid token name ` x`: must not start or end with whitespace");
    assert_eq!(name_error("a\nb"), "invalid token name `a\\nb`: must not contain control characters");
    assert_eq!(
        name_error(&"x".repeat(101)),
        format!("invalid token name `{}`: longer than 100 characters", "x".repeat(101))
    );
    assert!(generate_token(&"é".repeat(100), scopes(), "alice", CREATED, None).is_ok());
    assert!(generate_token("Airflow prod (EU)", scopes(), "alice", CREATED, None).is_ok());
    assert_eq!(generate_token("x", Vec::new(), "alice", CREATED, None).unwrap_err(), AuthError::NoScopes);
    assert_eq!(
        generate_token("x", scopes(), "alice", CREATED, Some(CREATED)).unwrap_err().to_string(),
        "token expiry 2023-11-14T22:13:20Z is not after its creation 2023-11-14T22:13:20Z"
    );
}

#[test]
fn debug_never_prints_secrets_or_hashes() {
    let (secret, record) = new_token(None);
    let token = secret.reveal(&record.id);
    let secret_hex = &token[21..];
    let hash_hex = String::from(record.hash.clone());
    let (_, presented) = parse_bearer(&format!("Bearer {token}")).unwrap();
    for printed in [
        format!("{secret:?}"),
        format!("{secret:#?}"),
        format!("{presented:?}"),
        format!("{record:?}"),
        format!("{record:#?}"),
        format!("{:?}", record.hash),
        format!("{:?}", parse_bearer(&format!("Bearer {token}"))),
    ] {
        assert!(!printed.contains(secret_hex), "secret in {printed}");
        assert!(!printed.contains(hash_hex.as_str()), "hash in {printed}");
        assert!(!printed.contains(&secret_hex[..16]), "part of the secret in {printed}");
    }
    assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    let printed = format!("{record:?}");
    assert!(printed.contains("TokenHash(<redacted>)"));
    assert!(printed.contains(record.id.as_str()), "the public id is shown: {printed}");
    assert!(printed.contains("ingest@jobs=airflow-prod"), "scopes are shown: {printed}");
    assert_eq!(format!("{:?}", RedactionKey::from_bytes([7; 32])), "RedactionKey(<redacted>)");
}

#[test]
fn the_stored_hash_is_the_sha256_of_the_secret_not_the_secret() {
    let (secret, record) = new_token(None);
    let token = secret.reveal(&record.id);
    let secret_hex = &token[21..];
    let hash_hex = String::from(record.hash.clone());
    assert_eq!(hash_hex.len(), 64);
    assert_ne!(hash_hex, secret_hex);
    // Recompute: SHA-256 over the 32 secret bytes.
    let secret_bytes: Vec<u8> =
        (0..32).map(|index| u8::from_str_radix(&secret_hex[2 * index..2 * index + 2], 16).unwrap()).collect();
    let expected = {
        use sha2::Digest;
        crate::to_hex(&sha2::Sha256::digest(&secret_bytes))
    };
    assert_eq!(hash_hex, expected);
    // The serialized record holds the hash and nothing of the secret.
    let json = serde_json::to_string(&record).unwrap();
    assert!(json.contains(&hash_hex));
    assert!(!json.contains(secret_hex));
}

#[test]
fn token_records_round_trip_through_serde() {
    let (_, mut record) = new_token(Some(Timestamp(CREATED.0 + HOUR)));
    record.mark_used(Timestamp(CREATED.0 + 1));
    record.revoke(Timestamp(CREATED.0 + 2));
    let json = serde_json::to_value(&record).unwrap();
    assert_eq!(json["format"], 1);
    assert_eq!(json["id"], record.id.as_str());
    assert_eq!(json["scopes"], serde_json::json!(["ingest@jobs=airflow-prod", "read"]));
    assert_eq!(json["created_at"], CREATED.0);
    assert_eq!(json["revoked_at"], CREATED.0 + 2);
    let back: TokenRecord = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, record);

    let mut bad_id = json.clone();
    bad_id["id"] = "XYZ".into();
    let error = serde_json::from_value::<TokenRecord>(bad_id).unwrap_err().to_string();
    assert!(error.contains("invalid token id `XYZ`: expected 16 lowercase hex digits"), "{error}");
    let mut bad_hash = json.clone();
    bad_hash["hash"] = "00".into();
    let error = serde_json::from_value::<TokenRecord>(bad_hash).unwrap_err().to_string();
    assert!(error.contains("invalid token hash"), "{error}");
    let mut bad_scope = json;
    bad_scope["scopes"] = serde_json::json!(["read", "ingest@jobs="]);
    let error = serde_json::from_value::<TokenRecord>(bad_scope).unwrap_err().to_string();
    assert!(error.contains("`jobs=` needs at least one namespace glob"), "{error}");
}

#[test]
fn token_ids_are_16_lowercase_hex_digits() {
    assert!(TokenId::parse("0123456789abcdef").is_ok());
    for bad in ["", "0123456789abcde", "0123456789abcdef0", "0123456789ABCDEF", "0123456789abcdeg", "é123456789abcde"]
    {
        assert_eq!(TokenId::parse(bad), Err(AuthError::InvalidTokenId { id: bad.to_owned() }));
    }
}

#[test]
fn constant_time_eq_is_equality() {
    assert!(constant_time_eq(b"", b""));
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"bbc"));
    assert!(!constant_time_eq(b"abc", b"ab"));
    assert!(!constant_time_eq(b"", b"a"));
    let hash = [0x5au8; 32];
    for index in 0..32 {
        for bit in 0..8 {
            let mut flipped = hash;
            flipped[index] ^= 1 << bit;
            assert!(!constant_time_eq(&hash, &flipped), "byte {index} bit {bit}");
        }
    }
    let (secret, record) = new_token(None);
    assert!(secret.hash() == record.hash);
}

#[test]
fn hmac_matches_rfc_4231() {
    // Test cases 1 and 2 of RFC 4231.
    let case_1 = hmac_sha256(&[0x0b; 20], &[b"Hi There"]);
    assert_eq!(to_hex(&case_1), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    let case_2 = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
    assert_eq!(to_hex(&case_2), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

#[test]
fn redacted_ids_are_stable_distinct_and_keyed() {
    let key = RedactionKey::from_bytes([1; 32]);
    let id = redacted_id("postgres://db:5432", "sales.orders", &key);
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|byte| byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase()));
    assert_eq!(redacted_id("postgres://db:5432", "sales.orders", &RedactionKey::from_bytes([1; 32])), id);
    assert_ne!(redacted_id("postgres://db:5432", "sales.order", &key), id);
    assert_ne!(redacted_id("postgres://db:5433", "sales.orders", &key), id);
    assert_ne!(redacted_id("a", "bc", &key), redacted_id("ab", "c", &key));
    assert_ne!(redacted_id("postgres://db:5432", "sales.orders", &RedactionKey::from_bytes([2; 32])), id);
    assert!(!id.contains("sales"));
    // Pinned (computed independently with Python's `hmac`), so the documented construction cannot
    // change unnoticed: stored references to redacted ids must stay valid.
    assert_eq!(id, "e7c028030f506ccd8363ced8ec0f3921");

    let generated = RedactionKey::generate().unwrap();
    assert_eq!(RedactionKey::from_bytes(generated.to_bytes()).to_bytes(), generated.to_bytes());
    assert_ne!(generated.to_bytes(), RedactionKey::generate().unwrap().to_bytes());
}
