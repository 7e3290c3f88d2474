//! Sweep declarations: sample values and every bad-declaration error.
#![allow(clippy::unwrap_used, reason = "tests")]

use collector_core::{
    ConstVar, Coords, Error, FailThreshold, InputVar, ResultVar, Sweep, TimeSrc, setup_dataset,
};

fn values(v: InputVar) -> Coords {
    v.resolve().unwrap()
}

#[test]
fn float_samples_include_both_ends() {
    assert_eq!(
        values(InputVar::float_samples("a", 0.0, 1.0, 5)),
        Coords::Float(vec![0.0, 0.25, 0.5, 0.75, 1.0])
    );
    assert_eq!(
        values(InputVar::float_samples("a", 2.0, 2.0, 7)),
        Coords::Float(vec![2.0])
    );
    assert_eq!(
        values(InputVar::float_samples("a", 0.0, 3.0, 1)),
        Coords::Float(vec![0.0])
    );
    let Coords::Float(v) = values(InputVar::float_samples("a", 0.0, 1.0, 100)) else {
        panic!("float coords expected")
    };
    assert_eq!(v.len(), 100);
    assert_eq!(v[99], 1.0);
}

#[test]
fn float_step_stops_below_hi() {
    assert_eq!(
        values(InputVar::float_step("a", 0.0, 1.0, 0.25)),
        Coords::Float(vec![0.0, 0.25, 0.5, 0.75])
    );
    assert_eq!(
        values(InputVar::float_step("a", 1.0, 1.0, 0.5)),
        Coords::Float(vec![1.0])
    );
}

#[test]
fn int_range_and_subsampling() {
    assert_eq!(
        values(InputVar::int_range("n", 0, 3)),
        Coords::Int(vec![0, 1, 2, 3])
    );
    // floor(linspace(0, 9, 4)) = [0, 3, 6, 9]
    assert_eq!(
        values(InputVar::int_samples("n", 10, 19, 4)),
        Coords::Int(vec![10, 13, 16, 19])
    );
    // floor(linspace(0, 4, 3)) = [0, 2, 4]
    assert_eq!(
        values(InputVar::int_samples("n", 0, 4, 3)),
        Coords::Int(vec![0, 2, 4])
    );
    // More samples than values: every value once.
    assert_eq!(
        values(InputVar::int_samples("n", 0, 2, 10)),
        Coords::Int(vec![0, 1, 2])
    );
    assert_eq!(
        values(InputVar::int_range("n", -2, -1)),
        Coords::Int(vec![-2, -1])
    );
}

#[test]
fn labels_and_bools() {
    assert_eq!(
        values(InputVar::labels("e", ["a", "b", "c", "d", "e"]).samples(3)),
        Coords::Str(vec!["a".into(), "c".into(), "e".into()])
    );
    assert_eq!(
        values(InputVar::boolean("b", false)),
        Coords::Bool(vec![false, true])
    );
    assert_eq!(
        values(InputVar::boolean("b", true)),
        Coords::Bool(vec![true, false])
    );
}

fn err(b: collector_core::SweepBuilder) -> String {
    b.build().unwrap_err().to_string()
}

#[test]
fn bad_declarations_are_clear_errors() {
    let s = || Sweep::builder("s").result(ResultVar::float("t"));
    let e = err(s()
        .input(InputVar::int_range("a", 0, 1))
        .input(InputVar::int_range("a", 0, 1)));
    assert!(e.contains("`a`") && e.contains("twice"), "{e}");
    let e = err(s().input(InputVar::int_range("repeat", 0, 1)));
    assert!(e.contains("`repeat`") && e.contains("reserved"), "{e}");
    let e = err(s().input(InputVar::int_range("over_time", 0, 1)));
    assert!(e.contains("reserved"), "{e}");
    let e = err(s().repeats(0));
    assert!(e.contains("repeats"), "{e}");
    let e = err(s().input(InputVar::float_values("x", Vec::<f64>::new())));
    assert!(e.contains("`x`") && e.contains("no values"), "{e}");
    let e = err(s().input(InputVar::labels("x", Vec::<String>::new())));
    assert!(e.contains("`x`") && e.contains("no values"), "{e}");
    let e = err(s().input(InputVar::float_samples("x", 1.0, 0.0, 3)));
    assert!(e.contains("`x`") && e.contains("inverted"), "{e}");
    let e = err(s().input(InputVar::int_range("x", 5, 1)));
    assert!(e.contains("inverted"), "{e}");
    let e = err(s().input(InputVar::float_samples("x", 0.0, 1.0, 0)));
    assert!(e.contains("samples"), "{e}");
    let e = err(s().input(InputVar::labels("x", ["a", "b"]).samples(0)));
    assert!(e.contains("samples"), "{e}");
    let e = err(s().input(InputVar::float_step("x", 0.0, 1.0, 0.0)));
    assert!(e.contains("step"), "{e}");
    let e = err(s().input(InputVar::float_values("x", [1.0, f64::NAN])));
    assert!(e.contains("not finite"), "{e}");
    let e = err(s().input(InputVar::float_values("x", [1.0, 1.0])));
    assert!(e.contains("twice"), "{e}");
    let e = err(s().result(ResultVar::float("t")));
    assert!(e.contains("`t`"), "{e}");
    // A vec component column clashing with another name.
    let e = err(s()
        .result(ResultVar::vector("v", 2))
        .result(ResultVar::float("v_x")));
    assert!(e.contains("`v_x`"), "{e}");
    let e = err(s().constant(ConstVar::new("t", 1.0)));
    assert!(e.contains("`t`"), "{e}");
    let e = err(Sweep::builder("").result(ResultVar::float("t")));
    assert!(e.contains("empty"), "{e}");
    let e = err(s().fail_on_sample_error(FailThreshold::Fraction(1.5)));
    assert!(e.contains("fraction"), "{e}");
    let e = err(s().result(ResultVar::vector("v", 0)));
    assert!(e.contains("`v`"), "{e}");
}

#[test]
fn product_overflow_is_an_error_not_a_panic() {
    let mut b = Sweep::builder("big").result(ResultVar::float("t"));
    for i in 0..8 {
        b = b.input(InputVar::int_samples(
            format!("x{i}"),
            0,
            1_000_000,
            100_000,
        ));
    }
    let e = b.build().unwrap_err();
    assert!(matches!(e, Error::TooManyJobs { .. }), "{e}");
    assert!(e.to_string().contains("big"));
}

#[test]
fn a_job_count_whose_cells_cannot_be_allocated_is_an_error() {
    // 2^60 jobs fit a usize, but not 8 bytes each in one allocation (the
    // inputs' own values are small: 3 x 2^20).
    let input = |name: &str, n: usize| InputVar::int_samples(name, 0, 1 << 40, n);
    let e = Sweep::builder("huge")
        .input(input("a", 1 << 20))
        .input(input("b", 1 << 20))
        .input(input("c", 1 << 20))
        .result(ResultVar::float("t"))
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::TooManyJobs { .. }), "{e}");
    // 2^59 jobs: 2^62 bytes for one float column fit; five columns do not.
    let edge = Sweep::builder("edge")
        .input(input("a", 1 << 20))
        .input(input("b", 1 << 20))
        .input(input("c", 1 << 19))
        .result(ResultVar::float("t"));
    assert!(edge.clone().build().is_ok());
    let e = edge.result(ResultVar::vector("v", 4)).build().unwrap_err();
    assert!(matches!(e, Error::TooManyJobs { .. }), "{e}");
}

#[test]
fn a_sweep_name_with_a_nul_byte_is_refused_at_build() {
    let e = Sweep::builder("a\0b")
        .result(ResultVar::float("t"))
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("NUL"), "{e}");
}

#[test]
fn empty_input_list_gives_jobs_of_repeats_alone() {
    let sweep = Sweep::builder("s")
        .result(ResultVar::float("t"))
        .repeats(3)
        .build()
        .unwrap();
    let setup = setup_dataset(&sweep, &TimeSrc::Label("x".into())).unwrap();
    assert_eq!(setup.dims, ["repeat"]);
    assert_eq!(setup.total, 3);
    let repeats: Vec<_> = setup.jobs.map(|j| j.values).collect();
    assert_eq!(
        repeats,
        vec![vec![1i64.into()], vec![2i64.into()], vec![3i64.into()]]
    );
}

#[test]
fn dims_coords_and_metadata() {
    let sweep = Sweep::builder("s")
        .input(
            InputVar::float_samples("a", 0.0, 1.0, 2)
                .units("m")
                .description("distance"),
        )
        .result(ResultVar::float("t").units("s"))
        .result(ResultVar::vector("v", 4).units("N"))
        .result(ResultVar::string("note"))
        .result(ResultVar::reference("obj"))
        .repeats(2)
        .over_time(true)
        .build()
        .unwrap();
    let setup = setup_dataset(&sweep, &TimeSrc::Label("v1".into())).unwrap();
    let ds = &setup.result.dataset;
    assert_eq!(setup.dims, ["a", "repeat", "over_time"]);
    assert_eq!(ds.shape(), [2, 2, 1]);
    assert_eq!(ds.dim("repeat").unwrap().coords, Coords::Int(vec![1, 2]));
    assert_eq!(
        ds.dim("over_time").unwrap().coords,
        Coords::Label(vec!["v1".into()])
    );
    let a = ds.dim("a").unwrap();
    assert_eq!(
        (a.attrs.units.as_str(), a.attrs.description.as_str()),
        ("m", "distance")
    );
    let names: Vec<&str> = ds.columns().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["t", "v_x", "v_y", "v_z", "v_3", "note", "obj"]);
    for c in ds.columns() {
        assert_eq!(c.attrs.long_name, c.name);
        assert_eq!(
            c.data.count_missing(),
            4,
            "{} starts at its sentinel",
            c.name
        );
    }
    assert_eq!(ds.column("v_3").unwrap().attrs.units, "N");
    assert_eq!(ds.column("note").unwrap().text().unwrap()[[0, 0, 0]], "NAN");
    assert_eq!(ds.column("obj").unwrap().i64().unwrap()[[1, 1, 0]], -1);
}
