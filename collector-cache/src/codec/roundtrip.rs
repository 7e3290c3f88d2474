//! Randomised round trips of the codec over many shapes and kinds (a
//! deterministic generator: no extra dev-dependency).
#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;

use collector_core::{AttrValue, Column, ColumnData, Coords, Dataset, Dim, ResultKind};
use ndarray::{ArrayD, IxDyn};

use super::{decode_event, encode_event};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
    fn f64(&mut self) -> f64 {
        match self.below(6) {
            0 => f64::NAN,
            1 => -0.0,
            2 => f64::INFINITY,
            _ => f64::from_bits(self.next() >> 2),
        }
    }
}

fn random_dataset(rng: &mut Rng) -> Dataset {
    let ndims = 1 + rng.below(3);
    let mut dims = Vec::new();
    for d in 0..ndims {
        let n = 1 + rng.below(4);
        let coords = match rng.below(4) {
            0 => Coords::Float((0..n).map(|i| i as f64 * 0.5).collect()),
            1 => Coords::Int((0..n as i64).collect()),
            2 => Coords::Str((0..n).map(|i| format!("s{i}é")).collect()),
            _ => Coords::Time((0..n as i64).map(|i| i * 1_000_000_007).collect()),
        };
        dims.push(Dim::new(format!("d{d}"), coords));
    }
    dims.push(Dim::new(
        "over_time",
        Coords::Label(vec![format!("v{}", rng.below(100))]),
    ));
    let shape: Vec<usize> = dims.iter().map(Dim::len).collect();
    let cells: usize = shape.iter().product();
    let mut columns = Vec::new();
    for c in 0..1 + rng.below(4) {
        let (kind, data) = match rng.below(3) {
            0 => (
                ResultKind::Float,
                ColumnData::F64(
                    ArrayD::from_shape_vec(IxDyn(&shape), (0..cells).map(|_| rng.f64()).collect())
                        .unwrap(),
                ),
            ),
            1 => (
                ResultKind::Image,
                ColumnData::Text(
                    ArrayD::from_shape_vec(
                        IxDyn(&shape),
                        (0..cells).map(|i| format!("p/{i}\u{0}x")).collect(),
                    )
                    .unwrap(),
                ),
            ),
            _ => (
                ResultKind::String,
                ColumnData::Text(
                    ArrayD::from_shape_vec(IxDyn(&shape), vec!["NAN".to_string(); cells]).unwrap(),
                ),
            ),
        };
        columns.push(Column {
            name: format!("c{c}"),
            var: format!("c{c}"),
            kind,
            attrs: Default::default(),
            data,
        });
    }
    let attrs = BTreeMap::from([("n".to_string(), AttrValue::Int(rng.below(9) as i64))]);
    Dataset::from_parts(dims, columns, attrs).unwrap()
}

fn same(a: &Dataset, b: &Dataset) -> bool {
    // Compare floats by bits: NaN == NaN, -0.0 != 0.0.
    a.dims() == b.dims()
        && a.attrs == b.attrs
        && a.columns().len() == b.columns().len()
        && a.columns().iter().zip(b.columns()).all(|(x, y)| {
            x.name == y.name
                && x.kind == y.kind
                && match (&x.data, &y.data) {
                    (ColumnData::F64(p), ColumnData::F64(q)) => {
                        p.shape() == q.shape()
                            && p.iter()
                                .zip(q.iter())
                                .all(|(u, v)| u.to_bits() == v.to_bits())
                    }
                    (p, q) => p == q,
                }
        })
}

#[test]
fn random_events_round_trip_bit_exactly() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..300 {
        let ds = random_dataset(&mut rng);
        let bytes = encode_event(i, &ds).unwrap();
        let super::StoredEvent { seq, dataset: back } = decode_event(&bytes).unwrap();
        assert_eq!(seq, i);
        assert!(same(&ds, &back), "case {i}: {ds:?} vs {back:?}");
        // Any truncation is an error, never a panic.
        let cut = rng.below(bytes.len() as u64);
        assert!(
            decode_event(&bytes[..cut]).is_err(),
            "case {i}, cut at {cut}"
        );
        // A flipped byte is either an error or a different (valid) value: no panic.
        let mut flipped = bytes.to_vec();
        let at = rng.below(bytes.len() as u64);
        flipped[at] ^= 1 << rng.below(8);
        let _ = decode_event(&flipped);
    }
}
