//! Tests of the constraints: parsing, each operator against Marathon's own test cases
//! (`src/test/scala/mesosphere/mesos/ConstraintsTest.scala`), the tracker, and properties.

use proptest::prelude::*;

use super::*;

fn spec(field: &str, op: ConstraintOperator, value: Option<&str>) -> ConstraintSpec {
    ConstraintSpec::new(field, op, value)
}

fn one(field: &str, op: ConstraintOperator, value: Option<&str>) -> Constraints {
    parse(&[spec(field, op, value)]).expect("valid constraint")
}

fn node(host: &str, labels: &[(&str, &str)]) -> NodeAttributes {
    NodeAttributes::new(host, labels.iter().copied())
}

fn rack(n: u32) -> NodeAttributes {
    node(
        "foohost",
        &[("foo", "bar"), ("rackid", &format!("rack-{n}"))],
    )
}

use ConstraintOperator::*;

#[test]
fn every_operator_parses_with_the_values_it_takes() {
    let specs = [
        spec("hostname", Unique, None),
        spec("zone", Cluster, Some("a")),
        spec("zone", Cluster, None),
        spec("region", GroupBy, Some("3")),
        spec("@zone", GroupBy, None),
        spec("rack", MaxPer, Some("2")),
        spec("example.com/rack", Like, Some("r-[0-9]+")),
        spec("rack", Unlike, Some("r-1.*")),
        spec("disk", Is, Some("ssd")),
    ];
    let parsed = parse(&specs).expect("all valid");
    assert_eq!(parsed.len(), 9);
    let fields: Vec<String> = parsed.iter().map(|c| c.field.to_string()).collect();
    assert_eq!(fields[..5], ["hostname", "zone", "zone", "region", "zone"]);
    assert_eq!(
        parsed.iter().nth(6).map(|c| c.field.label_key()),
        Some(Some("example.com/rack"))
    );
}

#[test]
fn bad_constraints_are_named_by_position_with_their_problem() {
    let specs = [
        spec("hostname", Unique, Some("x")),
        spec("rack", MaxPer, None),
        spec("rack", MaxPer, Some("two")),
        spec("rack", MaxPer, Some("0")),
        spec("rack", GroupBy, Some("-1")),
        spec("rack", Like, None),
        spec("rack", Unlike, Some("[")),
        spec("rack", Is, Some("a b")),
        spec("", Unique, None),
        spec("Bad_Prefix/rack", Unique, None),
        spec("rack", Like, Some("r-.*")),
    ];
    let errors = parse(&specs).expect_err("invalid").0;
    let indices: Vec<usize> = errors.iter().map(|e| e.index).collect();
    assert_eq!(indices, (0..10).collect::<Vec<_>>());
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages[0],
        "constraint 0 (hostname UNIQUE x): UNIQUE takes no value"
    );
    assert_eq!(
        messages[1],
        "constraint 1 (rack MAX_PER): MAX_PER needs a value"
    );
    assert_eq!(
        messages[2],
        "constraint 2 (rack MAX_PER two): MAX_PER needs a positive integer (at most 999999999), not 'two'"
    );
    assert!(messages[3].contains("not '0'"), "{}", messages[3]);
    assert!(
        messages[4].contains("GROUP_BY needs a positive integer"),
        "{}",
        messages[4]
    );
    assert_eq!(messages[5], "constraint 5 (rack LIKE): LIKE needs a value");
    assert!(
        messages[6]
            .starts_with("constraint 6 (rack UNLIKE [): '[' is not a valid regular expression")
    );
    assert!(messages[7].contains("IS compares text"), "{}", messages[7]);
    assert_eq!(messages[8], "constraint 8 ( UNIQUE): the field is empty");
    assert!(messages[9].contains("not hostname, zone, region or a valid node label key"));
    let parts: Vec<&str> = errors.iter().map(|e| e.problem.part()).collect();
    assert_eq!(parts[..2], ["value", "value"]);
    assert_eq!(parts[8..], ["field", "field"]);
}

#[test]
fn marathon_arrays_with_a_bad_operator_or_arity_are_refused() {
    let arrays: Vec<Vec<String>> = [
        vec!["hostname", "unique"],
        vec!["hostname", "FOO"],
        vec!["hostname"],
        vec!["a", "IS", "b", "c"],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(String::from).collect())
    .collect();
    let errors = parse_marathon(&arrays).expect_err("invalid").0;
    assert_eq!(errors.len(), 3);
    assert_eq!(
        errors[0].to_string(),
        "constraint 1 (hostname FOO): unknown operator 'FOO' (expected UNIQUE, CLUSTER, GROUP_BY, MAX_PER, LIKE, UNLIKE or IS)"
    );
    assert_eq!(errors[0].problem.part(), "operator");
    assert_eq!(errors[1].problem, ConstraintProblem::WrongArity(1));
    assert_eq!(errors[2].problem, ConstraintProblem::WrongArity(4));
    let ok = parse_marathon(&arrays[..1]).expect("lower-case operator accepted");
    assert!(matches!(
        ok.iter().next().map(|c| &c.rule),
        Some(Rule::Unique)
    ));
}

#[test]
fn specs_are_camel_case_json_with_marathon_operator_spellings() {
    let json = r#"[{"field":"zone","operator":"GROUP_BY","value":"3"},{"field":"hostname","operator":"UNIQUE"}]"#;
    let specs: Vec<ConstraintSpec> = serde_json::from_str(json).expect("valid JSON");
    assert_eq!(specs[0], spec("zone", GroupBy, Some("3")));
    assert_eq!(serde_json::to_string(&specs).expect("serializes"), json);
    let bad = serde_json::from_str::<ConstraintSpec>(r#"{"field":"a","operator":"FOO"}"#);
    assert!(bad.is_err());
}

#[test]
fn the_schema_carries_the_operator_enum_and_cel_rules() {
    let schema = serde_json::to_value(schemars::schema_for!(ConstraintSpec)).expect("schema");
    let text = schema.to_string();
    for op in ConstraintOperator::ALL {
        assert!(
            text.contains(&format!("\"{op}\"")),
            "{op} missing from {text}"
        );
    }
    let rules = schema["x-kubernetes-validations"]
        .as_array()
        .expect("CEL rules");
    assert_eq!(rules.len(), 5);
    assert_eq!(schema["properties"]["field"]["minLength"], 1);
}

#[test]
fn unique_refuses_a_value_already_used() {
    let c = one("hostname", Unique, None);
    let mut t = PlacementTracker::new(&c, 3);
    assert_eq!(t.place(&node("host1", &[])), Ok(()));
    let refused = t.check(&node("host1", &[])).expect_err("taken");
    assert_eq!(
        refused.to_string(),
        "constraint 0 (hostname UNIQUE): host1 already has an instance"
    );
    assert_eq!(t.check(&node("host2", &[])), Ok(()));
}

#[test]
fn zone_and_region_read_the_topology_labels() {
    let c = one("zone", Unique, None);
    let a = node("n1", &[(ZONE_LABEL, "zone-a"), (REGION_LABEL, "r")]);
    let t = PlacementTracker::with_placements(&c, 2, [&a]);
    let refused = t
        .check(&node("n2", &[(ZONE_LABEL, "zone-a")]))
        .expect_err("same zone");
    assert_eq!(
        refused.to_string(),
        "constraint 0 (zone UNIQUE): zone-a already has an instance"
    );
    let missing = t.check(&node("n3", &[])).expect_err("no zone");
    assert_eq!(
        missing.message,
        format!("n3 has no zone (label {ZONE_LABEL})")
    );
    let region = one("region", Cluster, Some("r"));
    assert_eq!(
        evaluate(&region, &a, Vec::<NodeAttributes>::new(), 1),
        Ok(())
    );
}

#[test]
fn cluster_with_a_value_requires_it_and_without_pins_the_first() {
    let fixed = one("rackid", Cluster, Some("rack-1"));
    assert_eq!(
        evaluate(&fixed, &rack(1), Vec::<NodeAttributes>::new(), 3),
        Ok(())
    );
    let refused = evaluate(&fixed, &rack(2), Vec::<NodeAttributes>::new(), 3).expect_err("other");
    assert_eq!(refused.message, "rackid is rack-2, not rack-1");
    let first = one("rackid", Cluster, None);
    let mut t = PlacementTracker::new(&first, 3);
    assert_eq!(t.place(&rack(2)), Ok(()));
    assert_eq!(t.place(&rack(2)), Ok(()));
    let refused = t.check(&rack(1)).expect_err("pinned to rack-2");
    assert_eq!(
        refused.message,
        "the instances run where rackid is rack-2, not rack-1"
    );
}

/// Marathon's `RackGroupedByConstraints` tests (app of 5 instances).
#[test]
fn group_by_with_a_count_follows_marathon() {
    let check = |n: &str, placed: &[u32], offer: u32| {
        let c = one("rackid", GroupBy, Some(n));
        evaluate(&c, &rack(offer), placed.iter().map(|&r| rack(r)), 5).is_ok()
    };
    assert!(check("2", &[], 1), "initial placement");
    assert!(check("2", &[1, 1], 1), "remainder to a group");
    assert!(check("4", &[1], 1), "remainder to a group");
    assert!(!check("2", &[1, 1, 1], 1), "more than one remainder");
    assert!(!check("4", &[1, 1], 1), "more than one remainder");
    assert!(check("2", &[1], 2), "second placement");
    assert!(
        !check("4", &[1, 1, 2], 2),
        "only remainder-many groups get one extra"
    );
    assert!(check("2", &[1, 1, 1, 2], 2), "final placement");
    assert!(!check("2", &[1, 2], 3), "no third rack");
    let c = one("rackid", GroupBy, Some("2"));
    let refused = evaluate(&c, &node("foohost", &[]), Vec::<NodeAttributes>::new(), 5);
    assert_eq!(
        refused.map_err(|r| r.message),
        Err("foohost has no label rackid".to_string())
    );
    let full = evaluate(&c, &rack(3), [rack(1), rack(2)], 5).expect_err("two racks used");
    assert_eq!(
        full.message,
        "2 values of rackid are in use already, the most GROUP_BY 2 allows"
    );
}

#[test]
fn group_by_without_a_count_keeps_values_within_one() {
    let c = one("rackid", GroupBy, None);
    let mut t = PlacementTracker::new(&c, 10);
    for r in [1, 2, 1, 2] {
        assert_eq!(t.place(&rack(r)), Ok(()));
    }
    assert_eq!(t.place(&rack(3)), Ok(()), "a new value is always taken");
    let refused = t
        .check(&rack(1))
        .expect_err("rack-1 holds 2, rack-3 holds 1");
    assert_eq!(
        refused.message,
        "rack-1 holds 2 instances, more than the least used value (1)"
    );
    assert_eq!(t.place(&rack(3)), Ok(()));
    assert_eq!(t.place(&rack(1)), Ok(()));
}

/// Marathon's "MAX_PER" tests.
#[test]
fn max_per_caps_each_value() {
    let c = one("hostname", MaxPer, Some("2"));
    let mut t = PlacementTracker::new(&c, 10);
    assert_eq!(t.place(&node("host1", &[])), Ok(()));
    assert_eq!(t.place(&node("host1", &[])), Ok(()));
    assert_eq!(t.place(&node("host2", &[])), Ok(()));
    let refused = t.check(&node("host1", &[])).expect_err("full");
    assert_eq!(refused.message, "host1 already has 2 instances (at most 2)");
    assert_eq!(t.place(&node("host3", &[])), Ok(()));
}

#[test]
fn like_and_unlike_match_the_whole_value_and_only_unlike_passes_a_missing_one() {
    let none = Vec::<NodeAttributes>::new;
    let like = one("rackid", Like, Some("rack-[1-3]"));
    assert_eq!(evaluate(&like, &rack(1), none(), 1), Ok(()));
    assert!(evaluate(&like, &rack(4), none(), 1).is_err());
    let partial = one("rackid", Like, Some("rack"));
    assert!(
        evaluate(&partial, &rack(1), none(), 1).is_err(),
        "whole-value match"
    );
    let unlike = one("jdk", Unlike, Some("7"));
    assert_eq!(
        evaluate(&unlike, &node("h", &[("jdk", "6")]), none(), 1),
        Ok(())
    );
    let refused = evaluate(&unlike, &node("h", &[("jdk", "7")]), none(), 1).expect_err("7");
    assert_eq!(refused.message, "jdk is 7, which matches");
    assert_eq!(evaluate(&unlike, &node("h", &[]), none(), 1), Ok(()));
    assert!(evaluate(&one("jdk", Like, Some(".*")), &node("h", &[]), none(), 1).is_err());
}

#[test]
fn is_compares_text() {
    let c = one("disk", Is, Some("ssd"));
    assert_eq!(
        evaluate(
            &c,
            &node("h", &[("disk", "ssd")]),
            Vec::<NodeAttributes>::new(),
            1
        ),
        Ok(())
    );
    let refused = evaluate(
        &c,
        &node("h", &[("disk", "hdd")]),
        Vec::<NodeAttributes>::new(),
        1,
    );
    assert_eq!(
        refused.map_err(|r| r.message),
        Err("disk is hdd, not ssd".to_string())
    );
    let scalar = one("cores", Is, Some("1.0"));
    assert!(
        evaluate(
            &scalar,
            &node("h", &[("cores", "1")]),
            Vec::<NodeAttributes>::new(),
            1
        )
        .is_err()
    );
}

#[test]
fn the_first_refusing_constraint_is_named_and_summaries_count_refusals() {
    let c = parse(&[spec("zone", Unique, None), spec("rack", Like, Some("r-.*"))]).expect("valid");
    let t = PlacementTracker::with_placements(
        &c,
        3,
        [node("n0", &[(ZONE_LABEL, "a"), ("rack", "r-1")])],
    );
    let mut summary = RejectionSummary::default();
    for n in [
        node("n1", &[(ZONE_LABEL, "a"), ("rack", "r-2")]),
        node("n2", &[(ZONE_LABEL, "b"), ("rack", "x")]),
        node("n3", &[(ZONE_LABEL, "a"), ("rack", "x")]),
        node("n4", &[(ZONE_LABEL, "c"), ("rack", "r-9")]),
    ] {
        summary.add(&t.check(&n));
    }
    assert_eq!(summary.refused(), 3);
    assert_eq!(
        summary.message(),
        "1 of 4 nodes admit it: constraint 0 (zone UNIQUE) refused 2 (a already has an instance); \
         constraint 1 (rack LIKE r-.*) refused 1 (rack is x, which does not match)"
    );
}

#[test]
fn a_set_is_judged_as_a_whole() {
    let c = parse(&[
        spec("zone", GroupBy, Some("2")),
        spec("hostname", Unique, None),
    ])
    .expect("valid");
    let z = |h: &str, zone: &str| node(h, &[(ZONE_LABEL, zone)]);
    assert!(satisfied_by(&c, &[z("1", "a"), z("2", "b"), z("3", "a")]));
    assert!(!satisfied_by(&c, &[z("1", "a"), z("2", "a"), z("3", "a")]));
    assert!(
        !satisfied_by(&c, &[z("1", "a"), z("1", "b")]),
        "hostname repeats"
    );
    assert!(
        !satisfied_by(&c, &[z("1", "a"), z("2", "b"), z("3", "c")]),
        "three zones"
    );
    let model = SpreadModel::new(&c, &[z("1", "a"), z("2", "a"), z("3", "a"), z("4", "b")]);
    let all = model.all_present();
    assert!(model.feasible(&all, 2));
    assert!(model.feasible(&all, 3), "a, a, b");
    assert!(!model.feasible(&all, 4), "a, a, b, b needs another b");
}

// ---- properties ----

const ZONES: [&str; 3] = ["a", "b", "c"];
const RACKS: [&str; 4] = ["r-1", "r-2", "x-1", "x-2"];

fn arb_node() -> impl Strategy<Value = NodeAttributes> {
    (
        0..6usize,
        prop::option::of(0..3usize),
        prop::option::of(0..4usize),
    )
        .prop_map(|(h, z, r)| {
            let mut labels = vec![];
            if let Some(z) = z {
                labels.push((ZONE_LABEL, ZONES[z]));
            }
            if let Some(r) = r {
                labels.push(("rack", RACKS[r]));
            }
            node(&format!("host-{h}"), &labels)
        })
}

/// A constraint on a random field with one of the operators that hold for any set the
/// tracker accepts (every operator but GROUP_BY, whose spread depends on the target).
fn arb_holding_constraint() -> impl Strategy<Value = ConstraintSpec> {
    let field = prop::sample::select(vec!["hostname", "zone", "rack"]);
    let rule = prop_oneof![
        Just((Unique, None)),
        Just((Cluster, None)),
        prop::sample::select(vec!["a", "host-1", "r-1"]).prop_map(|v| (Cluster, Some(v))),
        (1..3u32).prop_map(|n| (MaxPer, Some(if n == 1 { "1" } else { "2" }))),
        prop::sample::select(vec!["r-.*", "host-[0-3]", "[ab]"]).prop_map(|v| (Like, Some(v))),
        prop::sample::select(vec!["x-.*", "host-[0-1]", "c"]).prop_map(|v| (Unlike, Some(v))),
        prop::sample::select(vec!["a", "r-2", "host-2"]).prop_map(|v| (Is, Some(v))),
    ];
    (field, rule).prop_map(|(f, (op, v))| spec(f, op, v))
}

/// Places `wanted` instances one at a time, each on the first node (in `tries` order)
/// that admits it; returns the nodes used and the summaries of the instances that fit
/// nowhere.
fn place_all(
    tracker: &mut PlacementTracker<'_>,
    nodes: &[NodeAttributes],
    wanted: usize,
) -> (Vec<NodeAttributes>, Vec<RejectionSummary>) {
    let mut placed = vec![];
    let mut unplaced = vec![];
    for _ in 0..wanted {
        let mut summary = RejectionSummary::default();
        let fit = nodes.iter().find(|n| {
            let verdict = tracker.check(*n);
            summary.add(&verdict);
            verdict.is_ok()
        });
        match fit {
            Some(n) => {
                tracker.record(n);
                placed.push(n.clone());
            }
            None => unplaced.push(summary),
        }
    }
    (placed, unplaced)
}

proptest! {
    #[test]
    fn accepted_placements_always_satisfy_the_holding_operators(
        specs in prop::collection::vec(arb_holding_constraint(), 1..4),
        nodes in prop::collection::vec(arb_node(), 1..10),
        wanted in 1..12usize,
    ) {
        let constraints = parse(&specs).expect("generated constraints are valid");
        let mut tracker = PlacementTracker::new(&constraints, wanted as u32);
        let (placed, unplaced) = place_all(&mut tracker, &nodes, wanted);
        prop_assert_eq!(placed.len() + unplaced.len(), wanted);
        prop_assert!(satisfied_by(&constraints, &placed), "{:?} broke {:?}", placed, specs);
        for summary in &unplaced {
            prop_assert_eq!(summary.refused(), nodes.len() as u32);
            let expected = format!("0 of {} nodes admit it: constraint", nodes.len());
            prop_assert!(summary.message().starts_with(&expected), "{}", summary.message());
        }
        // An instance is reported unplaced only when no node admits one more.
        if !unplaced.is_empty() {
            prop_assert!(nodes.iter().all(|n| tracker.check(n).is_err()));
        }
    }

    #[test]
    fn a_tracker_fed_placement_by_placement_agrees_with_one_built_from_them(
        specs in prop::collection::vec(arb_holding_constraint(), 1..4),
        placements in prop::collection::vec(arb_node(), 0..8),
        probe in arb_node(),
    ) {
        let constraints = parse(&specs).expect("valid");
        let mut live = PlacementTracker::new(&constraints, 8);
        for p in &placements {
            live.record(p);
        }
        let rebuilt = PlacementTracker::with_placements(&constraints, 8, &placements);
        prop_assert_eq!(live.check(&probe), rebuilt.check(&probe));
        prop_assert_eq!(live.placed(), placements.len() as u32);
    }

    #[test]
    fn group_by_never_exceeds_its_share(
        n in 1..4u32,
        target in 0..12u32,
        nodes in prop::collection::vec(arb_node(), 1..10),
    ) {
        let constraints = one("zone", GroupBy, Some(&n.to_string()));
        let mut tracker = PlacementTracker::new(&constraints, target);
        let (placed, _) = place_all(&mut tracker, &nodes, target as usize);
        let mut counts = std::collections::BTreeMap::new();
        for p in &placed {
            *counts.entry(p.label(ZONE_LABEL).expect("GROUP_BY refuses nodes without a zone")).or_insert(0u32) += 1;
        }
        let (q, r) = (target / n, target % n);
        prop_assert!(counts.len() as u32 <= n);
        prop_assert!(counts.values().all(|&c| c <= q + u32::from(r > 0)));
        prop_assert!(counts.values().filter(|&&c| c > q).count() as u32 <= r);
        if placed.len() as u32 == target {
            prop_assert!(satisfied_by(&constraints, &placed));
        }
    }

    #[test]
    fn feasibility_is_exact_for_counting_rules_on_one_field(
        counting in prop::collection::vec(
            prop_oneof![
                Just((Unique, None)),
                Just((Cluster, None)),
                Just((GroupBy, None)),
                (1..4u32).prop_map(|n| (GroupBy, Some(n))),
                (1..3u32).prop_map(|n| (MaxPer, Some(n))),
            ],
            1..3,
        ),
        predicate in prop::option::of(prop::sample::select(vec![
            spec("rack", Like, Some("r-.*")),
            spec("rack", Unlike, Some("x-1")),
            spec("hostname", Is, Some("host-1")),
        ])),
        nodes in prop::collection::vec(arb_node(), 0..9),
        m in 0..9usize,
    ) {
        let group_bys = counting.iter().filter(|(op, _)| *op == GroupBy).count();
        prop_assume!(group_bys <= 1);
        let mut specs: Vec<ConstraintSpec> = counting
            .iter()
            .map(|(op, n)| spec("zone", *op, n.map(|n| n.to_string()).as_deref()))
            .collect();
        specs.extend(predicate);
        let constraints = parse(&specs).expect("valid");
        let model = SpreadModel::new(&constraints, &nodes);
        let brute = m <= nodes.len() && subsets(nodes.len(), m).into_iter().any(|subset| {
            let chosen: Vec<&NodeAttributes> = subset.iter().filter_map(|&i| nodes.get(i)).collect();
            satisfied_by(&constraints, &chosen)
        });
        prop_assert_eq!(model.feasible(&model.all_present(), m), brute);
    }
}

/// Every subset of `0..n` with `k` elements.
pub(crate) fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    if k == 0 {
        return vec![vec![]];
    }
    if n < k {
        return vec![];
    }
    let mut with_last = subsets(n - 1, k - 1);
    for s in &mut with_last {
        s.push(n - 1);
    }
    with_last.extend(subsets(n - 1, k));
    with_last
}
