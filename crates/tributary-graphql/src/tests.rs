use std::path::Path;

#[test]
fn schema_graphql_matches_the_code() {
    // `UPDATE_EXPECT=1 cargo test -p tributary-graphql` rewrites it; review the diff.
    tributary_golden::check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema.graphql"), &crate::sdl());
}

/// The plain writer's strings and enums are byte for byte what serde_json writes for them.
#[test]
fn plain_strings_and_enums_are_written_as_serde_json_writes_them() {
    use crate::scalars::NodeKind;
    use crate::types::plain::{write_enum, write_str};
    let texts = [
        "",
        "orders",
        "snowflake://acme-prod.eu-west-1",
        "quote \" inside",
        "back\\slash",
        "tab\tnew\nline\r",
        "\u{0}\u{1f}\u{7f}",
        "é ☃ 𝄞",
        "</script>",
    ];
    for text in texts {
        let mut ours = Vec::new();
        write_str(&mut ours, text);
        assert_eq!(ours, serde_json::to_vec(text).unwrap(), "{text:?}");
    }
    for kind in [NodeKind::Dataset, NodeKind::Job] {
        let mut ours = Vec::new();
        write_enum(&mut ours, kind);
        let generic = serde_json::to_vec(&async_graphql::resolver_utils::enum_value(kind)).unwrap();
        assert_eq!(ours, generic);
    }
}
