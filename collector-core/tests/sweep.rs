//! Sweep declarations: sample values and every bad-declaration error.
#![allow(clippy::unwrap_used, reason = "tests")]

use collector_core::{
    ConstVar, Coords, Error, FailThreshold, InputVar, MAX_STEP_VALUES, MAX_STORED_VALUE_BYTES,
    ResultVar, Sweep, TimeSrc, setup_dataset,
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
    // 2^59 jobs: 2^62 bytes for one float column fit an allocation, but
    // not a stored value; five columns do not fit an allocation.
    let edge = Sweep::builder("edge")
        .input(input("a", 1 << 20))
        .input(input("b", 1 << 20))
        .input(input("c", 1 << 19))
        .result(ResultVar::float("t"));
    let e = edge.clone().build().unwrap_err();
    assert!(matches!(e, Error::TooLargeToStore { .. }), "{e}");
    let e = edge.result(ResultVar::vector("v", 4)).build().unwrap_err();
    assert!(matches!(e, Error::TooManyJobs { .. }), "{e}");
}

/// The sweep of issue 15: four inputs of 2,000 values and one float
/// result, 1.6e13 jobs. Its cells alone are 128 TB: no stored value (nor
/// memory) holds them. Refused when it is built, naming the bytes and
/// the limit.
#[test]
fn four_inputs_of_two_thousand_values_are_refused_at_build() {
    let mut b = Sweep::builder("four").result(ResultVar::float("t"));
    for name in ["a", "b", "c", "d"] {
        b = b.input(InputVar::int_range(name, 1, 2000));
    }
    let e = b.build().unwrap_err();
    let Error::TooLargeToStore {
        bytes, limit, what, ..
    } = &e
    else {
        panic!("{e}")
    };
    // 1.6e13 cells of 8 bytes, 4 x 2000 coordinates and one repeat.
    assert_eq!(*bytes, 16_000_000_000_000 * 8 + 4 * 2000 * 8 + 8);
    assert_eq!(*limit, MAX_STORED_VALUE_BYTES);
    assert_eq!(*limit, u64::from(u32::MAX));
    assert!(what.contains("stored result"), "{what}");
    let m = e.to_string();
    assert!(
        m.contains("`four`")
            && m.contains("128000000064008 bytes")
            && m.contains("4294967295 bytes"),
        "{m}"
    );
}

/// A stored result holds its numbers as raw 8-byte arrays and its text as
/// MessagePack strings (at least 1 byte each) in one value of at most
/// 4 GiB - 1: the largest grid of one float result is just under 2^29
/// jobs. Neither side allocates the grid.
#[test]
fn the_stored_result_limit_is_exact_for_numbers() {
    let grid = |b: i64| {
        Sweep::builder("grid")
            .input(InputVar::int_range("a", 1, 1 << 16))
            .input(InputVar::int_range("b", 1, b))
    };
    // (2^29 - 2^17) cells x 8 + (2^16 + 2^13 - 2) x 8 + 8 < 2^32 - 1.
    let fits = grid((1 << 13) - 2).result(ResultVar::float("t")).build();
    assert!(fits.is_ok(), "{:?}", fits.err());
    // (2^29 - 2^16) cells x 8 + (2^16 + 2^13 - 1) x 8 + 8 > 2^32 - 1.
    let e = grid((1 << 13) - 1)
        .result(ResultVar::float("t"))
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::TooLargeToStore { .. }), "{e}");
    // The same grid of text cells is a quarter of the floor... and fits.
    assert!(grid(1 << 13).result(ResultVar::string("t")).build().is_ok());
    // A second float column does not.
    let e = grid((1 << 13) - 2)
        .result(ResultVar::float("t"))
        .result(ResultVar::boolean("u"))
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::TooLargeToStore { .. }), "{e}");
}

/// One job of a vec(480 M): its result (3.8 GB) fits a stored value, its
/// job record (9 bytes a number: 4.3 GB) does not. Nothing is allocated
/// per column while building.
#[test]
fn a_job_record_over_a_stored_value_is_refused_at_build() {
    let started = std::time::Instant::now();
    let e = Sweep::builder("wide")
        .result(ResultVar::vector("v", 480_000_000))
        .build()
        .unwrap_err();
    let Error::TooLargeToStore { what, bytes, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(what, "one job record");
    assert_eq!(*bytes, 16 + 9 * 480_000_000);
    let ok = Sweep::builder("wide")
        .result(ResultVar::vector("v", 400_000_000))
        .build();
    assert!(ok.is_ok(), "{:?}", ok.err());
    assert!(
        started.elapsed().as_secs() < 5,
        "a vec's columns were listed"
    );
}

/// Vec columns are checked against every other name without listing
/// them: `v_x`, `v_y`, `v_z`, then `v_3`, ... `v_<n-1>`.
#[test]
fn vec_columns_clash_with_other_names_whatever_their_count() {
    let n = 400_000_000;
    let with = |other: &str| {
        Sweep::builder("s")
            .result(ResultVar::vector("v", n))
            .input(InputVar::int_range(other, 0, 0))
            .build()
    };
    for clash in ["v_x", "v_y", "v_z", "v_3", "v_399999999"] {
        let e = with(clash).unwrap_err();
        assert!(
            matches!(&e, Error::DuplicateName { name, .. } if name == clash)
                && e.to_string().contains("vec result `v`"),
            "{clash}: {e}"
        );
    }
    for fine in ["v_400000000", "v_0", "v_03", "v_", "v", "w_x", "v_x_"] {
        // `v` is the vec's own name: a plain duplicate.
        match with(fine) {
            Ok(_) => assert_ne!(fine, "v"),
            Err(e) => assert!(
                fine == "v" && e.to_string().contains("twice"),
                "{fine}: {e}"
            ),
        }
    }
    // Between results, and with a constant.
    let e = Sweep::builder("s")
        .result(ResultVar::vector("p", 5))
        .result(ResultVar::float("p_4"))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("`p_4`"), "{e}");
    let e = Sweep::builder("s")
        .result(ResultVar::vector("p", 2))
        .constant(ConstVar::new("p_y", 1))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("`p_y`"), "{e}");
    // Two vec results never clash: `p_3`'s columns are `p_3_x`, ...
    assert!(
        Sweep::builder("s")
            .result(ResultVar::vector("p", 5))
            .result(ResultVar::vector("p_3", 5))
            .build()
            .is_err_and(|e| e.to_string().contains("`p_3`"))
    );
    assert!(
        Sweep::builder("s")
            .result(ResultVar::vector("p", 3))
            .result(ResultVar::vector("p_3", 5))
            .build()
            .is_ok()
    );
}

/// Counts that would allocate without bound while building are errors
/// before any value is made.
#[test]
fn huge_sample_counts_and_repeats_are_errors_before_allocation() {
    let started = std::time::Instant::now();
    let s = || Sweep::builder("s").result(ResultVar::float("t"));
    let e = err(s().input(InputVar::float_samples("x", 0.0, 1.0, usize::MAX)));
    assert!(e.contains("`x`") && e.contains("samples"), "{e}");
    let e = err(s().input(InputVar::float_samples("x", 0.0, 1.0, MAX_STEP_VALUES + 1)));
    assert!(e.contains("more than"), "{e}");
    // lo == hi is one value, whatever the count.
    assert!(
        s().input(InputVar::float_samples("x", 1.0, 1.0, usize::MAX))
            .build()
            .is_ok()
    );
    let e = err(s().input(InputVar::float_step("x", 0.0, 1.0, 1e-12)));
    assert!(e.contains("step") && e.contains("more than"), "{e}");
    let e = err(s().input(InputVar::int_samples("n", 0, i64::MAX, usize::MAX)));
    assert!(e.contains("too large"), "{e}");
    let e = err(s().input(InputVar::int_range("n", i64::MIN, i64::MAX)));
    assert!(e.contains("too large"), "{e}");
    // An int range sub-sampled to a few values is fine however wide.
    let ok = s()
        .input(InputVar::int_samples("n", i64::MIN, i64::MAX, 3))
        .build();
    assert!(ok.is_ok(), "{:?}", ok.err());
    // Repeats: an overflow, or a grid no stored value holds.
    let e = s().repeats(usize::MAX).build().unwrap_err();
    assert!(matches!(e, Error::TooManyJobs { .. }), "{e}");
    let e = s().repeats(1 << 40).build().unwrap_err();
    assert!(matches!(e, Error::TooLargeToStore { .. }), "{e}");
    assert!(started.elapsed().as_secs() < 5);
}

#[test]
fn the_memory_estimate_counts_every_cell_and_its_encoded_copy() {
    let sweep = Sweep::builder("mem")
        .input(InputVar::int_range("n", 1, 1000))
        .result(ResultVar::float("t"))
        .result(ResultVar::vector("v", 3))
        .result(ResultVar::string("s"))
        .repeats(2)
        .build()
        .unwrap();
    // 2000 cells: 4 float columns of 8 + 8 bytes, a text column of a
    // String (24) with its "NAN" (32) and 4 encoded bytes.
    let cells = 2000 * (4 * 16 + 24 + 32 + 4);
    let bytes = sweep.memory_bytes();
    assert!(bytes >= cells && bytes < cells + 64_000, "{bytes}");
    assert!(sweep.check_memory(bytes).is_ok());
    let e = sweep.check_memory(bytes - 1).unwrap_err();
    let Error::OverMemoryLimit {
        bytes: b, limit, ..
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!((*b, *limit), (bytes, bytes - 1));
    let m = e.to_string();
    assert!(
        m.contains("`mem`")
            && m.contains(&format!("{bytes} bytes"))
            && m.contains(&format!("{} bytes", bytes - 1))
            && m.contains("memory limit"),
        "{m}"
    );
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
