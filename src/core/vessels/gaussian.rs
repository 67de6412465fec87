//! Gaussian smoothing of an f32 volume, one voxel axis at a time, with the width in voxels set
//! per axis (so a width in millimetres stays the same on anisotropic grids). Widths of a voxel and
//! more use Young and van Vliet's recursive filter, whose cost does not grow with the width;
//! narrower ones a sampled kernel, where the recursive filter is inaccurate. Edges repeat the
//! border value.

use rayon::prelude::*;

/// Smooths `data` (i-fastest, `dims`) in place with standard deviations `sigma_vox` per axis.
pub fn smooth(data: &mut [f32], dims: [usize; 3], sigma_vox: [f64; 3]) {
    for (axis, &s) in sigma_vox.iter().enumerate() {
        if s > 0.0 && dims[axis] > 1 {
            along(data, dims, axis, s);
        }
    }
}

/// One axis. Every line is filtered with all the lines beside it in x at once (rows of `nx`
/// values), so that the y and z passes read memory in order and vectorise.
fn along(data: &mut [f32], dims: [usize; 3], axis: usize, sigma: f64) {
    let [nx, ny, _] = dims;
    let filter = Filter::new(sigma);
    match axis {
        0 => data.par_chunks_mut(nx).for_each_init(|| vec![0f32; nx], |tmp, row| filter.line(row, tmp)),
        1 => data.par_chunks_mut(nx * ny).for_each(|slice| filter.strided(slice.chunks_mut(nx).collect())),
        _ => {
            // z: each worker takes a band of rows and filters it across slices.
            let plane = nx * ny;
            let ptr = SyncPtr(data.as_mut_ptr());
            (0..ny).into_par_iter().for_each(|j| {
                let p = &ptr;
                // SAFETY: row j of every slice is touched only by this task; rows of different
                // j never overlap, and `data` outlives the parallel loop.
                let rows =
                    (0..dims[2]).map(|k| unsafe { std::slice::from_raw_parts_mut(p.0.add(j * nx + k * plane), nx) });
                filter.strided(rows.collect());
            });
        }
    }
}

struct SyncPtr(*mut f32);
unsafe impl Sync for SyncPtr {}
unsafe impl Send for SyncPtr {}

enum Filter {
    /// Young-van Vliet coefficients: gain `b` and feedback `a1..a3`.
    Recursive { b: f32, a: [f32; 3] },
    /// A normalised sampled kernel of half-width `kernel.len() - 1`, centre first.
    Sampled { kernel: Vec<f32> },
}

impl Filter {
    fn new(sigma: f64) -> Filter {
        if sigma >= 1.0 {
            // The published q(sigma) gives an impulse response about a tenth too wide; keep its
            // form and scale q until the response's deviation is the one asked for.
            let q0 = if sigma >= 2.5 {
                0.98711 * sigma - 0.96330
            } else {
                3.97156 - 4.14554 * (1.0 - 0.26891 * sigma).sqrt()
            };
            let (mut lo, mut hi) = (0.3 * q0, 1.5 * q0);
            for _ in 0..40 {
                let mid = 0.5 * (lo + hi);
                if Filter::recursive(mid).deviation(sigma) < sigma { lo = mid } else { hi = mid }
            }
            Filter::recursive(0.5 * (lo + hi))
        } else {
            let r = (3.0 * sigma).ceil().max(1.0) as usize;
            let mut kernel: Vec<f32> =
                (0..=r).map(|x| (-((x * x) as f64) / (2.0 * sigma * sigma)).exp() as f32).collect();
            let sum: f32 = kernel[0] + 2.0 * kernel[1..].iter().sum::<f32>();
            kernel.iter_mut().for_each(|k| *k /= sum);
            Filter::Sampled { kernel }
        }
    }

    /// Young-van Vliet's filter for the parameter q.
    fn recursive(q: f64) -> Filter {
        let (q2, q3) = (q * q, q * q * q);
        let b0 = 1.57825 + 2.44413 * q + 1.4281 * q2 + 0.422205 * q3;
        let b1 = 2.44413 * q + 2.85619 * q2 + 1.26661 * q3;
        let b2 = -(1.4281 * q2 + 1.26661 * q3);
        let b3 = 0.422205 * q3;
        let b = 1.0 - (b1 + b2 + b3) / b0;
        Filter::Recursive { b: b as f32, a: [(b1 / b0) as f32, (b2 / b0) as f32, (b3 / b0) as f32] }
    }

    /// The standard deviation of the filter's response to an impulse, on a line long enough
    /// for a Gaussian of deviation `sigma`.
    fn deviation(&self, sigma: f64) -> f64 {
        let n = (16.0 * sigma) as usize + 21;
        let mut line = vec![0f32; n];
        line[n / 2] = 1.0;
        self.line(&mut line, &mut vec![0f32; n]);
        let sum: f64 = line.iter().map(|&w| w as f64).sum();
        let var: f64 = line.iter().enumerate().map(|(x, &w)| w as f64 * (x as f64 - (n / 2) as f64).powi(2)).sum();
        (var / sum).sqrt()
    }

    /// One contiguous line.
    fn line(&self, x: &mut [f32], tmp: &mut [f32]) {
        let n = x.len();
        match self {
            Filter::Recursive { b, a } => {
                let (mut w1, mut w2, mut w3) = (x[0], x[0], x[0]);
                for v in x.iter_mut() {
                    let w = b * *v + a[0] * w1 + a[1] * w2 + a[2] * w3;
                    (w3, w2, w1) = (w2, w1, w);
                    *v = w;
                }
                let last = x[n - 1];
                let (mut y1, mut y2, mut y3) = (last, last, last);
                for v in x.iter_mut().rev() {
                    let y = b * *v + a[0] * y1 + a[1] * y2 + a[2] * y3;
                    (y3, y2, y1) = (y2, y1, y);
                    *v = y;
                }
            }
            Filter::Sampled { kernel } => {
                for (i, t) in tmp[..n].iter_mut().enumerate() {
                    let mut s = kernel[0] * x[i];
                    for (d, &k) in kernel.iter().enumerate().skip(1) {
                        s += k * (x[i.saturating_sub(d)] + x[(i + d).min(n - 1)]);
                    }
                    *t = s;
                }
                x.copy_from_slice(&tmp[..n]);
            }
        }
    }

    /// Filters across a list of equally long rows: element `i` of every row forms one line.
    fn strided(&self, mut rows: Vec<&mut [f32]>) {
        let n = rows.len();
        if n < 2 {
            return;
        }
        let width = rows[0].len();
        match self {
            Filter::Recursive { b, a } => {
                let first = rows[0].to_vec();
                let (mut w1, mut w2, mut w3) = (first.clone(), first.clone(), first);
                for row in rows.iter_mut() {
                    for i in 0..width {
                        let w = b * row[i] + a[0] * w1[i] + a[1] * w2[i] + a[2] * w3[i];
                        w3[i] = w2[i];
                        w2[i] = w1[i];
                        w1[i] = w;
                        row[i] = w;
                    }
                }
                let last = rows[n - 1].to_vec();
                let (mut y1, mut y2, mut y3) = (last.clone(), last.clone(), last);
                for row in rows.iter_mut().rev() {
                    for i in 0..width {
                        let y = b * row[i] + a[0] * y1[i] + a[1] * y2[i] + a[2] * y3[i];
                        y3[i] = y2[i];
                        y2[i] = y1[i];
                        y1[i] = y;
                        row[i] = y;
                    }
                }
            }
            Filter::Sampled { kernel } => {
                let copy: Vec<Vec<f32>> = rows.iter().map(|r| r.to_vec()).collect();
                for (k, row) in rows.iter_mut().enumerate() {
                    for i in 0..width {
                        let mut s = kernel[0] * copy[k][i];
                        for (d, &w) in kernel.iter().enumerate().skip(1) {
                            s += w * (copy[k.saturating_sub(d)][i] + copy[(k + d).min(n - 1)][i]);
                        }
                        row[i] = s;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smoothed unit impulse is the Gaussian: its variance matches sigma² and its sum is 1.
    fn impulse_moments(sigma: f64, axis: usize) -> (f64, f64) {
        let dims = [41, 41, 41];
        let mut v = vec![0f32; 41 * 41 * 41];
        v[20 + 41 * (20 + 41 * 20)] = 1.0;
        let mut s = [0.0; 3];
        s[axis] = sigma;
        smooth(&mut v, dims, s);
        let (mut sum, mut var) = (0.0, 0.0);
        for x in 0..41 {
            let mut ijk = [20, 20, 20];
            ijk[axis] = x;
            let w = v[ijk[0] + 41 * (ijk[1] + 41 * ijk[2])] as f64;
            sum += w;
            var += w * (x as f64 - 20.0).powi(2);
        }
        (sum, (var / sum).sqrt())
    }

    #[test]
    fn every_axis_and_width_gives_the_asked_deviation() {
        for axis in 0..3 {
            for sigma in [0.6, 1.0, 1.7, 3.0, 4.5] {
                let (sum, sd) = impulse_moments(sigma, axis);
                assert!((sum - 1.0).abs() < 0.01, "axis {axis} sigma {sigma}: sum {sum}");
                assert!((sd - sigma).abs() < 0.03 * sigma, "axis {axis} sigma {sigma}: sd {sd}");
            }
        }
    }
}
