//! Landmark registration: the rigid motion that best maps three or more moving points onto their
//! fixed partners in the least-squares sense (Umeyama's closed form, no scaling), with the
//! fiducial registration error of each pair.

use nalgebra::{Isometry3, Matrix3, Point3, Rotation3, Translation3, UnitQuaternion, Vector3};
use serde::Serialize;

use super::RegistrationError;

#[derive(Debug, Clone, Serialize)]
pub struct LandmarkFit {
    /// Maps a moving point to the fixed scan's patient space (LPS mm).
    pub fixed_from_moving: Isometry3<f64>,
    /// Distance between each fixed point and its moved partner after the fit (mm).
    pub errors_mm: Vec<f64>,
    /// Root mean square of `errors_mm`: the fiducial registration error (FRE).
    pub fre_mm: f64,
}

/// Fits `fixed[i] ≈ fixed_from_moving * moving[i]`.
pub fn fit(fixed: &[Point3<f64>], moving: &[Point3<f64>]) -> Result<LandmarkFit, RegistrationError> {
    if fixed.len() != moving.len() {
        return Err(RegistrationError::Landmarks(format!(
            "{} fixed and {} moving points: they must come in pairs",
            fixed.len(),
            moving.len()
        )));
    }
    if fixed.len() < 3 {
        return Err(RegistrationError::Landmarks(format!("{} pairs: at least 3 are needed", fixed.len())));
    }
    if !fixed.iter().chain(moving).all(|p| p.iter().all(|c| c.is_finite())) {
        return Err(RegistrationError::Landmarks("a coordinate is not a number".into()));
    }
    let n = fixed.len() as f64;
    let centre = |ps: &[Point3<f64>]| Point3::from(ps.iter().map(|p| p.coords).sum::<Vector3<f64>>() / n);
    let (cf, cm) = (centre(fixed), centre(moving));
    let covariance: Matrix3<f64> = fixed.iter().zip(moving).map(|(f, m)| (f - cf) * (m - cm).transpose()).sum();
    // `svd` orders the singular values largest first. Points on one line leave the rotation
    // about that line undetermined.
    let svd = covariance.svd(true, true);
    let (Some(u), Some(v_t)) = (svd.u, svd.v_t) else {
        return Err(RegistrationError::Landmarks("the points could not be fitted".into()));
    };
    let singular = svd.singular_values;
    if singular[1] <= 1e-9 * singular[0].max(1e-12) {
        return Err(RegistrationError::Landmarks(
            "the points lie on one line: the rotation about it is unknown".into(),
        ));
    }
    // A reflection is never a patient's motion: flip the weakest axis instead.
    let d = if (u * v_t).determinant() < 0.0 { -1.0 } else { 1.0 };
    let rotation = u * Matrix3::from_diagonal(&Vector3::new(1.0, 1.0, d)) * v_t;
    let rotation = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(rotation));
    let translation = cf.coords - rotation * cm.coords;
    let fixed_from_moving = Isometry3::from_parts(Translation3::from(translation), rotation);
    let errors_mm: Vec<f64> = fixed.iter().zip(moving).map(|(f, m)| (f - fixed_from_moving * m).norm()).collect();
    let fre_mm = (errors_mm.iter().map(|e| e * e).sum::<f64>() / n).sqrt();
    Ok(LandmarkFit { fixed_from_moving, errors_mm, fre_mm })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn motion() -> Isometry3<f64> {
        Isometry3::new(Vector3::new(12.0, -7.5, 20.0), Vector3::new(0.1, -0.2, 0.25))
    }

    #[test]
    fn recovers_a_known_motion_exactly() {
        let moving = [
            Point3::new(0.0, 0.0, 0.0),
            Point3::new(50.0, 0.0, 0.0),
            Point3::new(0.0, 40.0, 5.0),
            Point3::new(3.0, 4.0, 60.0),
        ];
        let fixed: Vec<_> = moving.iter().map(|p| motion() * p).collect();
        let fit = fit(&fixed, &moving).unwrap();
        let error = (fit.fixed_from_moving.to_homogeneous() - motion().to_homogeneous()).abs().max();
        assert!(error < 1e-9, "{error}");
        assert!(fit.fre_mm < 1e-9);
    }

    #[test]
    fn reports_the_error_of_displaced_points() {
        // Three points on a right angle and one of them moved 1 mm off: the FRE is not zero, and
        // the fit spreads the error (each residual below the 1 mm displacement).
        let moving = [
            Point3::new(0.0, 0.0, 0.0),
            Point3::new(40.0, 0.0, 0.0),
            Point3::new(0.0, 40.0, 0.0),
            Point3::new(0.0, 0.0, 40.0),
        ];
        let mut fixed: Vec<_> = moving.iter().map(|p| motion() * p).collect();
        fixed[3].x += 1.0;
        let fit = fit(&fixed, &moving).unwrap();
        assert!(fit.fre_mm > 0.2 && fit.errors_mm.iter().all(|e| *e < 1.0), "{:?}", fit.errors_mm);
        let rms = (fit.errors_mm.iter().map(|e| e * e).sum::<f64>() / 4.0).sqrt();
        assert!((rms - fit.fre_mm).abs() < 1e-12);
    }

    #[test]
    fn refuses_too_few_unpaired_or_collinear_points() {
        let p = |x: f64| Point3::new(x, 2.0 * x, 0.0);
        assert!(fit(&[p(0.0), p(1.0)], &[p(0.0), p(1.0)]).unwrap_err().to_string().contains("at least 3"));
        assert!(fit(&[p(0.0), p(1.0), p(2.0)], &[p(0.0), p(1.0)]).unwrap_err().to_string().contains("pairs"));
        assert!(
            fit(&[p(0.0), p(1.0), p(2.0)], &[p(0.0), p(1.0), p(3.0)]).unwrap_err().to_string().contains("one line")
        );
    }
}
