//! Gaussian smoothing of an f32 volume, one voxel axis at a time, with the width in voxels set
//! per axis (so a width in millimetres stays the same on anisotropic grids). Widths of a voxel and
//! more use Deriche's fourth-order recursive filter (as ITK does), whose cost does not grow with
//! the width; narrower ones a sampled kernel, where a recursive filter is inaccurate. Edges
//! repeat the border value.

use rayon::prelude::*;

/// Smooths `data` (i-fastest, `dims`) in place with standard deviations `sigma_vox` per axis.
pub fn smooth(data: &mut [f32], dims: [usize; 3], sigma_vox: [f64; 3]) {
    for (axis, &s) in sigma_vox.iter().enumerate() {
        if s > 0.0 && dims[axis] > 1 {
            along(data, dims, axis, s);
        }
    }
}

/// One axis. Every line is filtered with the lines beside it at once (whole rows), so that
/// memory is read in order and the arithmetic vectorises.
fn along(data: &mut [f32], dims: [usize; 3], axis: usize, sigma: f64) {
    let [nx, ny, _] = dims;
    let filter = Filter::new(sigma);
    match axis {
        // x: each slice is transposed, so that its columns become rows filtered side by side.
        0 => data.par_chunks_mut(nx * ny).for_each_init(
            || vec![0f32; nx * ny],
            |t, slice| {
                for j in 0..ny {
                    for i in 0..nx {
                        t[i * ny + j] = slice[j * nx + i];
                    }
                }
                filter.strided(t.chunks_mut(ny).collect());
                for j in 0..ny {
                    for i in 0..nx {
                        slice[j * nx + i] = t[i * ny + j];
                    }
                }
            },
        ),
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
    /// Deriche's causal (`n`) and anti-causal (`m`) input weights and their shared feedback `d`,
    /// scaled so the response sums to one.
    Recursive { n: [f32; 4], m: [f32; 4], d: [f32; 4] },
    /// A normalised sampled kernel of half-width `kernel.len() - 1`, centre first.
    Sampled { kernel: Vec<f32> },
}

impl Filter {
    fn new(sigma: f64) -> Filter {
        if sigma >= 1.0 {
            // Deriche's fit of the Gaussian by two damped cosines, scaled to the width.
            let (a0, a1, b0, b1, w0, w1, c0, c1) = (1.680, 3.735, 1.783, 1.723, 0.6318, 1.997, -0.6803, -0.2598);
            let (e0, e1) = ((-b0 / sigma).exp(), (-b1 / sigma).exp());
            let (cw0, sw0, cw1, sw1) = ((w0 / sigma).cos(), (w0 / sigma).sin(), (w1 / sigma).cos(), (w1 / sigma).sin());
            let n0 = a0 + c0;
            let n1 = e1 * (c1 * sw1 - (c0 + 2.0 * a0) * cw1) + e0 * (a1 * sw0 - (2.0 * c0 + a0) * cw0);
            let n2 =
                2.0 * e0 * e1 * ((a0 + c0) * cw1 * cw0 - a1 * cw1 * sw0 - c1 * cw0 * sw1) + c0 * e0 * e0 + a0 * e1 * e1;
            let n3 = e1 * e0 * e0 * (c1 * sw1 - c0 * cw1) + e0 * e1 * e1 * (a1 * sw0 - a0 * cw0);
            let d1 = -2.0 * e1 * cw1 - 2.0 * e0 * cw0;
            let d2 = 4.0 * cw1 * cw0 * e0 * e1 + e1 * e1 + e0 * e0;
            let d3 = -2.0 * cw0 * e0 * e1 * e1 - 2.0 * cw1 * e1 * e0 * e0;
            let d4 = e0 * e0 * e1 * e1;
            let n = [n0, n1, n2, n3];
            let d = [d1, d2, d3, d4];
            let m = [n1 - d1 * n0, n2 - d2 * n0, n3 - d3 * n0, -d4 * n0];
            let gain = (n.iter().sum::<f64>() + m.iter().sum::<f64>()) / (1.0 + d.iter().sum::<f64>());
            Filter::Recursive {
                n: n.map(|x| (x / gain) as f32),
                m: m.map(|x| (x / gain) as f32),
                d: d.map(|x| x as f32),
            }
        } else {
            let r = (4.0 * sigma).ceil().max(1.0) as usize;
            let mut kernel: Vec<f32> =
                (0..=r).map(|x| (-((x * x) as f64) / (2.0 * sigma * sigma)).exp() as f32).collect();
            let sum: f32 = kernel[0] + 2.0 * kernel[1..].iter().sum::<f32>();
            kernel.iter_mut().for_each(|k| *k /= sum);
            Filter::Sampled { kernel }
        }
    }

    /// Filters across a list of equally long rows: element `i` of every row forms one line.
    fn strided(&self, mut rows: Vec<&mut [f32]>) {
        let len = rows.len();
        if len < 2 {
            return;
        }
        let width = rows[0].len();
        match self {
            Filter::Recursive { n, m, d } => {
                let sum_d = 1.0 + d.iter().sum::<f32>();
                let (sum_n, sum_m) = (n.iter().sum::<f32>(), m.iter().sum::<f32>());
                // Anti-causal part first, from the untouched input; beyond the end the last row
                // continues, with the steady output it would give.
                let last: Vec<f32> = rows[len - 1].to_vec();
                let steady: Vec<f32> = last.iter().map(|v| v * sum_m / sum_d).collect();
                let mut anti = vec![0f32; len * width];
                for r in (0..len).rev() {
                    let (done, rest) = anti.split_at_mut((r + 1) * width);
                    let out = &mut done[r * width..];
                    let x = |k: usize| -> &[f32] { if r + k < len { &rows[r + k] } else { &last } };
                    let y =
                        |k: usize| -> &[f32] { if r + k < len { &rest[(k - 1) * width..k * width] } else { &steady } };
                    // Equal lengths up front, so the loop runs without bounds checks and vectorises.
                    let (x1, x2, x3, x4) = (&x(1)[..width], &x(2)[..width], &x(3)[..width], &x(4)[..width]);
                    let (y1, y2, y3, y4) = (&y(1)[..width], &y(2)[..width], &y(3)[..width], &y(4)[..width]);
                    let out = &mut out[..width];
                    for i in 0..width {
                        out[i] = m[0] * x1[i] + m[1] * x2[i] + m[2] * x3[i] + m[3] * x4[i]
                            - d[0] * y1[i]
                            - d[1] * y2[i]
                            - d[2] * y3[i]
                            - d[3] * y4[i];
                    }
                }
                // Causal part, with rings of the last inputs and outputs (slot r % 4), added to
                // the anti-causal part as each row is written.
                let first: Vec<f32> = rows[0].to_vec();
                let mut xs: Vec<Vec<f32>> = vec![first.clone(); 4];
                let mut ys: Vec<Vec<f32>> = vec![first.iter().map(|v| v * sum_n / sum_d).collect(); 4];
                for (r, row) in rows.iter_mut().enumerate() {
                    let slot = |k: usize| (r + 4 - k) % 4;
                    let (s1, s2, s3, s4) = (slot(1), slot(2), slot(3), slot(4));
                    let mut next = std::mem::take(&mut ys[s4]);
                    {
                        let (x0, x1, x2, x3) = (&row[..width], &xs[s1][..width], &xs[s2][..width], &xs[s3][..width]);
                        let (y1, y2, y3) = (&ys[s1][..width], &ys[s2][..width], &ys[s3][..width]);
                        let next = &mut next[..width];
                        for i in 0..width {
                            next[i] = n[0] * x0[i] + n[1] * x1[i] + n[2] * x2[i] + n[3] * x3[i]
                                - d[0] * y1[i]
                                - d[1] * y2[i]
                                - d[2] * y3[i]
                                - d[3] * next[i];
                        }
                    }
                    xs[s4].copy_from_slice(row);
                    let a = &anti[r * width..(r + 1) * width];
                    for ((o, y), a) in row.iter_mut().zip(&next).zip(a) {
                        *o = y + a;
                    }
                    ys[s4] = next;
                }
            }
            Filter::Sampled { kernel } => {
                let copy: Vec<Vec<f32>> = rows.iter().map(|r| r.to_vec()).collect();
                for (k, row) in rows.iter_mut().enumerate() {
                    for i in 0..width {
                        let mut s = kernel[0] * copy[k][i];
                        for (o, &w) in kernel.iter().enumerate().skip(1) {
                            s += w * (copy[k.saturating_sub(o)][i] + copy[(k + o).min(len - 1)][i]);
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
                assert!((sd - sigma).abs() < 0.02 * sigma, "axis {axis} sigma {sigma}: sd {sd}");
            }
        }
    }
}
