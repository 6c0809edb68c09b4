//! Distances between WGS 84 positions, and a grid that finds what is near
//! a point without comparing every pair.

use crate::model::Position;

const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The great-circle distance in metres (haversine).
pub fn distance_m(a: Position, b: Position) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlng = (b.lng - a.lng).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// A grid cell is `CELL_DEG` on a side (about 330 m of latitude, less of
/// longitude away from the equator), so everything within `CELL_DEG` of a
/// point lies in its cell or the eight around it.
pub const CELL_DEG: f64 = 0.003;

pub type Cell = (i64, i64);

pub fn cell(p: Position) -> Cell {
    (
        (p.lat / CELL_DEG).floor() as i64,
        (p.lng / CELL_DEG).floor() as i64,
    )
}

/// The cell of `p` and the eight around it.
pub fn neighbourhood(p: Position) -> impl Iterator<Item = Cell> {
    let (row, col) = cell(p);
    (row - 1..=row + 1).flat_map(move |r| (col - 1..=col + 1).map(move |c| (r, c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_in_metres() {
        let a = Position {
            lat: -27.5954,
            lng: -48.5480,
        };
        let b = Position {
            lat: -27.5954,
            lng: -48.5470,
        };
        let d = distance_m(a, b);
        assert!((d - 98.6).abs() < 1.0, "{d}");
        assert_eq!(distance_m(a, a), 0.0);
    }

    #[test]
    fn the_neighbourhood_reaches_across_cell_borders() {
        let here = Position {
            lat: -27.0000,
            lng: -48.0000,
        };
        let around: Vec<Cell> = neighbourhood(here).collect();
        assert_eq!(around.len(), 9);
        for near in [
            Position {
                lat: -27.0001,
                lng: -48.0001,
            },
            Position {
                lat: -26.9990,
                lng: -47.9990,
            },
        ] {
            assert!(around.contains(&cell(near)));
        }
        assert!(!around.contains(&cell(Position {
            lat: -27.1,
            lng: -48.0
        })));
    }
}
