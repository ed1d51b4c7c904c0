use crate::{Classification, parse_domain, parse_duration, parse_product};

pub(crate) const PRODUCT: &str = r#"
kind: DataProduct
id: sales.orders
name: Orders
domain: sales
description: Every confirmed order, one row per order.
owners:
  - name: alice@example.com
    role: technical
  - name: sales-analytics
    role: business
classification: public
freshnessSla: 6h
tags: [orders, gold]
outputPorts:
  - name: orders
    dataset: {namespace: "postgres://db", name: public.orders}
    description: Confirmed orders
    contract:
      version: 1.2.0
      status: active
      schema:
        fields:
          - {name: order_id, type: bigint}
          - {name: email, type: string, tags: [pii]}
inputPorts:
  - dataset: {namespace: "postgres://db", name: public.customers}
    product: customers.master
internalDatasets:
  - {namespace: "postgres://db", name: staging.orders_raw}
"#;

#[test]
fn a_full_product_parses_from_yaml_and_json() {
    let product = parse_product(PRODUCT).unwrap();
    assert_eq!(product.id, "sales.orders");
    assert_eq!(product.classification, Classification::Public);
    assert_eq!(product.freshness_sla_seconds(), Some(6 * 3600));
    assert_eq!(product.output_ports[0].contract.as_ref().unwrap().major(), Some(1));
    assert_eq!(product.datasets().count(), 2);
    let json = serde_json::to_string(&product).unwrap();
    assert_eq!(parse_product(&json).unwrap(), product);
}

#[test]
fn mistakes_are_named_by_path() {
    let cases = [
        (PRODUCT.replace("name: Orders", "nmae: Orders"), "unknown field `nmae`"),
        (PRODUCT.replace("version: 1.2.0", "version: latest"), "outputPorts[0].contract.version"),
        (PRODUCT.replace("freshnessSla: 6h", "freshnessSla: soon"), "freshnessSla"),
        (PRODUCT.replace("classification: public", "classification: secret"), "classification"),
        (PRODUCT.replace("id: sales.orders", "id: \"sales orders\""), "id"),
        (PRODUCT.replace("name: public.customers", "name: \"\""), "inputPorts[0].dataset.name"),
        (PRODUCT.replace("staging.orders_raw", "public.orders"), "internalDatasets[0]"),
    ];
    for (text, expected) in cases {
        let error = parse_product(&text).unwrap_err();
        assert!(error.to_string().contains(expected), "expected `{expected}` in `{error}`");
    }
}

#[test]
fn domains_parse() {
    let domain = parse_domain(
        "kind: Domain\nid: sales\nname: Sales\nowners: [{name: head-of-sales, role: business}]\nnamespaces: [\"postgres://db\"]\n",
    )
    .unwrap();
    assert_eq!(domain.namespaces, vec!["postgres://db"]);
    let error = parse_domain("kind: DataProduct\nid: x\nname: X\n").unwrap_err();
    assert_eq!(error.path, "kind");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("90s"), Ok(90));
    assert_eq!(parse_duration("2d"), Ok(172_800));
    assert_eq!(parse_duration("PT6H"), Ok(21_600));
    assert_eq!(parse_duration("P1DT30M"), Ok(88_200));
    assert_eq!(parse_duration("3600"), Ok(3600));
    assert!(parse_duration("6 parsecs").is_err());
}

mod policies {
    use super::PRODUCT;
    use crate::{PolicyKind, check_breaking_major, check_output_ports, parse_policy_file, parse_product, pii_columns};

    const POLICIES: &str = r#"
policies:
  - id: ports-documented
    kind: output-port-requirements
    require: [owner, description, schema]
  - id: no-pii-in-public
    kind: pii-in-public-products
    tags: [PII]
  - id: reads-through-ports
    kind: cross-domain-reads
    blocking: false
  - id: breaking-needs-major
    kind: breaking-change-needs-major
  - id: fresh
    kind: freshness
    blocking: false
"#;

    #[test]
    fn the_policy_file_parses_and_rejects_unknown_kinds() {
        let policies = parse_policy_file(POLICIES).unwrap();
        assert_eq!(policies.len(), 5);
        assert_eq!(policies[1].kind, PolicyKind::PiiInPublicProducts { tags: vec!["pii".into()] });
        assert!(policies[0].blocking && !policies[2].blocking);
        let error = parse_policy_file("policies:\n  - {id: x, kind: be-nice}\n").unwrap_err();
        assert_eq!(error.path, "policies[0].kind");
        let error =
            parse_policy_file("policies:\n  - {id: x, kind: output-port-requirements, require: [poem]}\n").unwrap_err();
        assert!(error.to_string().contains("`poem` is not one of"), "{error}");
    }

    #[test]
    fn output_port_requirements_name_what_is_missing() {
        let policies = parse_policy_file(POLICIES).unwrap();
        let PolicyKind::OutputPortRequirements { require } = &policies[0].kind else { unreachable!() };
        let good = parse_product(PRODUCT).unwrap();
        assert!(check_output_ports(&policies[0], require, &good).is_empty());
        let bare = parse_product(&PRODUCT.replace("    description: Confirmed orders\n", "")).unwrap();
        let found = check_output_ports(&policies[0], require, &bare);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].reason, "output port `orders` has no description");
    }

    #[test]
    fn a_breaking_contract_change_needs_a_new_major() {
        let policies = parse_policy_file(POLICIES).unwrap();
        let before = parse_product(PRODUCT).unwrap();
        let dropped = PRODUCT.replace("          - {name: email, type: string, tags: [pii]}\n", "");
        let same_major = parse_product(&dropped.replace("version: 1.2.0", "version: 1.3.0")).unwrap();
        let found = check_breaking_major(&policies[3], &before, &same_major);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].reason.contains("needs a new major version (got 1.3.0)"), "{}", found[0].reason);
        let new_major = parse_product(&dropped.replace("version: 1.2.0", "version: 2.0.0")).unwrap();
        assert!(check_breaking_major(&policies[3], &before, &new_major).is_empty());
        let widened = parse_product(&PRODUCT.replace("version: 1.2.0", "version: 1.2.1")).unwrap();
        assert!(check_breaking_major(&policies[3], &before, &widened).is_empty());
    }

    #[test]
    fn pii_columns_come_from_contract_tags() {
        let product = parse_product(PRODUCT).unwrap();
        let columns = pii_columns(&product, &["pii".to_owned()]);
        assert_eq!(columns.len(), 1);
        assert_eq!(columns[0].1, "email");
    }
}

/// Hostile descriptor text is refused before parsing, quickly, naming the position.
mod limits {
    use std::time::Instant;

    use crate::{MAX_DESCRIPTOR_BYTES, parse_domain, parse_policy_file, parse_product};

    fn timed<T>(what: &str, parse: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let outcome = parse();
        println!("{what}: {:?}", started.elapsed());
        outcome
    }

    #[test]
    fn deep_flow_nesting_is_refused_in_linear_time() {
        // 80,000 unclosed `[` after `namespaces: ` took the YAML parser 7 s (quadratic).
        let text = format!("kind: Domain\nid: x\nname: X\nnamespaces: {}", "[".repeat(80_000));
        let error = timed("80,000 unclosed [", || parse_domain(&text)).unwrap_err();
        assert_eq!(error.path, "");
        assert_eq!(
            error.to_string(),
            "line 4, column 77: flow collections (`[`, `{`) nest deeper than 64 levels; at most 64 are accepted"
        );
        let text = format!("policies:\n  - {}", "{a: ".repeat(80_000));
        let error = timed("80,000 unclosed {", || parse_policy_file(&text)).unwrap_err();
        assert!(error.message.starts_with("line 2, column 261: flow collections"), "{error}");
        // JSON descriptors go through the same check.
        let json = format!("{{\"id\": {}", "[".repeat(100));
        assert!(parse_product(&json).unwrap_err().message.starts_with("line 1, column 71: flow collections"));
    }

    #[test]
    fn deep_indentation_is_refused() {
        let text: String = (0..200).map(|level| format!("{}k{level}:\n", " ".repeat(level))).collect();
        let error = timed("200 levels of indentation", || parse_domain(&text)).unwrap_err();
        assert!(error.message.starts_with("line 65, column 65: block collections"), "{error}");
    }

    #[test]
    fn descriptors_longer_than_the_limit_are_refused() {
        let text = format!("kind: Domain\nid: x\nname: X\ndescription: {}\n", "x".repeat(MAX_DESCRIPTOR_BYTES));
        let error = parse_domain(&text).unwrap_err();
        assert_eq!(error.to_string(), format!("the descriptor is {} bytes; at most 1048576 are accepted", text.len()));
        let error = parse_policy_file(&format!("policies: []\n#{}", "x".repeat(MAX_DESCRIPTOR_BYTES))).unwrap_err();
        assert!(error.message.starts_with("the policy file is 1048590 bytes"), "{error}");
    }

    #[test]
    fn aliases_expanding_past_the_limit_are_refused() {
        let text = format!(
            "kind: Domain\nid: x\nname: X\nnamespaces: &n [{}]\npolicies: [{}]\n",
            vec!["ns"; 10_000].join(", "),
            ["*n"; 100].join(", ")
        );
        let error = timed("10,000 values named 100 times", || parse_domain(&text)).unwrap_err();
        assert!(error.message.contains("expands through aliases to more than 500000 values"), "{error}");
        // The nested "billion laughs" the YAML parser refuses by itself.
        let mut bomb = String::from("kind: Domain\nid: x\nname: X\npolicies:\n  - &a [x, x, x, x, x, x, x, x, x]\n");
        for (name, previous) in ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g"])
        {
            bomb.push_str(&format!("  - &{name} [{}]\n", vec![format!("*{previous}"); 9].join(", ")));
        }
        let error = timed("billion laughs", || parse_domain(&bomb)).unwrap_err();
        assert!(error.to_string().contains("repetition limit exceeded"), "{error}");
    }
}
