//! Identity keys: golden values, and which changes move them.
#![allow(clippy::unwrap_used, reason = "tests")]

use collector_core::{
    ConstVar, InputVar, ResultVar, Sweep, Value, cache_key, history_key, sample_key,
};
use proptest::prelude::*;

fn base() -> collector_core::SweepBuilder {
    Sweep::builder("golden")
        .input(InputVar::float_samples("a", 0.0, 1.0, 3).units("s"))
        .input(InputVar::labels("algo", ["fast", "slow"]))
        .result(ResultVar::float("time").units("s"))
        .result(ResultVar::vector("pos", 3).units("m"))
        .constant(ConstVar::new("mode", "x"))
        .repeats(2)
        .tag("t1")
}

/// Pinned values: a change here means every stored result and history
/// moves. Only change them together with `KEY_FORMAT_VERSION` (the job
/// keys: with `JOB_KEY_VERSION`).
#[test]
fn golden_keys() {
    let s = base().build().unwrap();
    assert_eq!(cache_key(&s), "957c151452a7a656357e83ca92b596a0");
    assert_eq!(history_key(&s), "9095d8922c8aedc34037f3bdb5af76fa");
    let inputs = vec![
        ("a".to_string(), Value::Float(0.5)),
        ("algo".to_string(), Value::Str("slow".into())),
        ("repeat".to_string(), Value::Int(2)),
    ];
    assert_eq!(sample_key(&s, &inputs), "53d354208985975d7e825d053d3fbee3");
    // Job records: the job set, and the key of job 3 (a second repeat).
    // Moved with JOB_KEY_VERSION 2 (the job half hashed with XXH3-128).
    let keyer = collector_core::JobKeyer::new(&s);
    assert_eq!(
        collector_core::to_hex(&keyer.set()),
        "9973b65b1de755e37cac3fec21e12426"
    );
    assert_eq!(
        keyer.key(&s, 3).hex(),
        "9973b65b1de755e37cac3fec21e1242660c8921d00280bc3122ebe26a413a77a"
    );
    assert_eq!(
        collector_core::grid_hash(&s),
        "b7750bf2b7c80a647695cafb1746ce3b"
    );
}

#[test]
fn display_fields_do_not_move_keys() {
    let a = base().build().unwrap();
    let b = base()
        .title("Another title")
        .description("words")
        .build()
        .unwrap();
    assert_eq!(cache_key(&a), cache_key(&b));
    assert_eq!(history_key(&a), history_key(&b));
    let c = Sweep::builder("golden")
        .input(
            InputVar::float_samples("a", 0.0, 1.0, 3)
                .units("s")
                .description("d"),
        )
        .input(InputVar::labels("algo", ["fast", "slow"]))
        .result(ResultVar::float("time").units("s").description("wall time"))
        .result(ResultVar::vector("pos", 3).units("m"))
        .constant(ConstVar::new("mode", "x"))
        .repeats(2)
        .tag("t1")
        .build()
        .unwrap();
    assert_eq!(cache_key(&a), cache_key(&c));
}

#[test]
fn what_moves_the_keys() {
    let a = base().build().unwrap();
    let moved = |b: Sweep| {
        assert_ne!(cache_key(&a), cache_key(&b));
        assert_ne!(history_key(&a), history_key(&b));
    };
    moved(base().repeats(3).build().unwrap());
    moved(base().tag("t2").build().unwrap());
    moved(base().over_time(true).build().unwrap());
    moved(
        base()
            .constant(ConstVar::new("extra", 1i64))
            .build()
            .unwrap(),
    );
    moved(
        Sweep::builder("golden")
            .input(InputVar::float_samples("a", 0.0, 1.0, 4).units("s"))
            .input(InputVar::labels("algo", ["fast", "slow"]))
            .result(ResultVar::float("time").units("s"))
            .result(ResultVar::vector("pos", 3).units("m"))
            .constant(ConstVar::new("mode", "x"))
            .repeats(2)
            .tag("t1")
            .build()
            .unwrap(),
    );
    // Adding a result moves the cache key but continues the history.
    let b = base().result(ResultVar::float("extra")).build().unwrap();
    assert_ne!(cache_key(&a), cache_key(&b));
    assert_eq!(history_key(&a), history_key(&b));
    // Units of a result are part of the cache key.
    let c = Sweep::builder("golden")
        .input(InputVar::float_samples("a", 0.0, 1.0, 3).units("s"))
        .input(InputVar::labels("algo", ["fast", "slow"]))
        .result(ResultVar::float("time").units("ms"))
        .result(ResultVar::vector("pos", 3).units("m"))
        .constant(ConstVar::new("mode", "x"))
        .repeats(2)
        .tag("t1")
        .build()
        .unwrap();
    assert_ne!(cache_key(&a), cache_key(&c));
}

fn build(inputs: &[usize], results: &[usize], consts: &[usize]) -> Sweep {
    let mut b = Sweep::builder("perm");
    for &i in inputs {
        b = b.input(InputVar::int_range(format!("in{i}"), 0, i as i64 + 1).units(format!("u{i}")));
    }
    for &r in results {
        b = b.result(if r % 2 == 0 {
            ResultVar::float(format!("r{r}"))
        } else {
            ResultVar::vector(format!("r{r}"), r + 1)
        });
    }
    for &c in consts {
        b = b.constant(ConstVar::new(format!("c{c}"), c as f64 * 0.5));
    }
    b.build().unwrap()
}

proptest! {
    #[test]
    fn reordering_results_or_constants_keeps_keys(
        results in Just((0..5usize).collect::<Vec<_>>()).prop_shuffle(),
        consts in Just((0..4usize).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let inputs = [0, 1, 2];
        let a = build(&inputs, &[0, 1, 2, 3, 4], &[0, 1, 2, 3]);
        let b = build(&inputs, &results, &consts);
        prop_assert_eq!(cache_key(&a), cache_key(&b));
        prop_assert_eq!(history_key(&a), history_key(&b));
    }

    #[test]
    fn reordering_inputs_moves_keys(inputs in Just(vec![0usize, 1, 2, 3]).prop_shuffle()) {
        let a = build(&[0, 1, 2, 3], &[0], &[0]);
        let b = build(&inputs, &[0], &[0]);
        if inputs == [0, 1, 2, 3] {
            prop_assert_eq!(cache_key(&a), cache_key(&b));
        } else {
            prop_assert_ne!(cache_key(&a), cache_key(&b));
            prop_assert_ne!(history_key(&a), history_key(&b));
        }
    }
}
