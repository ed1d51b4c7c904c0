use std::path::Path;

#[test]
fn schema_graphql_matches_the_code() {
    // `UPDATE_EXPECT=1 cargo test -p tributary-graphql` rewrites it; review the diff.
    tributary_golden::check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema.graphql"), &crate::sdl());
}
