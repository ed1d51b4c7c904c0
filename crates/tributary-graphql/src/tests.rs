use std::path::Path;

#[test]
fn schema_graphql_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema.graphql");
    let actual = crate::sdl();
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == actual,
        "schema.graphql is out of date with the code; run `UPDATE_EXPECT=1 cargo test -p tributary-graphql` and review the diff"
    );
}
