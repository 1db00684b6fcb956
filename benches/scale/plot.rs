//! The cost curve as an SVG: three panels against N (log scale): time (all Ready, its critical-path ideal, mass
//! rotation; log scale), Graph calls per integration, peak RSS. Hand-written SVG: no plotting dependency.

use std::fmt::Write;

/// One benchmark size.
pub struct Point {
    pub n: f64,
    pub ready_secs: f64,
    pub ideal_secs: f64,
    pub rotate_secs: f64,
    pub provision_calls: f64,
    pub rotate_calls: f64,
    pub rss_mib: f64,
}

struct Series<'a> {
    name: &'a str,
    colour: &'a str,
    dashed: bool,
    values: Vec<(f64, f64)>,
}

const W: f64 = 330.0;
const H: f64 = 240.0;
const PAD_L: f64 = 55.0;
const PAD_R: f64 = 25.0;
const PAD_T: f64 = 30.0;
const PAD_B: f64 = 75.0;
/// Characters per caption line.
const CAPTION_WIDTH: usize = 160;

pub fn svg(points: &[Point], caption: &str) -> String {
    let xs: Vec<f64> = points.iter().map(|p| p.n).collect();
    let series = |name, colour, dashed, f: fn(&Point) -> f64| Series {
        name,
        colour,
        dashed,
        values: points.iter().map(|p| (p.n, f(p))).collect(),
    };
    let panels = [
        (
            "Time (s, log)",
            true,
            vec![
                series("all Ready", "#1f77b4", false, |p| p.ready_secs),
                series("ideal (critical path)", "#1f77b4", true, |p| p.ideal_secs),
                series("mass rotation", "#d62728", false, |p| p.rotate_secs),
            ],
        ),
        (
            "Graph calls per integration",
            false,
            vec![
                series("provisioning", "#2ca02c", false, |p| p.provision_calls),
                series("rotation", "#9467bd", false, |p| p.rotate_calls),
            ],
        ),
        (
            "Peak RSS (MiB)",
            false,
            vec![series("operator", "#ff7f0e", false, |p| p.rss_mib)],
        ),
    ];
    let total_w = W * panels.len() as f64;
    let mut out = String::new();
    let lines = wrap(caption, CAPTION_WIDTH);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{}" font-family="sans-serif" font-size="11">"#,
        H + 8.0 + 14.0 * lines.len() as f64
    );
    out.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (i, line) in lines.iter().enumerate() {
        let _ = write!(
            out,
            r#"<text x="8" y="{}" fill="dimgray">{}</text>"#,
            H + 14.0 * (i as f64 + 1.0),
            escape(line)
        );
    }
    for (i, (title, log_y, series)) in panels.iter().enumerate() {
        panel(&mut out, i as f64 * W, title, *log_y, &xs, series);
    }
    out.push_str("</svg>\n");
    out
}

fn panel(out: &mut String, x0: f64, title: &str, log_y: bool, xs: &[f64], series: &[Series]) {
    let frame = Frame::new(x0, log_y, xs, series);
    axes(out, &frame, title, xs);
    for (i, s) in series.iter().enumerate() {
        line(out, &frame, i, s);
    }
}

/// One panel's plot area and its scales: data values to SVG coordinates.
struct Frame {
    x0: f64,
    log_y: bool,
    plot_w: f64,
    plot_h: f64,
    xmin: f64,
    xmax: f64,
    ymin: f64,
    ymax: f64,
}

fn lx(v: f64) -> f64 {
    v.max(1e-9).log10()
}

impl Frame {
    fn new(x0: f64, log_y: bool, xs: &[f64], series: &[Series]) -> Self {
        let (xmin, xmax) = bounds(xs.iter().map(|&x| lx(x)));
        let ys = series.iter().flat_map(|s| s.values.iter().map(|v| v.1));
        let (ymin, ymax) = if log_y {
            let (a, b) = bounds(ys.filter(|y| *y > 0.0).map(lx));
            (a.floor(), b.ceil().max(a.floor() + 1.0))
        } else {
            (0.0, nice_ceiling(bounds(ys).1 * 1.1))
        };
        let ymax = if ymax <= ymin { ymin + 1.0 } else { ymax };
        Self {
            x0,
            log_y,
            plot_w: W - PAD_L - PAD_R,
            plot_h: H - PAD_T - PAD_B,
            xmin,
            xmax,
            ymin,
            ymax,
        }
    }

    fn px(&self, x: f64) -> f64 {
        self.x0 + PAD_L + (lx(x) - self.xmin) / (self.xmax - self.xmin).max(1e-9) * self.plot_w
    }

    fn py(&self, y: f64) -> f64 {
        let v = if self.log_y { lx(y) } else { y };
        PAD_T + self.plot_h - (v - self.ymin) / (self.ymax - self.ymin) * self.plot_h
    }

    /// Where the y axis gets a label and a grid line: powers of ten (log), quarters (linear).
    fn y_ticks(&self) -> Vec<f64> {
        if self.log_y {
            (self.ymin as i32..=self.ymax as i32)
                .map(|e| 10f64.powi(e))
                .collect()
        } else {
            (0..=4).map(|i| self.ymax * f64::from(i) / 4.0).collect()
        }
    }
}

/// Title, frame, x labels at the measured sizes, y labels with grid lines.
fn axes(out: &mut String, f: &Frame, title: &str, xs: &[f64]) {
    let (x0, plot_w, plot_h) = (f.x0, f.plot_w, f.plot_h);
    let _ = write!(
        out,
        r#"<text x="{}" y="18" font-weight="bold">{}</text><rect x="{}" y="{PAD_T}" width="{plot_w}" height="{plot_h}" fill="none" stroke="darkgray"/>"#,
        x0 + PAD_L,
        escape(title),
        x0 + PAD_L
    );
    for &x in xs {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            f.px(x),
            PAD_T + plot_h + 14.0,
            x
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">N (integrations)</text>"#,
        x0 + PAD_L + plot_w / 2.0,
        PAD_T + plot_h + 28.0
    );
    for t in f.y_ticks() {
        let _ = write!(
            out,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text><line x1="{}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="gainsboro"/>"#,
            x0 + PAD_L - 4.0,
            f.py(t) + 4.0,
            short(t),
            x0 + PAD_L,
            x0 + PAD_L + plot_w,
            f.py(t),
            f.py(t)
        );
    }
}

/// The `i`-th series: its polyline, a dot per point, and its legend entry below the panel.
fn line(out: &mut String, f: &Frame, i: usize, s: &Series) {
    let path: Vec<String> = s
        .values
        .iter()
        .filter(|(_, y)| !f.log_y || *y > 0.0)
        .map(|&(x, y)| format!("{:.1},{:.1}", f.px(x), f.py(y)))
        .collect();
    let dash = if s.dashed {
        r#" stroke-dasharray="5,4""#
    } else {
        ""
    };
    let _ = write!(
        out,
        r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
        path.join(" "),
        s.colour
    );
    for p in &path {
        if let Some((x, y)) = p.split_once(',') {
            let _ = write!(
                out,
                r#"<circle cx="{x}" cy="{y}" r="3" fill="{}"/>"#,
                s.colour
            );
        }
    }
    let ly = PAD_T + f.plot_h + 42.0 + i as f64 * 12.0;
    let _ = write!(
        out,
        r#"<line x1="{}" x2="{}" y1="{ly}" y2="{ly}" stroke="{}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
        f.x0 + PAD_L,
        f.x0 + PAD_L + 20.0,
        s.colour,
        f.x0 + PAD_L + 25.0,
        ly + 4.0,
        escape(s.name)
    );
}

/// The smallest 1, 2 or 5 × 10^k at or above `v`, so that the axis ticks (quarters) read well.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 4.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
}

/// Words into lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last_mut().map_or(0, |l| l.len());
        if last > 0 && last + 1 + word.len() > width {
            lines.push(String::new());
        }
        if let Some(l) = lines.last_mut() {
            if !l.is_empty() {
                l.push(' ');
            }
            l.push_str(word);
        }
    }
    lines
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    })
}

fn short(v: f64) -> String {
    if v >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
