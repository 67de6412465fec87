//! A binary mask on a volume's grid, and the tools that make one directly: thresholds, logical
//! operations, the spherical brush.

use nalgebra::Point3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::core::volume::{Grid, Volume, VoxelData};

/// One byte per voxel (0 or 1), i-fastest like the volume: simple to share between tools and to
/// process in parallel slice by slice.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    pub grid: Grid,
    pub voxels: Vec<u8>,
}

impl Mask {
    pub fn empty(grid: &Grid) -> Mask {
        Mask { grid: grid.clone(), voxels: vec![0; grid.voxel_count()] }
    }

    #[inline]
    pub fn get(&self, i: usize) -> bool {
        self.voxels[i] != 0
    }

    pub fn count(&self) -> usize {
        self.voxels.par_iter().filter(|&&v| v != 0).count()
    }

    pub fn volume_mm3(&self) -> f64 {
        self.count() as f64 * self.grid.voxel_volume_mm3()
    }

    pub fn is_empty(&self) -> bool {
        !self.voxels.par_iter().any(|&v| v != 0)
    }

    /// Combines two masks on the same grid voxel by voxel.
    pub fn combine(&self, other: &Mask, op: Logic) -> Mask {
        assert_eq!(self.grid.dims, other.grid.dims, "masks on different grids");
        let voxels = self
            .voxels
            .par_iter()
            .zip(&other.voxels)
            .map(|(&a, &b)| {
                let (a, b) = (a != 0, b != 0);
                (match op {
                    Logic::Union => a || b,
                    Logic::Intersect => a && b,
                    Logic::Subtract => a && !b,
                    Logic::Xor => a != b,
                }) as u8
            })
            .collect();
        Mask { grid: self.grid.clone(), voxels }
    }

    pub fn invert(&self) -> Mask {
        Mask { grid: self.grid.clone(), voxels: self.voxels.par_iter().map(|&v| (v == 0) as u8).collect() }
    }

    /// Dice similarity with another mask: 2|A∩B| / (|A| + |B|).
    pub fn dice(&self, other: &Mask) -> f64 {
        let (inter, a, b) = self
            .voxels
            .par_iter()
            .zip(&other.voxels)
            .map(|(&x, &y)| ((x != 0 && y != 0) as usize, (x != 0) as usize, (y != 0) as usize))
            .reduce(|| (0, 0, 0), |p, q| (p.0 + q.0, p.1 + q.1, p.2 + q.2));
        if a + b == 0 { 1.0 } else { 2.0 * inter as f64 / (a + b) as f64 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Logic {
    Union,
    Intersect,
    Subtract,
    Xor,
}

/// Voxels with lo <= value <= hi.
pub fn threshold(volume: &Volume, lo: f64, hi: f64) -> Mask {
    let voxels = match &volume.data {
        VoxelData::I16(v) => {
            // Compare in integers: exact, and the common case is fast.
            let lo_i = lo.ceil().clamp(i16::MIN as f64 - 1.0, i16::MAX as f64 + 1.0) as i32;
            let hi_i = hi.floor().clamp(i16::MIN as f64 - 1.0, i16::MAX as f64 + 1.0) as i32;
            v.par_iter().map(|&x| (lo_i <= x as i32 && x as i32 <= hi_i) as u8).collect()
        }
        VoxelData::F32(v) => v.par_iter().map(|&x| (lo <= x as f64 && x as f64 <= hi) as u8).collect(),
    };
    Mask { grid: volume.grid.clone(), voxels }
}

/// Intensity ranges that select tissues on CT (Hounsfield units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Cortical and cancellous bone.
    Bone,
    /// Everything denser than air: the body outline, whose surface is the skin.
    Skin,
    /// Iodine-enhanced vessels (CT angiography), below bone.
    ContrastVessels,
    /// Muscle, brain, organs.
    SoftTissue,
}

impl Preset {
    pub const ALL: [Preset; 4] = [Preset::Bone, Preset::Skin, Preset::ContrastVessels, Preset::SoftTissue];

    /// (lo, hi) in HU.
    pub fn range_hu(self) -> (f64, f64) {
        match self {
            Preset::Bone => (250.0, 3071.0),
            Preset::Skin => (-300.0, 3071.0),
            Preset::ContrastVessels => (150.0, 500.0),
            Preset::SoftTissue => (-100.0, 100.0),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Bone => "bone",
            Preset::Skin => "skin",
            Preset::ContrastVessels => "contrast vessels",
            Preset::SoftTissue => "soft tissue",
        }
    }
}

/// Sets (or clears, when `erase`) every voxel whose centre lies within `radius_mm` of `centre`.
pub fn brush(mask: &mut Mask, centre: &Point3<f64>, radius_mm: f64, erase: bool) {
    let value = (!erase) as u8;
    let ball: Vec<usize> = mask.grid.voxels_within(centre, radius_mm).map(|(i, _)| i).collect();
    for i in ball {
        mask.voxels[i] = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::volume::VolumeMeta;

    fn volume(values: Vec<i16>, dims: [usize; 3], spacing: [f64; 3]) -> Volume {
        Volume {
            grid: Grid::axis_aligned(dims, Point3::origin(), spacing),
            data: VoxelData::I16(values),
            meta: VolumeMeta::default(),
            warnings: vec![],
        }
    }

    #[test]
    fn threshold_is_inclusive_and_exact() {
        let v = volume(vec![-1000, 149, 150, 300, 500, 501], [6, 1, 1], [1.0; 3]);
        let m = threshold(&v, 150.0, 500.0);
        assert_eq!(m.voxels, vec![0, 0, 1, 1, 1, 0]);
        let m = threshold(&v, 149.5, 500.5);
        assert_eq!(m.voxels, vec![0, 0, 1, 1, 1, 0]);
    }

    #[test]
    fn brush_paints_a_ball_in_millimetres_on_an_anisotropic_grid() {
        let grid = Grid::axis_aligned([41, 41, 21], Point3::new(-20.0, -20.0, -20.0), [1.0, 1.0, 2.0]);
        let mut m = Mask::empty(&grid);
        brush(&mut m, &Point3::origin(), 10.0, false);
        let expected = 4.0 / 3.0 * std::f64::consts::PI * 1000.0;
        assert!((m.volume_mm3() / expected - 1.0).abs() < 0.03, "{} vs {expected}", m.volume_mm3());
        brush(&mut m, &Point3::origin(), 5.0, true);
        assert!(!m.get(grid.index(20, 20, 10)));
        assert!(m.get(grid.index(28, 20, 10)));
        // A stroke outside the grid touches nothing.
        let before = m.clone();
        brush(&mut m, &Point3::new(500.0, 0.0, 0.0), 3.0, false);
        assert_eq!(m, before);
    }

    #[test]
    fn logic_and_dice() {
        let g = Grid::axis_aligned([4, 1, 1], Point3::origin(), [1.0; 3]);
        let a = Mask { grid: g.clone(), voxels: vec![1, 1, 0, 0] };
        let b = Mask { grid: g, voxels: vec![0, 1, 1, 0] };
        assert_eq!(a.combine(&b, Logic::Union).voxels, vec![1, 1, 1, 0]);
        assert_eq!(a.combine(&b, Logic::Intersect).voxels, vec![0, 1, 0, 0]);
        assert_eq!(a.combine(&b, Logic::Subtract).voxels, vec![1, 0, 0, 0]);
        assert_eq!(a.combine(&b, Logic::Xor).voxels, vec![1, 0, 1, 0]);
        assert!((a.dice(&b) - 0.5).abs() < 1e-12);
    }
}
