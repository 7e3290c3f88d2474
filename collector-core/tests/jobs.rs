//! Job enumeration: lazy, row-major, last dim fastest.
#![allow(clippy::unwrap_used, reason = "tests")]

use collector_core::{InputVar, ResultVar, Sample, Sweep, TimeSrc, Value, setup_dataset, unravel};
use proptest::prelude::*;

proptest! {
    #[test]
    fn enumeration_matches_row_major_arithmetic(shape in proptest::collection::vec(1usize..5, 0..4), reps in 1usize..4, over_time: bool) {
        let mut b = Sweep::builder("rm").result(ResultVar::float("t")).repeats(reps).over_time(over_time);
        for (i, n) in shape.iter().enumerate() {
            b = b.input(InputVar::int_range(format!("d{i}"), 0, *n as i64 - 1));
        }
        let sweep = b.build().unwrap();
        let setup = setup_dataset(&sweep, &TimeSrc::Label("e".into())).unwrap();
        let full: Vec<usize> = setup.result.dataset.shape();
        prop_assert_eq!(setup.total, shape.iter().product::<usize>() * reps);
        let mut count = 0;
        for (k, job) in setup.jobs.enumerate() {
            prop_assert_eq!(job.linear, k);
            // Row-major: linear = sum(index[d] * stride[d]), last dim fastest.
            let mut linear = 0;
            for (d, i) in job.index.iter().enumerate() {
                prop_assert!(*i < full[d]);
                linear = linear * full[d] + i;
            }
            prop_assert_eq!(linear, k);
            let u = unravel(k, &full);
            prop_assert_eq!(u.as_slice(), job.index.as_slice());
            // Values agree with the coordinates.
            for (d, v) in job.values.iter().take(shape.len()).enumerate() {
                prop_assert_eq!(v, &Value::Int(job.index[d] as i64));
            }
            prop_assert_eq!(&job.values[shape.len()], &Value::Int(job.index[shape.len()] as i64 + 1));
            let sample = Sample::new(&sweep, k);
            prop_assert_eq!(sample.repeat(), job.index[shape.len()] + 1);
            count += 1;
        }
        prop_assert_eq!(count, setup.total);
    }
}

#[test]
fn iterator_is_lazy_and_exact_size() {
    let sweep = Sweep::builder("big")
        .input(InputVar::int_range("a", 0, 99_999))
        .input(InputVar::int_range("b", 0, 99_999))
        .build()
        .unwrap();
    // 10^10 jobs: only lazy enumeration can start this quickly. (No
    // result: the cells of one would not fit a stored value, and the
    // sweep would be refused when built.)
    let sweep_jobs = sweep.job_count();
    assert_eq!(sweep_jobs, 10_000_000_000);
    let shape = sweep.shape().to_vec();
    let idx = unravel(sweep_jobs - 1, &shape);
    assert_eq!(idx.as_slice(), [99_999, 99_999, 0]);
}

#[test]
fn sample_accessors_name_the_variable() {
    let sweep = Sweep::builder("acc")
        .input(InputVar::float_values("theta", [0.25]))
        .input(InputVar::boolean("flag", true))
        .result(ResultVar::float("t"))
        .build()
        .unwrap();
    let s = Sample::new(&sweep, 1);
    assert_eq!(s.get::<f64>("theta").unwrap(), 0.25);
    assert!(!s.get::<bool>("flag").unwrap());
    let e = s.get::<f64>("thetaa").unwrap_err().to_string();
    assert!(e.contains("`thetaa`") && e.contains("theta"), "{e}");
    let e = s.get::<String>("theta").unwrap_err().to_string();
    assert!(
        e.contains("`theta`") && e.contains("expected string") && e.contains("float"),
        "{e}"
    );
}
