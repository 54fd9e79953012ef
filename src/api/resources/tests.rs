//! Unit and property tests of the resource model.

use super::scalar::{MIB, ScalarVisitor};
use super::*;
use proptest::prelude::*;
use serde::de::Visitor;
use std::collections::BTreeSet;
use std::marker::PhantomData;

fn q(s: &str) -> Quantity {
    Quantity(s.to_owned())
}

fn millis(s: &str) -> Result<u64, QuantityError> {
    cpu_millis_from_quantity(&q(s))
}

fn bytes(s: &str) -> Result<u64, QuantityError> {
    bytes_from_quantity(&q(s))
}

fn ports(ranges: &[(u16, u16)]) -> PortRanges {
    ranges
        .iter()
        .map(|&(begin, end)| PortRange { begin, end })
        .collect()
}

fn cpus_json(json: &str) -> Result<Cpus, serde_json::Error> {
    serde_json::from_str(json)
}

fn mem_json(json: &str) -> Result<Mebibytes, serde_json::Error> {
    serde_json::from_str(json)
}

// ----- quantity parsing -----

#[test]
fn parses_plain_integers_and_decimals() {
    assert_eq!(millis("2"), Ok(2000));
    assert_eq!(millis("32"), Ok(32_000));
    assert_eq!(millis("0.5"), Ok(500));
    assert_eq!(millis("1.25"), Ok(1250));
    assert_eq!(millis(".5"), Ok(500));
    assert_eq!(millis("5."), Ok(5000));
    assert_eq!(millis("+1.5"), Ok(1500));
    assert_eq!(millis("0"), Ok(0));
    assert_eq!(millis("000"), Ok(0));
    assert_eq!(millis("007"), Ok(7000));
    assert_eq!(millis("  3  "), Ok(3000));
    assert_eq!(bytes("110"), Ok(110));
}

#[test]
fn parses_decimal_si_suffixes() {
    assert_eq!(millis("500m"), Ok(500));
    assert_eq!(millis("31500m"), Ok(31_500));
    assert_eq!(millis("1000000u"), Ok(1000));
    assert_eq!(millis("1000000000n"), Ok(1000));
    assert_eq!(millis("1n"), Ok(1));
    assert_eq!(millis("1u"), Ok(1));
    assert_eq!(bytes("1k"), Ok(1000));
    assert_eq!(bytes("1M"), Ok(1_000_000));
    assert_eq!(bytes("1G"), Ok(1_000_000_000));
    assert_eq!(bytes("1T"), Ok(1_000_000_000_000));
    assert_eq!(bytes("1P"), Ok(1_000_000_000_000_000));
    assert_eq!(bytes("1E"), Ok(1_000_000_000_000_000_000));
    assert_eq!(bytes("1.5k"), Ok(1500));
    assert_eq!(bytes("1500m"), Ok(2));
    assert_eq!(bytes("1.G"), Ok(1_000_000_000));
}

#[test]
fn parses_binary_si_suffixes() {
    assert_eq!(bytes("1Ki"), Ok(1024));
    assert_eq!(bytes("256Mi"), Ok(256 << 20));
    assert_eq!(bytes("256Gi"), Ok(256 << 30));
    assert_eq!(bytes("1Ti"), Ok(1 << 40));
    assert_eq!(bytes("1Pi"), Ok(1 << 50));
    assert_eq!(bytes("1Ei"), Ok(1 << 60));
    assert_eq!(bytes("15Ei"), Ok(15 << 60));
    assert_eq!(bytes("1.5Gi"), Ok(1536 << 20));
    assert_eq!(bytes("0.5Ki"), Ok(512));
    assert_eq!(bytes("0.001Ki"), Ok(2)); // 1.024 bytes rounds up
    assert_eq!(millis("1Ki"), Ok(1_024_000));
}

#[test]
fn parses_decimal_exponents() {
    assert_eq!(bytes("1e3"), Ok(1000));
    assert_eq!(bytes("1E3"), Ok(1000));
    assert_eq!(bytes("1e+3"), Ok(1000));
    assert_eq!(bytes("1.5e3"), Ok(1500));
    assert_eq!(bytes("1e9"), Ok(1_000_000_000));
    assert_eq!(millis("5e-3"), Ok(5));
    assert_eq!(millis("5E-3"), Ok(5));
    assert_eq!(millis("1e0"), Ok(1000));
    assert_eq!(millis("0e999999999999"), Ok(0));
    assert_eq!(millis("1e-999999999999"), Ok(1));
}

#[test]
fn rounds_up_like_kubernetes() {
    assert_eq!(millis("0.0001"), Ok(1));
    assert_eq!(millis("0.1m"), Ok(1));
    assert_eq!(millis("1001u"), Ok(2));
    assert_eq!(millis("1.0001"), Ok(1001));
    assert_eq!(bytes("0.1"), Ok(1));
    assert_eq!(bytes("1.000000000000000000000000000000000001"), Ok(2));
    assert_eq!(
        bytes("1.0000000000000000000000000000000000000000000000000001Ei"),
        Ok((1 << 60) + 1)
    );
    // 2^60 * 9.999e-19 = 1.15..., so the true value is 2^60 + 1.15... → +2.
    assert_eq!(bytes("1.0000000000000000009999Ei"), Ok((1 << 60) + 2));
}

#[test]
fn quirky_forms_the_api_server_accepts() {
    assert_eq!(bytes("Mi"), Ok(0));
    assert_eq!(bytes("."), Ok(0));
    assert_eq!(bytes("-"), Ok(0));
    assert_eq!(bytes("-0"), Ok(0));
    assert_eq!(bytes("-0.0Gi"), Ok(0));
}

#[test]
fn rejects_malformed_quantities() {
    for bad in [
        "",
        "   ",
        "abc",
        "1K",
        "1ki",
        "1mi",
        "1e",
        "1e+",
        "1e-",
        "1e1.5",
        "1.2.3",
        "1 Gi",
        "1Gib",
        "--1",
        "+-1",
        "1e++3",
        "1e3m",
        "0x10",
        "1_000",
        "∞",
        "1ee3",
        "1e99999999999999999999",
    ] {
        match parse_quantity(bad) {
            Err(QuantityError::Invalid { input, .. }) => assert_eq!(input, bad),
            other => panic!("{bad:?} parsed as {other:?}"),
        }
    }
}

#[test]
fn rejects_negative_and_too_large() {
    assert!(matches!(millis("-1"), Err(QuantityError::Negative { .. })));
    assert!(matches!(bytes("-1Mi"), Err(QuantityError::Negative { .. })));
    assert!(matches!(bytes("16Ei"), Err(QuantityError::TooLarge { .. })));
    assert!(matches!(bytes("1e20"), Err(QuantityError::TooLarge { .. })));
    assert!(matches!(
        millis("1e9999999999"),
        Err(QuantityError::TooLarge { .. })
    ));
    assert_eq!(bytes("18446744073709551615"), Ok(u64::MAX));
    assert!(matches!(
        bytes("18446744073709551616"),
        Err(QuantityError::TooLarge { .. })
    ));
    assert!(matches!(
        bytes("18446744073709551615.1"),
        Err(QuantityError::TooLarge { .. })
    ));
    assert_eq!(millis("18446744073709551615m"), Ok(u64::MAX));
}

#[test]
fn error_messages_name_the_input() {
    let err = bytes("12 parsecs").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid quantity \"12 parsecs\": unknown suffix"
    );
    assert_eq!(
        millis("-2").unwrap_err().to_string(),
        "quantity \"-2\" is negative"
    );
    assert_eq!(
        bytes("1e30").unwrap_err().to_string(),
        "quantity \"1e30\" is too large for bytes"
    );
}

#[test]
fn parsed_quantity_parts() {
    let p = parse_quantity("-1.500Gi").unwrap();
    assert!(p.is_negative());
    assert_eq!(p.mantissa(), Some(-15));
    assert_eq!(p.exp10(), -1);
    assert_eq!(p.exp2(), 30);
    let p = parse_quantity("1200k").unwrap();
    assert_eq!((p.mantissa(), p.exp10(), p.exp2()), (Some(12), 5, 0));
    assert_eq!(p.ceil_scaled(0), Some(1_200_000));
    let zero = parse_quantity("-0.000").unwrap();
    assert!(zero.is_zero() && !zero.is_negative());
    assert_eq!(parse_quantity("1").unwrap().ceil_scaled(-1), Some(1));
    assert_eq!(parse_quantity("-1").unwrap().ceil_scaled(0), None);
    let long = parse_quantity(&"9".repeat(50)).unwrap();
    assert_eq!(long.mantissa(), None);
    assert_eq!(long.ceil_scaled(0), None);
}

#[test]
fn node_allocatable_values_parse() {
    assert_eq!(millis("32"), Ok(32_000));
    assert_eq!(millis("31500m"), Ok(31_500));
    assert_eq!(bytes("256Gi"), Ok(256 << 30));
    assert_eq!(bytes("1Ti"), Ok(1 << 40));
    assert_eq!(bytes("263932732Ki"), Ok(263_932_732 * 1024));
    assert_eq!(value_from_quantity(&q("110")), Ok(110));
    assert_eq!(value_from_quantity(&q("1.5")), Ok(2));
}

// ----- k8s maps -----

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    entries.iter().map(|&(k, v)| (k.to_owned(), q(v))).collect()
}

#[test]
fn to_k8s_requests_formats() {
    let r = Resources {
        cpus: Cpus::from_millis(1500),
        mem: Mebibytes::from_bytes(256 << 20),
        disk: Mebibytes::from_bytes(3 << 30),
        gpus: 2,
        ports: ports(&[(31000, 31005)]),
    };
    assert_eq!(
        r.to_k8s_requests(),
        map(&[
            ("cpu", "1500m"),
            ("memory", "256Mi"),
            ("ephemeral-storage", "3Gi"),
            ("nvidia.com/gpu", "2"),
        ])
    );
    let r = Resources {
        cpus: Cpus::from_millis(2000),
        mem: Mebibytes::from_bytes(1536 << 20),
        disk: Mebibytes::from_bytes(1000),
        ..Resources::default()
    };
    assert_eq!(
        r.to_k8s_requests(),
        map(&[
            ("cpu", "2"),
            ("memory", "1536Mi"),
            ("ephemeral-storage", "1000"),
        ])
    );
    assert_eq!(Mebibytes::from_bytes(1 << 40).to_quantity(), q("1Ti"));
    assert_eq!(Mebibytes::from_bytes(1 << 61).to_quantity(), q("2Ei"));
    assert_eq!(Mebibytes::from_bytes(2048).to_quantity(), q("2Ki"));
    assert_eq!(Mebibytes::from_bytes(0).to_quantity(), q("0"));
    assert_eq!(Cpus::from_millis(0).to_quantity(), q("0"));
    assert!(Resources::default().to_k8s_requests().is_empty());
}

#[test]
fn from_k8s_reads_known_keys() {
    let r = Resources::from_k8s(&map(&[
        ("cpu", "31500m"),
        ("memory", "256Gi"),
        ("ephemeral-storage", "1Ti"),
        ("nvidia.com/gpu", "4"),
        ("pods", "110"),
        ("hugepages-2Mi", "0"),
    ]))
    .unwrap();
    assert_eq!(
        r,
        Resources {
            cpus: Cpus::from_millis(31_500),
            mem: Mebibytes::from_bytes(256 << 30),
            disk: Mebibytes::from_bytes(1 << 40),
            gpus: 4,
            ports: PortRanges::empty(),
        }
    );
    assert_eq!(
        Resources::from_k8s(&BTreeMap::new()),
        Ok(Resources::default())
    );
}

#[test]
fn from_k8s_errors_name_the_resource() {
    let err = Resources::from_k8s(&map(&[("memory", "lots")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "memory: invalid quantity \"lots\": unknown suffix"
    );
    let err = Resources::from_k8s(&map(&[("nvidia.com/gpu", "0.5")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "nvidia.com/gpu: quantity \"0.5\" is not a whole number"
    );
    let err = Resources::from_k8s(&map(&[("cpu", "-1")])).unwrap_err();
    assert_eq!(err.to_string(), "cpu: quantity \"-1\" is negative");
    assert_eq!(
        Resources::from_k8s(&map(&[("nvidia.com/gpu", "2000m")])).map(|r| r.gpus),
        Ok(2)
    );
}

// ----- serde -----

#[test]
fn cpus_deserialize_exactly() {
    assert_eq!(cpus_json("0.1").unwrap(), Cpus::from_millis(100));
    assert_eq!(cpus_json("0.3").unwrap(), Cpus::from_millis(300));
    assert_eq!(cpus_json("2.675").unwrap(), Cpus::from_millis(2675));
    assert_eq!(cpus_json("1.5").unwrap(), Cpus::from_millis(1500));
    assert_eq!(cpus_json("1.005").unwrap(), Cpus::from_millis(1005));
    assert_eq!(cpus_json("4.35").unwrap(), Cpus::from_millis(4350));
    assert_eq!(cpus_json("2").unwrap(), Cpus::from_millis(2000));
    assert_eq!(cpus_json("2.0").unwrap(), Cpus::from_millis(2000));
    assert_eq!(cpus_json("0").unwrap(), Cpus::from_millis(0));
    assert_eq!(cpus_json("-0.0").unwrap(), Cpus::from_millis(0));
    assert_eq!(cpus_json("1e-3").unwrap(), Cpus::from_millis(1));
    assert_eq!(cpus_json("1.5e2").unwrap(), Cpus::from_millis(150_000));
    assert_eq!(cpus_json("0.0001").unwrap(), Cpus::from_millis(1));
    assert_eq!(cpus_json("0.0011").unwrap(), Cpus::from_millis(2));
    assert_eq!(cpus_json("1e-300").unwrap(), Cpus::from_millis(1));
    assert_eq!(cpus_json("1000000000000").unwrap(), Cpus::MAX);
    assert_eq!(
        cpus_json("999999999999.999").unwrap(),
        Cpus::from_millis(Cpus::MAX.0 - 1)
    );
    assert_eq!(cpus_json("\"500m\"").unwrap(), Cpus::from_millis(500));
    assert_eq!(cpus_json("\"2\"").unwrap(), Cpus::from_millis(2000));
    assert_eq!(cpus_json("\"0.25\"").unwrap(), Cpus::from_millis(250));
}

#[test]
fn cpus_reject_bad_values() {
    for (json, needle) in [
        ("-1", "must not be negative"),
        ("-0.5", "must not be negative"),
        ("1e300", "exceeds the maximum"),
        ("1000000000000.001", "exceeds the maximum"),
        ("1000000000001", "exceeds the maximum"),
        ("18446744073709551615", "exceeds the maximum"),
        ("\"-1\"", "negative"),
        ("\"abc\"", "invalid quantity \"abc\""),
        ("\"1e15\"", "exceeds the maximum"),
        ("true", "a non-negative number of CPUs"),
        ("null", "a non-negative number of CPUs"),
    ] {
        let err = cpus_json(json).unwrap_err().to_string();
        assert!(err.contains(needle), "{json}: {err}");
    }
    let from_value = |v: f64| Cpus::deserialize(serde_json::Value::from(v));
    // serde_json maps non-finite floats to null; exercise the visitor directly.
    assert!(from_value(f64::NAN).is_err());
    let err = ScalarVisitor::<MilliCpu>(PhantomData)
        .visit_f64::<serde::de::value::Error>(f64::NAN)
        .unwrap_err();
    assert!(err.to_string().contains("must be a finite number"), "{err}");
    let err = ScalarVisitor::<MilliCpu>(PhantomData)
        .visit_f64::<serde::de::value::Error>(f64::INFINITY)
        .unwrap_err();
    assert!(err.to_string().contains("must be a finite number"), "{err}");
    let err = ScalarVisitor::<Byte>(PhantomData)
        .visit_f64::<serde::de::value::Error>(f64::NEG_INFINITY)
        .unwrap_err();
    assert!(err.to_string().contains("must be a finite number"), "{err}");
}

#[test]
fn cpus_serialize_as_numbers() {
    let json = |c: Cpus| serde_json::to_string(&c).unwrap();
    assert_eq!(json(Cpus::from_millis(1500)), "1.5");
    assert_eq!(json(Cpus::from_millis(100)), "0.1");
    assert_eq!(json(Cpus::from_millis(2000)), "2");
    assert_eq!(json(Cpus::from_millis(1)), "0.001");
    assert_eq!(json(Cpus::from_millis(2675)), "2.675");
    assert_eq!(json(Cpus::from_millis(Cpus::MAX.0 - 1)), "999999999999.999");
    assert_eq!(
        json(Cpus::from_millis(u64::MAX / 1000 * 1000)),
        (u64::MAX / 1000).to_string()
    );
}

#[test]
fn point_one_plus_point_two_is_point_three() {
    let a = cpus_json("0.1").unwrap();
    let b = cpus_json("0.2").unwrap();
    let sum = a.checked_add(b).unwrap();
    assert_eq!(sum, cpus_json("0.3").unwrap());
    assert_eq!(serde_json::to_string(&sum).unwrap(), "0.3");
    let ra: Resources = serde_json::from_str(r#"{"cpus":0.1,"mem":0.1}"#).unwrap();
    let rb: Resources = serde_json::from_str(r#"{"cpus":0.2,"mem":0.2}"#).unwrap();
    let total = (ra + rb).unwrap();
    assert_eq!(total.cpus, Cpus::from_millis(300));
    assert_eq!(serde_json::to_string(&total.cpus).unwrap(), "0.3");
}

#[test]
fn mebibytes_deserialize() {
    assert_eq!(mem_json("256").unwrap(), Mebibytes::from_bytes(256 << 20));
    assert_eq!(mem_json("0.5").unwrap(), Mebibytes::from_bytes(524_288));
    assert_eq!(mem_json("0.25").unwrap(), Mebibytes::from_bytes(262_144));
    assert_eq!(mem_json("1.5").unwrap(), Mebibytes::from_bytes(1536 << 10));
    assert_eq!(mem_json("0.1").unwrap(), Mebibytes::from_bytes(104_858)); // 104857.6 rounds up
    assert_eq!(
        mem_json("0.00000095367431640625").unwrap(),
        Mebibytes::from_bytes(1)
    );
    assert_eq!(mem_json("0.000001").unwrap(), Mebibytes::from_bytes(2)); // 1.048576 bytes
    assert_eq!(mem_json("1e-30").unwrap(), Mebibytes::from_bytes(1));
    assert_eq!(
        mem_json("17592186044415").unwrap(),
        Mebibytes::from_bytes(17_592_186_044_415 << 20)
    );
    assert_eq!(
        mem_json("\"256Mi\"").unwrap(),
        Mebibytes::from_bytes(256 << 20)
    );
    assert_eq!(mem_json("\"1Gi\"").unwrap(), Mebibytes::from_bytes(1 << 30));
    assert_eq!(mem_json("\"1000\"").unwrap(), Mebibytes::from_bytes(1000));
    for (json, needle) in [
        ("-1", "must not be negative"),
        ("-0.5", "must not be negative"),
        ("17592186044416", "too large"),
        ("1e300", "too large"),
        ("\"-1Mi\"", "negative"),
        ("\"1 MB\"", "unknown suffix"),
        ("\"1e30\"", "too large"),
        ("[]", "a non-negative number of MiB"),
    ] {
        let err = mem_json(json).unwrap_err().to_string();
        assert!(err.contains(needle), "{json}: {err}");
    }
}

#[test]
fn mebibytes_serialize_as_mib() {
    let json = |m: Mebibytes| serde_json::to_string(&m).unwrap();
    assert_eq!(json(Mebibytes::from_bytes(256 << 20)), "256");
    assert_eq!(json(Mebibytes::from_bytes(524_288)), "0.5");
    assert_eq!(json(Mebibytes::from_bytes(104_858)), "0.1");
    assert_eq!(json(Mebibytes::from_bytes(1)), "9e-7");
    assert_eq!(json(Mebibytes::from_bytes(!(MIB - 1))), "17592186044415");
    for b in [
        1,
        2,
        3,
        104_857,
        104_858,
        MIB - 1,
        MIB + 1,
        (1 << 40) + 12345,
    ] {
        let m = Mebibytes::from_bytes(b);
        assert_eq!(mem_json(&json(m)).unwrap(), m, "{b} bytes");
    }
}

#[test]
fn resources_json_shape() {
    let r = Resources {
        cpus: Cpus::from_millis(1500),
        mem: Mebibytes::from_bytes(256 << 20),
        disk: Mebibytes::ZERO,
        gpus: 1,
        ports: ports(&[(32000, 32000), (31000, 31005)]),
    };
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(
        json,
        r#"{"cpus":1.5,"mem":256,"gpus":1,"ports":[{"begin":31000,"end":31005},{"begin":32000,"end":32000}]}"#
    );
    assert_eq!(serde_json::from_str::<Resources>(&json).unwrap(), r);
    assert_eq!(serde_json::to_string(&Resources::default()).unwrap(), "{}");
    assert_eq!(
        serde_json::from_str::<Resources>("{}").unwrap(),
        Resources::default()
    );
    let r: Resources = serde_json::from_str(
        r#"{"ports":[{"begin":5,"end":10},{"begin":1,"end":4},{"begin":8,"end":12}]}"#,
    )
    .unwrap();
    assert_eq!(r.ports.ranges(), &[PortRange { begin: 1, end: 12 }]);
}

#[test]
fn port_range_deserialization_validates() {
    let err = serde_json::from_str::<PortRange>(r#"{"begin":10,"end":5}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid port range 10-5"), "{err}");
    let err = serde_json::from_str::<PortRanges>(r#"[{"begin":0,"end":5}]"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("port 0"), "{err}");
    assert!(serde_json::from_str::<PortRange>(r#"{"begin":1,"end":65536}"#).is_err());
    assert!(serde_json::from_str::<PortRange>(r#"{"begin":1}"#).is_err());
    assert_eq!(
        serde_json::from_str::<PortRange>(r#"{"begin":80,"end":80}"#).unwrap(),
        PortRange::single(80).unwrap()
    );
}

#[test]
fn schemas() {
    let schema = serde_json::to_value(schemars::schema_for!(Resources)).unwrap();
    let props = &schema["properties"];
    for field in ["cpus", "mem", "disk"] {
        assert_eq!(props[field]["type"], "number", "{field}");
        assert_eq!(props[field]["minimum"], 0, "{field}");
        assert!(
            props[field]["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
    }
    assert_eq!(props["gpus"]["type"], "integer");
    assert!(props["gpus"]["description"].as_str().is_some());
    assert_eq!(props["ports"]["type"], "array");
    assert!(props["ports"]["description"].as_str().is_some());
    let item = &props["ports"]["items"];
    assert_eq!(item["properties"]["begin"]["minimum"], 1);
    assert_eq!(item["properties"]["end"]["maximum"], 65535);
    assert!(schema.get("required").is_none());
    assert!(!schema.to_string().contains("$ref"), "{schema}");
    let cpus = serde_json::to_value(schemars::schema_for!(Cpus)).unwrap();
    assert_eq!(cpus["type"], "number");
    assert_eq!(cpus["minimum"], 0);
    // The documented maxima, and they read back exactly.
    assert_eq!(props["cpus"]["maximum"], 1_000_000_000u64);
    assert_eq!(props["mem"]["maximum"], 1u64 << 36);
    assert_eq!(props["gpus"]["maximum"], 1_000_000_000u64);
    assert_eq!(props["ports"]["maxItems"], 32_768);
    assert_eq!(
        item["x-kubernetes-validations"][0]["rule"],
        "self.begin <= self.end"
    );
    let max: Resources = serde_json::from_value(serde_json::json!({
        "cpus": 1_000_000_000u64, "mem": 1u64 << 36, "disk": 1u64 << 36, "gpus": 1_000_000_000u64
    }))
    .unwrap();
    assert_eq!(max.cpus, Resources::MAX_CPUS);
    assert_eq!(max.mem, Resources::MAX_BYTES);
    assert_eq!(max.gpus, Resources::MAX_GPUS);
    let wire = serde_json::to_value(&max).unwrap();
    assert_eq!(serde_json::from_value::<Resources>(wire).unwrap(), max);
    // 255 maximal bags add up exactly.
    let sum: Option<Resources> = std::iter::repeat_n(&max, 255).sum();
    assert!(sum.is_some());
}

#[test]
fn saturating_add_stops_at_the_documented_maximum_never_below_an_addend() {
    let max = Resources {
        cpus: Resources::MAX_CPUS,
        mem: Resources::MAX_BYTES,
        disk: Resources::MAX_BYTES,
        gpus: Resources::MAX_GPUS,
        ports: ports(&[(31000, 31001)]),
    };
    let one = res(1000, 1, 1, &[(31005, 31005)]);
    let sum = max.saturating_add(&one);
    assert_eq!(sum.cpus, Resources::MAX_CPUS);
    assert_eq!(sum.mem, Resources::MAX_BYTES);
    assert_eq!(sum.gpus, Resources::MAX_GPUS);
    assert_eq!(sum.ports, ports(&[(31000, 31001), (31005, 31005)]));
    // Below the maxima it is the exact sum.
    assert_eq!(Some(one.saturating_add(&one)), one.checked_add(&one));
    // An addend beyond the maximum (a Node's capacity is not schema-bounded) is kept.
    let huge = Resources {
        mem: Mebibytes::from_bytes(u64::MAX - 5),
        ..Resources::default()
    };
    assert_eq!(huge.saturating_add(&huge).mem, huge.mem);
    assert!(huge.saturating_add(&one).mem >= huge.mem);
}

// ----- display -----

#[test]
fn display_cpus_and_mebibytes() {
    assert_eq!(Cpus::from_millis(1500).to_string(), "1.5");
    assert_eq!(Cpus::from_millis(100).to_string(), "0.1");
    assert_eq!(Cpus::from_millis(1).to_string(), "0.001");
    assert_eq!(Cpus::from_millis(2000).to_string(), "2");
    assert_eq!(Cpus::from_millis(0).to_string(), "0");
    assert_eq!(Cpus::from_millis(31_500).to_string(), "31.5");
    assert_eq!(Cpus::from_millis(1010).to_string(), "1.01");
    assert_eq!(format!("{:>5}", Cpus::from_millis(1500)), "  1.5");
    assert_eq!(Mebibytes::from_bytes(256 << 20).to_string(), "256");
    assert_eq!(Mebibytes::from_bytes(524_288).to_string(), "0.5");
    assert_eq!(Mebibytes::from_bytes(0).to_string(), "0");
    assert_eq!(Mebibytes::from_bytes(1).to_string(), "0.000001");
    assert_eq!(Mebibytes::from_bytes(MIB - 1).to_string(), "0.999999");
    assert_eq!(Mebibytes::from_bytes(MIB + 1).to_string(), "1.000001");
    assert_eq!(Mebibytes::from_bytes(104_858).to_string(), "0.1");
    assert_eq!(
        Mebibytes::from_bytes((1 << 20) + (1 << 18)).to_string(),
        "1.25"
    );
    assert_eq!(
        Mebibytes::from_bytes(u64::MAX).to_string(),
        "17592186044415.999999"
    );
}

#[test]
fn display_resources_mesos_style() {
    let r = Resources {
        cpus: Cpus::from_millis(1500),
        mem: Mebibytes::from_bytes(256 << 20),
        disk: Mebibytes::from_bytes(1024 << 20),
        gpus: 1,
        ports: ports(&[(31000, 31005), (32000, 32000)]),
    };
    assert_eq!(
        r.to_string(),
        "cpus:1.5;mem:256;disk:1024;gpus:1;ports:[31000-31005,32000-32000]"
    );
    assert_eq!(Resources::default().to_string(), "{}");
    let r = Resources {
        mem: Mebibytes::from_bytes(512 << 20),
        ..Resources::default()
    };
    assert_eq!(r.to_string(), "mem:512");
    let r = Resources {
        ports: ports(&[(80, 80)]),
        ..Resources::default()
    };
    assert_eq!(r.to_string(), "ports:[80-80]");
}

#[test]
fn cpus_from_str() {
    assert_eq!("1.5".parse::<Cpus>(), Ok(Cpus::from_millis(1500)));
    assert_eq!("500m".parse::<Cpus>(), Ok(Cpus::from_millis(500)));
    assert!("x".parse::<Cpus>().is_err());
    assert!("-1".parse::<Cpus>().is_err());
}

// ----- arithmetic -----

fn res(cpus: u64, mem_mib: u64, gpus: u64, p: &[(u16, u16)]) -> Resources {
    Resources {
        cpus: Cpus::from_millis(cpus),
        mem: Mebibytes::from_bytes(mem_mib << 20),
        disk: Mebibytes::ZERO,
        gpus,
        ports: ports(p),
    }
}

#[test]
fn arithmetic_basics() {
    let a = res(2000, 1024, 1, &[(31000, 31010)]);
    let b = res(500, 256, 0, &[(31000, 31001)]);
    let diff = a.checked_sub(&b).unwrap();
    assert_eq!(diff, res(1500, 768, 1, &[(31002, 31010)]));
    assert_eq!(diff.checked_add(&b).unwrap(), a);
    assert!(a.contains(&b) && !b.contains(&a));
    assert_eq!(b.checked_sub(&a), None);
    assert_eq!(b.saturating_sub(&a), res(0, 0, 0, &[]));
    // Enough of every scalar but a missing port.
    let c = res(1, 1, 0, &[(40000, 40000)]);
    assert!(!a.contains(&c));
    assert_eq!(a.checked_sub(&c), None);
    assert_eq!(a.saturating_sub(&c), res(1999, 1023, 1, &[(31000, 31010)]));
    let huge = Resources {
        cpus: Cpus::from_millis(u64::MAX),
        ..Resources::default()
    };
    assert_eq!(huge.checked_add(&res(1, 0, 0, &[])), None);
    assert_eq!(huge.clone() + res(1, 0, 0, &[]), None);
    assert_eq!(&a + &b, a.checked_add(&b));
    assert!(Resources::default().is_empty());
    assert!(!res(0, 0, 0, &[(1, 1)]).is_empty());
}

#[test]
fn sums() {
    let items = [
        res(100, 1, 0, &[]),
        res(200, 2, 1, &[(5, 6)]),
        res(0, 0, 0, &[(7, 7)]),
    ];
    let total: Option<Resources> = items.iter().sum();
    assert_eq!(total, Some(res(300, 3, 1, &[(5, 7)])));
    let owned: Option<Resources> = items.into_iter().sum();
    assert_eq!(owned, Some(res(300, 3, 1, &[(5, 7)])));
    let empty: Option<Resources> = std::iter::empty::<Resources>().sum();
    assert_eq!(empty, Some(Resources::default()));
    let overflow: Option<Resources> = [res(u64::MAX, 0, 0, &[]), res(1, 0, 0, &[])].iter().sum();
    assert_eq!(overflow, None);
}

#[test]
fn fits_in_reports_shortfalls() {
    let need = res(64_000, 1024, 1, &[(31000, 31001)]);
    let have = res(31_500, 2048, 0, &[(31001, 31005)]);
    let shortfall = need.fits_in(&have).unwrap_err();
    assert_eq!(
        shortfall.to_string(),
        "cpus: need 64, have 31.5; gpus: need 1, have 0; ports: need [31000-31001], have [31001-31005]"
    );
    assert_eq!(
        format!(
            "no node has {} free; largest free: {}",
            shortfall.needed(),
            shortfall.available()
        ),
        "no node has 64 cpus free; largest free: 31.5 cpus"
    );
    assert_eq!(shortfall.dimensions()[2].needed(), "ports [31000-31001]");
    assert_eq!(shortfall.dimensions()[2].available(), "ports [31001-31005]");
    assert_eq!(
        shortfall.dimensions()[2].missing_ports(),
        Some(ports(&[(31000, 31000)]))
    );
    assert_eq!(shortfall.dimensions()[1].available(), "0 gpus");
    assert_eq!(
        shortfall.first().map(ToString::to_string).as_deref(),
        Some("cpus: need 64, have 31.5")
    );
    assert_eq!(shortfall.dimensions().len(), 3);
    assert_eq!(shortfall.dimensions()[1].name(), "gpus");
    let mem = res(0, 512, 0, &[])
        .fits_in(&res(0, 256, 0, &[]))
        .unwrap_err();
    assert_eq!(mem.to_string(), "mem: need 512, have 256");
    assert_eq!(
        (mem.needed(), mem.available()),
        ("512 MiB mem".to_owned(), "256 MiB mem".to_owned())
    );
    let disk = Resources {
        disk: Mebibytes::from_bytes(MIB / 2),
        ..Resources::default()
    };
    assert_eq!(
        disk.fits_in(&Resources::default()).unwrap_err().to_string(),
        "disk: need 0.5, have 0"
    );
    assert_eq!(have.fits_in(&have), Ok(()));
    assert_eq!(Resources::default().fits_in(&Resources::default()), Ok(()));
}

#[test]
fn max_each_is_the_join() {
    let a = res(2000, 10, 0, &[(1, 5)]);
    let b = res(1000, 20, 3, &[(4, 9)]);
    let m = a.max_each(&b);
    assert_eq!(m, res(2000, 20, 3, &[(1, 9)]));
    assert!(m.contains(&a) && m.contains(&b));
}

#[test]
fn dominant_share_ignores_zero_totals() {
    let total = res(10_000, 1000, 0, &[]);
    let used = res(2_500, 500, 3, &[]);
    assert_eq!(used.dominant_share(&total), 0.5);
    assert_eq!(res(5_000, 0, 0, &[]).dominant_share(&total), 0.5);
    assert_eq!(used.dominant_share(&Resources::default()), 0.0);
    assert_eq!(Resources::default().dominant_share(&total), 0.0);
}

// ----- ports -----

#[test]
fn port_ranges_operations() {
    let a = ports(&[(10, 20), (30, 40)]);
    let b = ports(&[(15, 35)]);
    assert_eq!(a.union(&b), ports(&[(10, 40)]));
    assert_eq!(a.difference(&b), ports(&[(10, 14), (36, 40)]));
    assert_eq!(a.intersection(&b), ports(&[(15, 20), (30, 35)]));
    assert_eq!(a.len(), 22);
    assert!(a.contains(&ports(&[(12, 13), (40, 40)])));
    assert!(!a.contains(&ports(&[(20, 30)])));
    assert!(a.contains(&PortRanges::empty()));
    assert!(a.contains_port(10) && a.contains_port(40) && !a.contains_port(25));
    assert_eq!(a.take(3), Some(ports(&[(10, 12)])));
    assert_eq!(a.take(12), Some(ports(&[(10, 20), (30, 30)])));
    assert_eq!(a.take(22), Some(a.clone()));
    assert_eq!(a.take(23), None);
    assert_eq!(a.take(0), Some(PortRanges::empty()));
    assert_eq!(a.iter().take(3).collect::<Vec<_>>(), vec![10, 11, 12]);
    assert_eq!(
        ports(&[(1, 2), (3, 4)]).ranges(),
        &[PortRange { begin: 1, end: 4 }]
    );
    assert_eq!(
        ports(&[(65535, 65535), (65534, 65535)]),
        ports(&[(65534, 65535)])
    );
    assert_eq!(ports(&[(0, 0), (9, 3), (0, 2)]), ports(&[(1, 2)]));
    let all = ports(&[(1, 65535)]);
    assert_eq!(all.len(), 65535);
    assert!(all.difference(&all).is_empty());
    assert_eq!(
        all.difference(&ports(&[(1, 1), (65535, 65535)])),
        ports(&[(2, 65534)])
    );
    assert_eq!(
        [80u16, 81, 443]
            .into_iter()
            .collect::<PortRanges>()
            .to_string(),
        "[80-81,443-443]"
    );
    assert_eq!(PortRanges::from(PortRange::single(8080).unwrap()).len(), 1);
    assert!(PortRange::new(0, 1).is_err());
    assert!(PortRange::new(2, 1).is_err());
    assert_eq!(PortRange::new(1, 2).map(|r| r.len()), Ok(2));
}

// ----- property tests -----

prop_compose! {
    fn arb_range()(begin in prop_oneof![1u16..200, 65400u16..=65535, 1u16..=65535],
                   len in prop_oneof![0u16..4, 0u16..50]) -> PortRange {
        PortRange { begin, end: begin.saturating_add(len) }
    }
}

fn arb_ports() -> impl Strategy<Value = PortRanges> {
    prop::collection::vec(arb_range(), 0..6).prop_map(PortRanges::new)
}

fn arb_resources(max: u64) -> impl Strategy<Value = Resources> {
    (0..=max, 0..=max, 0..=max, 0..=max, arb_ports()).prop_map(|(c, m, d, g, p)| Resources {
        cpus: Cpus::from_millis(c),
        mem: Mebibytes::from_bytes(m),
        disk: Mebibytes::from_bytes(d),
        gpus: g,
        ports: p,
    })
}

/// Small values so that comparisons and subtractions are interesting.
fn small_resources() -> impl Strategy<Value = Resources> {
    arb_resources(8)
}

/// Values (mostly) safe from overflow when added a few times.
fn any_resources() -> impl Strategy<Value = Resources> {
    prop_oneof![arb_resources(8), arb_resources(u64::MAX / 4)]
}

fn model(p: &PortRanges) -> BTreeSet<u16> {
    p.iter().collect()
}

fn cpus_wire() -> impl Strategy<Value = Cpus> {
    prop_oneof![
        (0..=Cpus::MAX.0).prop_map(Cpus::from_millis),
        (0..=9_999u64).prop_map(Cpus::from_millis),
        (0..=Cpus::MAX.0 / 1000).prop_map(|c| Cpus::from_millis(c * 1000)),
    ]
}

fn mem_wire() -> impl Strategy<Value = Mebibytes> {
    prop_oneof![
        (0..(1u64 << 46)).prop_map(Mebibytes::from_bytes),
        (0..(1u64 << 24)).prop_map(Mebibytes::from_bytes),
        (0..(1u64 << 44)).prop_map(|m| Mebibytes::from_bytes(m << 20)),
    ]
}

proptest! {
    #[test]
    fn add_then_sub_is_identity(a in any_resources(), b in any_resources()) {
        // Ports combine by union, so make them disjoint for the inverse law.
        let b = Resources { ports: b.ports.difference(&a.ports), ..b };
        if let Some(sum) = a.checked_add(&b) {
            prop_assert!(sum.contains(&a) && sum.contains(&b));
            prop_assert_eq!(sum.checked_sub(&b), Some(a.clone()));
            prop_assert_eq!(sum.checked_sub(&a), Some(b.clone()));
        }
    }

    #[test]
    fn checked_sub_none_iff_not_contains(a in small_resources(), b in small_resources()) {
        let diff = a.checked_sub(&b);
        prop_assert_eq!(diff.is_none(), !a.contains(&b));
        if let Some(diff) = diff {
            prop_assert!(a.contains(&diff));
            prop_assert_eq!(a.saturating_sub(&b), diff.clone());
            prop_assert_eq!(diff.checked_add(&b).map(|s| s.checked_sub(&b)), Some(Some(diff)));
        } else {
            let sat = a.saturating_sub(&b);
            prop_assert!(a.contains(&sat));
        }
    }

    #[test]
    fn add_is_commutative_and_associative(
        a in any_resources(), b in any_resources(), c in any_resources()
    ) {
        prop_assert_eq!(a.checked_add(&b), b.checked_add(&a));
        let left = a.checked_add(&b).and_then(|ab| ab.checked_add(&c));
        let right = b.checked_add(&c).and_then(|bc| a.checked_add(&bc));
        prop_assert_eq!(left, right);
        prop_assert_eq!(a.checked_add(&Resources::default()), Some(a.clone()));
    }

    #[test]
    fn contains_is_a_partial_order(
        a in small_resources(), b in small_resources(), c in small_resources()
    ) {
        prop_assert!(a.contains(&a));
        prop_assert!(a.contains(&Resources::default()));
        if a.contains(&b) && b.contains(&a) {
            prop_assert_eq!(&a, &b);
        }
        if a.contains(&b) && b.contains(&c) {
            prop_assert!(a.contains(&c));
        }
        prop_assert_eq!(b.fits_in(&a).is_ok(), a.contains(&b));
    }

    #[test]
    fn quantity_roundtrip(r in arb_resources(u64::MAX)) {
        let r = Resources { ports: PortRanges::empty(), ..r };
        prop_assert_eq!(Resources::from_k8s(&r.to_k8s_requests()), Ok(r));
    }

    #[test]
    fn json_roundtrip(
        cpus in cpus_wire(), mem in mem_wire(), disk in mem_wire(),
        gpus in any::<u64>(), ports in arb_ports()
    ) {
        let r = Resources { cpus, mem, disk, gpus, ports };
        let json = serde_json::to_string(&r).unwrap();
        prop_assert_eq!(serde_json::from_str::<Resources>(&json).unwrap(), r.clone());
        let value = serde_json::to_value(&r).unwrap();
        prop_assert_eq!(serde_json::from_value::<Resources>(value).unwrap(), r);
    }

    #[test]
    fn json_roundtrip_large_integral(mib in any::<u64>(), cpus in any::<u64>()) {
        let m = Mebibytes::from_bytes(mib & !(MIB - 1));
        let json = serde_json::to_string(&m).unwrap();
        prop_assert_eq!(mem_json(&json).unwrap(), m);
        let c = Cpus::from_millis((cpus % (Cpus::MAX.0 / 1000 + 1)) * 1000);
        prop_assert_eq!(cpus_json(&serde_json::to_string(&c).unwrap()).unwrap(), c);
    }

    #[test]
    fn cpus_display_reparses(millis in any::<u64>()) {
        let c = Cpus::from_millis(millis);
        prop_assert_eq!(c.to_string().parse::<Cpus>(), Ok(c));
        prop_assert_eq!(Cpus::from_quantity(&c.to_quantity()), Ok(c));
    }

    #[test]
    fn decimal_json_numbers_map_exactly(whole in 0u64..1_000_000, frac in 0u64..1000, places in 1usize..=3) {
        // A decimal with at most three places maps to the exact milli value.
        let frac = frac % 10u64.pow(u32::try_from(places).unwrap());
        let text = format!("{whole}.{frac:0places$}");
        let expected = whole * 1000 + frac * 10u64.pow(3 - u32::try_from(places).unwrap());
        prop_assert_eq!(cpus_json(&text).unwrap(), Cpus::from_millis(expected));
        prop_assert_eq!(text.parse::<Cpus>().unwrap(), Cpus::from_millis(expected));
    }

    #[test]
    fn quantity_parser_matches_integer_model(
        mantissa in 0u64..1_000_000_000, frac_digits in 0u32..12, suffix_idx in 0usize..12
    ) {
        // value = mantissa / 10^frac_digits × multiplier; compare ceil against u128 math.
        const SUFFIXES: [(&str, u128, u128); 12] = [
            ("", 1, 1), ("k", 1000, 1), ("M", 1_000_000, 1), ("G", 1_000_000_000, 1),
            ("m", 1, 1000), ("u", 1, 1_000_000), ("n", 1, 1_000_000_000),
            ("Ki", 1 << 10, 1), ("Mi", 1 << 20, 1), ("Gi", 1 << 30, 1),
            ("e2", 100, 1), ("e-2", 1, 100),
        ];
        let (suffix, mul, div) = SUFFIXES[suffix_idx];
        let scale = 10u128.pow(frac_digits);
        let digits = format!("{mantissa:0width$}", width = frac_digits as usize + 1);
        let (int, frac) = digits.split_at(digits.len() - frac_digits as usize);
        let text = if frac.is_empty() { format!("{int}{suffix}") } else { format!("{int}.{frac}{suffix}") };
        let num = u128::from(mantissa) * mul;
        let den = scale * div;
        let expected_bytes = num.div_ceil(den);
        let expected_millis = (num * 1000).div_ceil(den);
        let fits = |v: u128| u64::try_from(v).ok();
        prop_assert_eq!(bytes(&text).ok(), fits(expected_bytes), "{}", text);
        prop_assert_eq!(millis(&text).ok(), fits(expected_millis), "{}", text);
    }

    #[test]
    fn port_ranges_match_set_model(a in arb_ports(), b in arb_ports(), n in 0usize..80) {
        let (ma, mb) = (model(&a), model(&b));
        // Normalized: sorted, valid, non-overlapping and non-adjacent.
        for r in a.ranges() {
            prop_assert!(1 <= r.begin && r.begin <= r.end);
        }
        for w in a.ranges().windows(2) {
            prop_assert!(u32::from(w[0].end) + 1 < u32::from(w[1].begin));
        }
        // Canonical: rebuilding from single ports yields the same value.
        prop_assert_eq!(ma.iter().copied().collect::<PortRanges>(), a.clone());
        prop_assert_eq!(a.len(), ma.len());
        prop_assert_eq!(a.is_empty(), ma.is_empty());
        prop_assert_eq!(model(&a.union(&b)), ma.union(&mb).copied().collect::<BTreeSet<_>>());
        prop_assert_eq!(model(&a.difference(&b)), ma.difference(&mb).copied().collect::<BTreeSet<_>>());
        prop_assert_eq!(model(&a.intersection(&b)), ma.intersection(&mb).copied().collect::<BTreeSet<_>>());
        prop_assert_eq!(a.contains(&b), ma.is_superset(&mb));
        let taken = a.take(n);
        if n <= ma.len() {
            let expected: BTreeSet<u16> = ma.iter().copied().take(n).collect();
            prop_assert_eq!(taken.as_ref().map(model), Some(expected));
        } else {
            prop_assert_eq!(taken, None);
        }
        for p in [1u16, 5, 100, 199, 250, 65535] {
            prop_assert_eq!(a.contains_port(p), ma.contains(&p));
        }
        let json = serde_json::to_string(&a).unwrap();
        prop_assert_eq!(serde_json::from_str::<PortRanges>(&json).unwrap(), a);
    }
}
