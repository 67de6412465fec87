//! A trajectory in frame coordinates, and the Leksell arc settings that carry it out.
//!
//! Leksell's arc is centred on the target: the ring angle turns the arc about the frame's X
//! axis, the arc angle sets the instrument's direction within it. With u the unit vector from
//! the target to the entry in frame coordinates (X to the patient's left, Y anterior, Z
//! inferior):
//! - arc mounted on the patient's right: arc = acos(-u_x), ring = atan2(-u_z, u_y);
//! - arc mounted on the left: arc = acos(u_x), ring = atan2(-u_z, -u_y).
//!
//! So a vertical approach from above is ring 90, arc 90 on either side; on the right mounting
//! an arc below 90 enters on the patient's right and a ring below 90 tilts the entry anterior
//! (both mirror on the left mounting). These are the formulas of the open-source planners
//! PySisyphe and SlicerNetstim, which agree, and trajectoryGuide's (its `frame_angles`, on
//! RAS-oriented frame coordinates, is the right mounting's); they are tested here on
//! hand-computed cases and against that third form, and were not checked against Elekta's own
//! documentation.

use nalgebra::{Isometry3, Point3};
use serde::Serialize;

/// The angles a Leksell arc can be set to (degrees), as open-source planners limit them.
const ANGLE_RANGE_DEG: (f64, f64) = (0.0, 180.0);
/// Frame coordinates run from 0 to 200 mm on each axis.
const FRAME_RANGE_MM: (f64, f64) = (0.0, 200.0);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mounting {
    Right,
    Left,
}

impl Mounting {
    /// The patient's side the arc is mounted on.
    pub fn name(self) -> &'static str {
        match self {
            Mounting::Right => "right",
            Mounting::Left => "left",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArcSetting {
    pub mounting: Mounting,
    pub ring_deg: f64,
    pub arc_deg: f64,
    /// Whether the arc can be set so (both angles within 0-180 degrees).
    pub reachable: bool,
}

impl ArcSetting {
    /// "Arc on the patient's right: ring 45.8 deg, arc 137.3 deg", and when the arc cannot be set
    /// so, " - the arc cannot be set so": one wording for the report, the command line and the
    /// workstation.
    pub fn describe(&self) -> String {
        format!(
            "Arc on the patient's {}: ring {:.1} deg, arc {:.1} deg{}",
            self.mounting.name(),
            self.ring_deg,
            self.arc_deg,
            if self.reachable { "" } else { " - the arc cannot be set so" }
        )
    }
}

/// A trajectory in frame coordinates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameTrajectory {
    pub target_mm: [f64; 3],
    pub entry_mm: [f64; 3],
    /// Whether the target lies within the frame's coordinate range (0-200 mm on each axis).
    pub target_inside: bool,
    /// The Leksell arc settings, on each side (Leksell frames only).
    pub arcs: Vec<ArcSetting>,
}

/// The arc setting for the direction from `target` to `entry` (frame mm).
pub fn leksell_arc(target: &Point3<f64>, entry: &Point3<f64>, mounting: Mounting) -> Option<ArcSetting> {
    let u = (entry - target).try_normalize(1e-9)?;
    let (arc, ring) = match mounting {
        Mounting::Right => ((-u.x).clamp(-1.0, 1.0).acos(), (-u.z).atan2(u.y)),
        Mounting::Left => (u.x.clamp(-1.0, 1.0).acos(), (-u.z).atan2(-u.y)),
    };
    let (ring_deg, arc_deg) = (ring.to_degrees(), arc.to_degrees());
    let within = |a: f64| a >= ANGLE_RANGE_DEG.0 - 1e-9 && a <= ANGLE_RANGE_DEG.1 + 1e-9;
    Some(ArcSetting { mounting, ring_deg, arc_deg, reachable: within(ring_deg) && within(arc_deg) })
}

/// The trajectory from `entry_lps` to `target_lps` in the frame `frame_from_patient` maps to.
pub fn frame_trajectory(
    frame_from_patient: &Isometry3<f64>,
    frame: &str,
    entry_lps: &Point3<f64>,
    target_lps: &Point3<f64>,
) -> FrameTrajectory {
    let (target, entry) = (frame_from_patient * target_lps, frame_from_patient * entry_lps);
    let arcs = if frame == "Leksell" {
        [Mounting::Right, Mounting::Left].into_iter().filter_map(|m| leksell_arc(&target, &entry, m)).collect()
    } else {
        Vec::new()
    };
    FrameTrajectory {
        target_mm: target.coords.into(),
        entry_mm: entry.coords.into(),
        target_inside: target.iter().all(|c| *c >= FRAME_RANGE_MM.0 && *c <= FRAME_RANGE_MM.1),
        arcs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arc(target: [f64; 3], entry: [f64; 3], m: Mounting) -> ArcSetting {
        leksell_arc(&Point3::from(target), &Point3::from(entry), m).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Worked by hand from the formulas in the module's doc.
    #[test]
    fn ring_and_arc_of_hand_computed_directions() {
        let t = [100.0, 100.0, 100.0];
        // Straight down from above (Z smaller is superior): 90, 90 on both sides.
        for m in [Mounting::Right, Mounting::Left] {
            let a = arc(t, [100.0, 100.0, 40.0], m);
            assert!(close(a.ring_deg, 90.0) && close(a.arc_deg, 90.0) && a.reachable, "{a:?}");
        }
        // 30 degrees from vertical toward the patient's right (X smaller): u = (-1/2, 0, -sqrt3/2).
        let e = [100.0 - 50.0, 100.0, 100.0 - 50.0 * 3f64.sqrt()];
        let r = arc(t, e, Mounting::Right);
        assert!(close(r.arc_deg, 60.0) && close(r.ring_deg, 90.0), "{r:?}");
        let l = arc(t, e, Mounting::Left);
        assert!(close(l.arc_deg, 120.0) && close(l.ring_deg, 90.0), "{l:?}");
        // 30 degrees from vertical toward anterior (Y larger): u = (0, 1/2, -sqrt3/2).
        let e = [100.0, 150.0, 100.0 - 50.0 * 3f64.sqrt()];
        let r = arc(t, e, Mounting::Right);
        assert!(close(r.arc_deg, 90.0) && close(r.ring_deg, 60.0), "{r:?}");
        let l = arc(t, e, Mounting::Left);
        assert!(close(l.arc_deg, 90.0) && close(l.ring_deg, 120.0), "{l:?}");
        // From below (Z larger): the ring would pass 180 degrees, so the arc cannot be set.
        let below = arc(t, [100.0, 150.0, 150.0], Mounting::Right);
        assert!(!below.reachable && close(below.ring_deg, -45.0), "{below:?}");
    }

    /// The right mounting against trajectoryGuide's form of it, written out here from its
    /// description: on the direction in RAS-oriented frame axes r = (-u_x, u_y, -u_z), arc =
    /// acos(r_x) and ring = atan(r_z / r_y) folded into 0-180 degrees (90 when r_y is 0); for
    /// entries above the target across the upper half sphere.
    #[test]
    fn the_right_mounting_agrees_with_a_second_form() {
        let t = [100.0, 100.0, 100.0];
        for a in 0..12 {
            for b in 1..12 {
                let (azimuth, polar) = (a as f64 * 30f64.to_radians(), b as f64 * 7.5f64.to_radians());
                // u: unit, from the target up (Z smaller) and out.
                let u = [polar.sin() * azimuth.cos(), polar.sin() * azimuth.sin(), -polar.cos()];
                let entry = [t[0] + 60.0 * u[0], t[1] + 60.0 * u[1], t[2] + 60.0 * u[2]];
                let ours = arc(t, entry, Mounting::Right);
                let r = [-u[0], u[1], -u[2]];
                let second_arc = r[0].acos().to_degrees();
                let folded = if r[1] == 0.0 { 90.0 } else { (r[2] / r[1]).atan().to_degrees() };
                let second_ring = if folded < 0.0 { folded + 180.0 } else { folded };
                assert!(
                    (ours.arc_deg - second_arc).abs() < 1e-9 && (ours.ring_deg - second_ring).abs() < 1e-9,
                    "{u:?}: {ours:?} against arc {second_arc}, ring {second_ring}"
                );
            }
        }
    }

    #[test]
    fn a_straight_frame_maps_lps_as_its_convention_says() {
        // Mounted straight: X = 100 + L, Y = 100 - P, Z = 100 - S.
        let frame_from_patient = Isometry3::from_parts(
            nalgebra::Translation3::new(100.0, 100.0, 100.0),
            nalgebra::UnitQuaternion::from_axis_angle(&nalgebra::Vector3::x_axis(), std::f64::consts::PI),
        );
        let f = frame_trajectory(
            &frame_from_patient,
            "Leksell",
            &Point3::new(0.0, 0.0, 60.0),
            &Point3::new(10.0, -20.0, 5.0),
        );
        let expect = [110.0, 120.0, 95.0];
        assert!(f.target_mm.iter().zip(expect).all(|(a, b)| (a - b).abs() < 1e-9), "{:?}", f.target_mm);
        assert!(f.target_inside && f.arcs.len() == 2);
    }
}
