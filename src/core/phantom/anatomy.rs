//! The phantom's anatomy as exact geometry: nested ellipsoids, a sphere, and trees of tubes
//! (capsules). The same description renders the CT, the truth label map and the truth JSON, and
//! gives analytic distances for planning tests.

use nalgebra::{Point3, Vector3};
use serde::{Deserialize, Serialize};

/// A straight tube of constant radius with round ends (a capsule).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tube {
    pub from: Point3<f64>,
    pub to: Point3<f64>,
    pub radius_mm: f64,
}

impl Tube {
    /// Distance from `p` to the centre-line segment.
    pub fn axis_distance(&self, p: &Point3<f64>) -> f64 {
        let (a, b) = (self.from, self.to);
        let ab = b - a;
        if ab.norm_squared() == 0.0 {
            // A ball (a traced nerve's two clicks in one place).
            return (p - a).norm();
        }
        let t = ((p - a).dot(&ab) / ab.norm_squared()).clamp(0.0, 1.0);
        (p - (a + ab * t)).norm()
    }

    /// Signed distance to the tube surface (negative inside).
    pub fn signed_distance(&self, p: &Point3<f64>) -> f64 {
        self.axis_distance(p) - self.radius_mm
    }

    fn bounds(&self) -> (Point3<f64>, Point3<f64>) {
        let r = Vector3::repeat(self.radius_mm);
        (self.from.inf(&self.to) - r, self.from.sup(&self.to) + r)
    }
}

/// An axis-aligned ellipsoid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ellipsoid {
    // The truth file keeps the key it was first written with.
    #[serde(rename = "center")]
    pub centre: Point3<f64>,
    pub semi_axes_mm: [f64; 3],
}

impl Ellipsoid {
    /// sum((x/a)^2): below 1 inside.
    #[inline]
    pub fn level(&self, p: &Point3<f64>) -> f64 {
        (0..3).map(|i| ((p[i] - self.centre[i]) / self.semi_axes_mm[i]).powi(2)).sum()
    }

    pub fn contains(&self, p: &Point3<f64>) -> bool {
        self.level(p) < 1.0
    }

    /// The same ellipsoid with every semi-axis shortened by `mm`.
    pub fn shrunk(&self, mm: f64) -> Ellipsoid {
        Ellipsoid { centre: self.centre, semi_axes_mm: self.semi_axes_mm.map(|a| a - mm) }
    }

    pub fn volume_mm3(&self) -> f64 {
        4.0 / 3.0 * std::f64::consts::PI * self.semi_axes_mm.iter().product::<f64>()
    }
}

/// Exact geometry of one truth structure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Shape {
    /// Inside `outer` and not inside `inner`.
    EllipsoidShell { outer: Ellipsoid, inner: Ellipsoid },
    /// Union of ellipsoids.
    Ellipsoids { items: Vec<Ellipsoid> },
    Sphere {
        #[serde(rename = "center")]
        centre: Point3<f64>,
        radius_mm: f64,
    },
    /// Union of capsules: a tree of tubes sharing end points.
    Tubes { segments: Vec<Tube> },
}

impl Shape {
    pub fn contains(&self, p: &Point3<f64>) -> bool {
        match self {
            Shape::EllipsoidShell { outer, inner } => outer.contains(p) && !inner.contains(p),
            Shape::Ellipsoids { items } => items.iter().any(|e| e.contains(p)),
            Shape::Sphere { centre, radius_mm } => (p - centre).norm() < *radius_mm,
            Shape::Tubes { segments } => segments.iter().any(|t| t.signed_distance(p) < 0.0),
        }
    }

    /// Exact distance from `p` to the surface of a tube tree (negative inside); `None` for the
    /// other shapes, whose exact distance is not needed.
    pub fn tube_distance(&self, p: &Point3<f64>) -> Option<f64> {
        match self {
            Shape::Tubes { segments } => segments.iter().map(|t| t.signed_distance(p)).reduce(f64::min),
            Shape::Sphere { centre, radius_mm } => Some((p - centre).norm() - radius_mm),
            _ => None,
        }
    }
}

/// Tissue classes with their CT numbers; finer than the truth labels (a skull has tables and
/// diploe, a tumour has an enhancing rim).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tissue {
    Air,
    Skin,
    Fat,
    CorticalBone,
    Diploe,
    Csf,
    GreyMatter,
    WhiteMatter,
    Ventricle,
    TumourCore,
    TumourRim,
    Artery,
    Sinus,
    Nerve,
}

impl Tissue {
    pub fn hu(self) -> f64 {
        match self {
            Tissue::Air => -1000.0,
            Tissue::Skin => 50.0,
            Tissue::Fat => -90.0,
            Tissue::CorticalBone => 1500.0,
            Tissue::Diploe => 650.0,
            Tissue::Csf => 8.0,
            Tissue::GreyMatter => 38.0,
            Tissue::WhiteMatter => 27.0,
            Tissue::Ventricle => 6.0,
            Tissue::TumourCore => 45.0,
            Tissue::TumourRim => 115.0,
            Tissue::Artery => 320.0,
            Tissue::Sinus => 230.0,
            // Nerves have no contrast of their own: they are known from the truth map only.
            Tissue::Nerve => 34.0,
        }
    }
}

/// The head: all geometry in LPS mm.
#[derive(Debug, Clone)]
pub struct Anatomy {
    pub head: Ellipsoid,
    pub ventricles: [Ellipsoid; 2],
    pub tumour_centre: Point3<f64>,
    pub tumour_radius_mm: f64,
    pub arteries: Vec<Tube>,
    pub sinus: Vec<Tube>,
    pub nerves: Vec<Tube>,
    tube_bounds: Vec<(Point3<f64>, Point3<f64>, Tissue, Tube)>,
}

/// Layer depths below the skin surface, in mm (each shrinks every semi-axis).
pub const FAT_DEPTH_MM: f64 = 2.0;
pub const SKULL_OUTER_DEPTH_MM: f64 = 5.0;
pub const DIPLOE_DEPTH_MM: f64 = 7.0;
pub const INNER_TABLE_DEPTH_MM: f64 = 10.0;
pub const SKULL_INNER_DEPTH_MM: f64 = 12.0;
pub const GREY_DEPTH_MM: f64 = 14.0;
pub const WHITE_DEPTH_MM: f64 = 18.0;
pub const TUMOUR_RIM_MM: f64 = 2.0;

impl Anatomy {
    /// The phantom head centred at `c` (LPS mm).
    pub fn new(c: Point3<f64>) -> Anatomy {
        let at = |d: [f64; 3]| c + Vector3::from(d);
        let tube = |a: [f64; 3], b: [f64; 3], r: f64| Tube { from: at(a), to: at(b), radius_mm: r };
        let across = |p: Point3<f64>| Point3::new(2.0 * c.x - p.x, p.y, p.z);
        let mirror = |t: &Tube| Tube { from: across(t.from), to: across(t.to), radius_mm: t.radius_mm };
        // One hemisphere's arterial tree (patient left = +x); the right is its mirror image.
        let left = vec![
            tube([8.0, -5.0, -50.0], [12.0, -10.0, -20.0], 2.5),
            tube([12.0, -10.0, -20.0], [35.0, -12.0, -5.0], 2.0),
            tube([35.0, -12.0, -5.0], [48.0, -5.0, 15.0], 1.6),
            tube([35.0, -12.0, -5.0], [44.0, -32.0, 6.0], 1.5),
            tube([12.0, -10.0, -20.0], [6.0, -40.0, 10.0], 1.8),
            tube([6.0, -40.0, 10.0], [5.0, -42.0, 40.0], 1.5),
        ];
        let mut arteries = left.clone();
        arteries.extend(left.iter().map(mirror));
        let sinus = vec![
            tube([0.0, -58.0, 38.0], [0.0, -30.0, 58.0], 3.5),
            tube([0.0, -30.0, 58.0], [0.0, 10.0, 62.0], 3.5),
            tube([0.0, 10.0, 62.0], [0.0, 44.0, 49.0], 3.5),
            tube([0.0, 44.0, 49.0], [0.0, 66.0, 24.0], 3.5),
        ];
        let left_nerves = vec![
            tube([13.0, -60.0, -26.0], [0.0, -42.0, -22.0], 1.5),
            tube([0.0, -42.0, -22.0], [16.0, -25.0, -16.0], 1.5),
        ];
        let mut nerves = left_nerves.clone();
        nerves.extend(left_nerves.iter().map(mirror));

        let mut a = Anatomy {
            head: Ellipsoid { centre: c, semi_axes_mm: [72.0, 90.0, 82.0] },
            ventricles: [
                Ellipsoid { centre: at([10.0, 2.0, 14.0]), semi_axes_mm: [5.5, 22.0, 8.0] },
                Ellipsoid { centre: at([-10.0, 2.0, 14.0]), semi_axes_mm: [5.5, 22.0, 8.0] },
            ],
            tumour_centre: at([30.0, -20.0, 20.0]),
            tumour_radius_mm: 11.0,
            arteries,
            sinus,
            nerves,
            tube_bounds: Vec::new(),
        };
        // Nerves first: they take precedence over vessels where the two would overlap.
        for (tubes, tissue) in [(&a.nerves, Tissue::Nerve), (&a.arteries, Tissue::Artery), (&a.sinus, Tissue::Sinus)] {
            for t in tubes {
                let (lo, hi) = t.bounds();
                a.tube_bounds.push((lo, hi, tissue, *t));
            }
        }
        a
    }

    /// The tissue at a point.
    pub fn tissue(&self, p: &Point3<f64>) -> Tissue {
        let head = self.head.level(p);
        if head >= 1.0 {
            return Tissue::Air;
        }
        for (lo, hi, tissue, t) in &self.tube_bounds {
            if p.x >= lo.x
                && p.y >= lo.y
                && p.z >= lo.z
                && p.x <= hi.x
                && p.y <= hi.y
                && p.z <= hi.z
                && t.signed_distance(p) < 0.0
            {
                return *tissue;
            }
        }
        let dt = (p - self.tumour_centre).norm();
        if dt < self.tumour_radius_mm {
            return if dt >= self.tumour_radius_mm - TUMOUR_RIM_MM { Tissue::TumourRim } else { Tissue::TumourCore };
        }
        if self.ventricles.iter().any(|e| e.contains(p)) {
            return Tissue::Ventricle;
        }
        let layers = [
            (FAT_DEPTH_MM, Tissue::Skin),
            (SKULL_OUTER_DEPTH_MM, Tissue::Fat),
            (DIPLOE_DEPTH_MM, Tissue::CorticalBone),
            (INNER_TABLE_DEPTH_MM, Tissue::Diploe),
            (SKULL_INNER_DEPTH_MM, Tissue::CorticalBone),
            (GREY_DEPTH_MM, Tissue::Csf),
            (WHITE_DEPTH_MM, Tissue::GreyMatter),
        ];
        for (depth, tissue) in layers {
            if !self.head.shrunk(depth).contains(p) {
                return tissue;
            }
        }
        Tissue::WhiteMatter
    }

    /// Truth label at a point (see [`super::LABELS`]).
    pub fn label(&self, p: &Point3<f64>) -> u8 {
        match self.tissue(p) {
            Tissue::Air => 0,
            Tissue::Skin | Tissue::Fat => 1,
            Tissue::CorticalBone | Tissue::Diploe => 2,
            Tissue::Csf | Tissue::GreyMatter | Tissue::WhiteMatter => 3,
            Tissue::Ventricle => 4,
            Tissue::TumourCore | Tissue::TumourRim => 5,
            Tissue::Artery => 6,
            Tissue::Sinus => 7,
            Tissue::Nerve => 8,
        }
    }

    /// Bounding boxes of the tubes, for deciding where partial-volume sampling is needed.
    pub(super) fn tube_boxes(&self) -> impl Iterator<Item = (Point3<f64>, Point3<f64>)> + '_ {
        self.tube_bounds.iter().map(|(lo, hi, _, _)| (*lo, *hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tube_distance_is_exact() {
        let t = Tube { from: Point3::origin(), to: Point3::new(10.0, 0.0, 0.0), radius_mm: 2.0 };
        assert!((t.signed_distance(&Point3::new(5.0, 5.0, 0.0)) - 3.0).abs() < 1e-12);
        assert!((t.signed_distance(&Point3::new(13.0, 4.0, 0.0)) - 3.0).abs() < 1e-12);
        assert!(t.signed_distance(&Point3::new(1.0, 1.0, 1.0)) < 0.0);
        let ball = Tube { from: Point3::origin(), to: Point3::origin(), radius_mm: 2.0 };
        assert!((ball.signed_distance(&Point3::new(0.0, 3.0, 4.0)) - 3.0).abs() < 1e-12);
    }

    #[test]
    fn structures_nest_as_in_a_head() {
        let a = Anatomy::new(Point3::origin());
        assert_eq!(a.tissue(&Point3::new(0.0, 0.0, 200.0)), Tissue::Air);
        assert_eq!(a.tissue(&Point3::new(71.0, 0.0, 0.0)), Tissue::Skin);
        assert_eq!(a.tissue(&Point3::new(66.0, 0.0, 0.0)), Tissue::CorticalBone);
        assert_eq!(a.tissue(&Point3::new(63.5, 0.0, 0.0)), Tissue::Diploe);
        assert_eq!(a.tissue(&Point3::new(0.0, 0.0, 0.0)), Tissue::WhiteMatter);
        assert_eq!(a.tissue(&Point3::new(30.0, -20.0, 20.0)), Tissue::TumourCore);
        assert_eq!(a.tissue(&Point3::new(10.0, 2.0, 14.0)), Tissue::Ventricle);
        assert_eq!(a.label(&Point3::new(0.0, -10.0, 60.0)), 7);
    }

    #[test]
    fn vessels_and_nerves_stay_clear_of_the_skull_and_each_other() {
        let a = Anatomy::new(Point3::origin());
        let inner = a.head.shrunk(SKULL_INNER_DEPTH_MM);
        for t in a.arteries.iter().chain(&a.sinus).chain(&a.nerves) {
            for s in 0..=20 {
                let f = s as f64 / 20.0;
                let p = t.from + (t.to - t.from) * f;
                // the tube's surface stays inside the inner table with room for a voxel
                let shrunk = inner.shrunk(t.radius_mm + 2.0);
                assert!(shrunk.contains(&p), "{t:?} at {f} leaves the cranial cavity");
            }
        }
    }
}
