//! # pretrainlab-report
//!
//! Figures for pretrainlab, with no science in them: line, point, step and bar plots
//! with optional ±error bars, heatmaps, and several figures side by side as panels.
//!
//! Every figure is drawn once as SVG with [plotters] (its SVG backend, text measured
//! with an embedded DejaVu Sans font, so no system font library is needed) and then
//! rasterised to PNG by [resvg], a pure-Rust renderer, with the same embedded font.
//! Both files are written atomically (temporary file, then rename).
//!
//! Conventions:
//! - non-finite points are skipped, and so are non-positive ones on a log axis;
//! - a series with a non-empty label gets a legend entry (put a fit's R² in the label);
//! - `err` draws vertical bars from `y − err` to `y + err`.

pub mod fsio;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

/// The embedded font (DejaVu Sans, Bitstream Vera licence, see `assets/`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// The family name plotters writes into the SVG and resvg resolves to [`FONT`].
const FAMILY: &str = "sans-serif";
/// The font's own family name, as resvg's font database knows it.
const FONT_NAME: &str = "DejaVu Sans";

/// Drawing scale: every length below is multiplied by it. plotters rounds coordinates to
/// whole pixels, so drawing at twice the size keeps curves smooth in the PNG.
const K: u32 = 2;
/// Size in pixels of a single figure.
const FIGURE_SIZE: (u32, u32) = (820 * K, 560 * K);
/// Size in pixels of one panel of [`write_panels`].
const PANEL_SIZE: (u32, u32) = (560 * K, 460 * K);
/// PNG pixels per SVG pixel.
const PNG_SCALE: f32 = 1.0;

/// The ten colours of the "tab10" palette, in order.
const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Points joined by straight lines.
    Line,
    /// Filled circles.
    Points,
    /// A staircase: each value holds until the next x.
    Steps,
    /// Vertical bars centred on each x.
    Bars,
}

/// One data series of a [`Figure`].
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend entry; empty for none.
    pub label: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// Half-widths of vertical error bars, one per point.
    pub err: Option<Vec<f64>>,
    pub style: Style,
}

/// A figure: axes, labels and series.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
}

/// A heatmap of `values[row][col]`: columns along x, rows along y (row 0 at the bottom),
/// ticks labelled with the column and row indices, and a colour bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub values: Vec<Vec<f64>>,
}

/// Why a figure could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The input cannot be drawn (mismatched lengths, ragged heatmap rows, …).
    #[error("invalid figure: {0}")]
    Invalid(String),
    /// The SVG drawing or the PNG rasterisation failed.
    #[error("rendering failed: {0}")]
    Render(String),
    /// A file could not be written.
    #[error("cannot write {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

fn render_error<E: std::fmt::Debug>(e: E) -> PlotError {
    PlotError::Render(format!("{e:?}"))
}

/// Writes `<stem>.svg` and `<stem>.png`.
pub fn write_figure(fig: &Figure, stem: &Path) -> Result<(), PlotError> {
    let svg = figure_svg(fig)?;
    write_svg_and_png(&svg, stem)
}

/// Writes the heatmap as `<stem>.svg` and `<stem>.png`.
pub fn write_heatmap(map: &Heatmap, stem: &Path) -> Result<(), PlotError> {
    let svg = heatmap_svg(map)?;
    write_svg_and_png(&svg, stem)
}

/// Several figures side by side in one image (panels), e.g. a three-panel figure.
/// Writes `<stem>.svg` and `<stem>.png`.
pub fn write_panels(figs: &[Figure], stem: &Path) -> Result<(), PlotError> {
    let svg = panels_svg(figs)?;
    write_svg_and_png(&svg, stem)
}

/// The SVG text of a figure.
pub fn figure_svg(fig: &Figure) -> Result<String, PlotError> {
    validate(fig)?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, FIGURE_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(render_error)?;
        draw_figure(&root, fig)?;
        root.present().map_err(render_error)?;
    }
    Ok(out)
}

/// The SVG text of several figures side by side.
pub fn panels_svg(figs: &[Figure]) -> Result<String, PlotError> {
    if figs.is_empty() {
        return Err(PlotError::Invalid("no panels to draw".into()));
    }
    for fig in figs {
        validate(fig)?;
    }
    let size = (PANEL_SIZE.0 * figs.len() as u32, PANEL_SIZE.1);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE).map_err(render_error)?;
        for (area, fig) in root.split_evenly((1, figs.len())).iter().zip(figs) {
            draw_figure(area, fig)?;
        }
        root.present().map_err(render_error)?;
    }
    Ok(out)
}

/// The SVG text of a heatmap, with a colour bar on the right.
pub fn heatmap_svg(map: &Heatmap) -> Result<String, PlotError> {
    register_font()?;
    let rows = map.values.len();
    let cols = map.values.first().map_or(0, Vec::len);
    if rows == 0 || cols == 0 {
        return Err(PlotError::Invalid(format!(
            "heatmap `{}` has no values",
            map.title
        )));
    }
    if let Some((r, row)) = map.values.iter().enumerate().find(|(_, r)| r.len() != cols) {
        return Err(PlotError::Invalid(format!(
            "heatmap `{}`: row {r} has {} values, row 0 has {cols}",
            map.title,
            row.len()
        )));
    }
    let finite: Vec<f64> = map
        .values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = match (
        finite.iter().copied().reduce(f64::min),
        finite.iter().copied().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) if hi > lo => (lo, hi),
        (Some(lo), Some(_)) => (lo - 0.5, lo + 0.5),
        _ => (0.0, 1.0),
    };
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, FIGURE_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(render_error)?;
        let (main, bar) = root.split_horizontally(FIGURE_SIZE.0 - 120 * K);
        let mut chart = ChartBuilder::on(&main)
            .caption(&map.title, (FAMILY, 22 * K))
            .margin(12 * K)
            .x_label_area_size(50 * K)
            .y_label_area_size(64 * K)
            .build_cartesian_2d(
                // Integer ranges are inclusive: `0..k - 1` has k segments.
                (0..cols as i32 - 1).into_segmented(),
                (0..rows as i32 - 1).into_segmented(),
            )
            .map_err(render_error)?;
        let index = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) => i.to_string(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(&map.x_label)
            .y_desc(&map.y_label)
            .label_style((FAMILY, 14 * K))
            .axis_desc_style((FAMILY, 16 * K))
            .x_labels(cols.min(20))
            .y_labels(rows.min(20))
            .x_label_formatter(&index)
            .y_label_formatter(&index)
            .draw()
            .map_err(render_error)?;
        let cells = map.values.iter().enumerate().flat_map(|(r, row)| {
            row.iter().enumerate().map(move |(c, &v)| {
                let color = if v.is_finite() {
                    viridis((v - lo) / (hi - lo))
                } else {
                    RGBColor(220, 220, 220)
                };
                let (c, r) = (c as i32, r as i32);
                Rectangle::new(
                    [
                        (SegmentValue::Exact(c), SegmentValue::Exact(r)),
                        (SegmentValue::Exact(c + 1), SegmentValue::Exact(r + 1)),
                    ],
                    color.filled(),
                )
            })
        });
        chart.draw_series(cells).map_err(render_error)?;

        let mut scale = ChartBuilder::on(&bar)
            .margin_top(48 * K)
            .margin_bottom(62 * K)
            .margin_right(10 * K)
            .y_label_area_size(70 * K)
            .build_cartesian_2d(0f64..1.0, lo..hi)
            .map_err(render_error)?;
        scale
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .label_style((FAMILY, 13 * K))
            .y_label_formatter(&|v| format_number(*v))
            .draw()
            .map_err(render_error)?;
        let steps = 100;
        scale
            .draw_series((0..steps).map(|i| {
                let a = lo + (hi - lo) * i as f64 / steps as f64;
                let b = lo + (hi - lo) * (i + 1) as f64 / steps as f64;
                Rectangle::new(
                    [(0.0, a), (1.0, b)],
                    viridis((i as f64 + 0.5) / steps as f64).filled(),
                )
            }))
            .map_err(render_error)?;
        root.present().map_err(render_error)?;
    }
    Ok(out)
}

/// Rasterises SVG text to PNG bytes with the embedded font.
pub fn svg_to_png(svg: &str) -> Result<Vec<u8>, PlotError> {
    use resvg::{tiny_skia, usvg};
    let mut opt = usvg::Options {
        font_family: FONT_NAME.to_string(),
        ..usvg::Options::default()
    };
    {
        let db = opt.fontdb_mut();
        db.load_font_data(FONT.to_vec());
        db.set_sans_serif_family(FONT_NAME);
    }
    let tree = usvg::Tree::from_str(svg, &opt).map_err(render_error)?;
    let size = tree.size();
    let width = (size.width() * PNG_SCALE).ceil() as u32;
    let height = (size.height() * PNG_SCALE).ceil() as u32;
    let mut pixmap = tiny_skia::Pixmap::new(width, height)
        .ok_or_else(|| PlotError::Render(format!("cannot allocate a {width}×{height} image")))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(PNG_SCALE, PNG_SCALE),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(render_error)
}

/// Writes `<stem>.svg` and `<stem>.png` from SVG text.
pub fn write_svg_and_png(svg: &str, stem: &Path) -> Result<(), PlotError> {
    let png = svg_to_png(svg)?;
    atomic_write(&with_suffix(stem, ".svg"), svg.as_bytes())?;
    atomic_write(&with_suffix(stem, ".png"), &png)
}

/// `stem` with `suffix` appended (not replacing anything after a dot in the stem).
fn with_suffix(stem: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = stem.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    fsio::atomic_write(path, bytes).map_err(|error| PlotError::Io {
        path: path.to_path_buf(),
        error,
    })
}

fn register_font() -> Result<(), PlotError> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .map_err(|_| "the embedded font could not be loaded".to_string())
    })
    .clone()
    .map_err(PlotError::Render)
}

fn validate(fig: &Figure) -> Result<(), PlotError> {
    for s in &fig.series {
        if s.x.len() != s.y.len() {
            return Err(PlotError::Invalid(format!(
                "series `{}` has {} x values and {} y values",
                s.label,
                s.x.len(),
                s.y.len()
            )));
        }
        let bars = s.err.as_ref().map_or(s.y.len(), Vec::len);
        if bars != s.y.len() {
            return Err(PlotError::Invalid(format!(
                "series `{}` has {} error bars for {} points",
                s.label,
                bars,
                s.y.len()
            )));
        }
    }
    Ok(())
}

/// The points of a series that can be drawn on the figure's axes, with their error.
fn drawable(fig: &Figure, s: &Series) -> Vec<(f64, f64, f64)> {
    let ok_x = |x: f64| x.is_finite() && (!fig.log_x || x > 0.0);
    let ok_y = |y: f64| y.is_finite() && (!fig.log_y || y > 0.0);
    (0..s.x.len())
        .filter(|&i| ok_x(s.x[i]) && ok_y(s.y[i]))
        .map(|i| {
            let e = s.err.as_ref().map_or(0.0, |e| e[i].abs());
            (s.x[i], s.y[i], if e.is_finite() { e } else { 0.0 })
        })
        .collect()
}

/// An axis range covering `values`, padded; on a log axis only positive values count.
fn axis_range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return if log { (1.0, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        let (l, h) = (lo.log10(), hi.log10());
        let (l, h) = if h - l < 1e-9 {
            (l - 0.5, h + 0.5)
        } else {
            (l, h)
        };
        let pad = (h - l) * 0.04;
        (10f64.powf(l - pad), 10f64.powf(h + pad))
    } else {
        let (l, h) = if hi - lo <= 1e-12 * (1.0 + lo.abs().max(hi.abs())) {
            let w = 0.5 * lo.abs().max(1e-3);
            (lo - w, hi + w)
        } else {
            (lo, hi)
        };
        let pad = (h - l) * 0.05;
        (l - pad, h + pad)
    }
}

/// The corner whose legend-sized region (45% wide, 30% high) holds the fewest points,
/// preferring upper right, then upper left, lower right, lower left; with that count.
fn quietest_corner(
    points: &[Vec<(f64, f64, f64)>],
    (x0, x1, log_x): (f64, f64, bool),
    (y0, y1, log_y): (f64, f64, bool),
) -> (SeriesLabelPosition, usize) {
    let unit = |v: f64, lo: f64, hi: f64, log: bool| {
        if log {
            (v.log10() - lo.log10()) / (hi.log10() - lo.log10())
        } else {
            (v - lo) / (hi - lo)
        }
    };
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let count = |right: bool, upper: bool| {
        points
            .iter()
            .flatten()
            .filter(|p| {
                let u = unit(p.0, x0, x1, log_x);
                let v = unit(p.1, y0, y1, log_y);
                (if right { u >= 0.55 } else { u <= 0.45 })
                    && (if upper { v >= 0.7 } else { v <= 0.3 })
            })
            .count()
    };
    let mut best = (usize::MAX, SeriesLabelPosition::UpperRight);
    for (pos, right, upper) in corners {
        let c = count(right, upper);
        if c < best.0 {
            best = (c, pos);
        }
    }
    (best.1, best.0)
}

/// Ticks of a log axis on `[lo, hi]`: 1-2-5 per decade, or 1…9 when the range is short,
/// or powers of ten (thinned) when it is long.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let within = |mantissas: &[f64]| -> Vec<f64> {
        let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        (a..=b)
            .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
            .filter(|&v| v >= lo * (1.0 - 1e-12) && v <= hi * (1.0 + 1e-12))
            .collect()
    };
    let ticks = within(&[1.0, 2.0, 5.0]);
    if ticks.len() < 3 {
        return within(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    }
    if ticks.len() <= 10 {
        return ticks;
    }
    let decades = within(&[1.0]);
    let step = decades.len().div_ceil(8).max(1);
    decades.into_iter().step_by(step).collect()
}

/// A compact tick label: plain decimals for moderate magnitudes, scientific otherwise.
pub fn format_number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { format!("{v}") };
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.1e}");
        return s.replace(".0e", "e");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// The viridis colour map at `t ∈ [0, 1]`, interpolated between nine anchors.
fn viridis(t: f64) -> RGBColor {
    const ANCHORS: [(f64, f64, f64); 9] = [
        (68.0, 1.0, 84.0),
        (71.0, 44.0, 122.0),
        (59.0, 81.0, 139.0),
        (44.0, 113.0, 142.0),
        (33.0, 144.0, 141.0),
        (39.0, 173.0, 129.0),
        (92.0, 200.0, 99.0),
        (170.0, 220.0, 50.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (ANCHORS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(ANCHORS.len() - 2);
    let f = pos - i as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    let (a, b) = (ANCHORS[i], ANCHORS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Draws one figure into `area` (the whole image or one panel).
fn draw_figure(area: &DrawingArea<SVGBackend<'_>, Shift>, fig: &Figure) -> Result<(), PlotError> {
    register_font()?;
    let points: Vec<Vec<(f64, f64, f64)>> = fig.series.iter().map(|s| drawable(fig, s)).collect();
    let has_bars = fig.series.iter().any(|s| s.style == Style::Bars);
    // Half-width of bars: 40% of the smallest gap between distinct x (log units on a log axis).
    let bar_half = {
        let mut xs: Vec<f64> = points
            .iter()
            .zip(&fig.series)
            .filter(|(_, s)| s.style == Style::Bars)
            .flat_map(|(p, _)| p.iter().map(|q| if fig.log_x { q.0.log10() } else { q.0 }))
            .collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let gap = xs
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::INFINITY, f64::min);
        if gap.is_finite() {
            0.4 * gap
        } else if fig.log_x {
            0.1
        } else {
            0.4 * xs.first().map_or(1.0, |x| x.abs().max(1.0))
        }
    };
    let bar_edges = |x: f64| -> [f64; 2] {
        if fig.log_x {
            [
                10f64.powf(x.log10() - bar_half),
                10f64.powf(x.log10() + bar_half),
            ]
        } else {
            [x - bar_half, x + bar_half]
        }
    };
    let (x0, x1) = axis_range(
        points.iter().zip(&fig.series).flat_map(|(p, s)| {
            p.iter().flat_map(move |q| {
                if s.style == Style::Bars {
                    let [a, b] = bar_edges(q.0);
                    [a, b]
                } else {
                    [q.0, q.0]
                }
            })
        }),
        fig.log_x,
    );
    let zero = (has_bars && !fig.log_y).then_some(0.0);
    let (y0, y1) = axis_range(
        points
            .iter()
            .flatten()
            .flat_map(|&(_, y, e)| [y - e, y, y + e])
            .chain(zero),
        fig.log_y,
    );
    // The legend goes into an empty corner; when every corner has data, the y axis grows
    // upwards to make room for it above the data.
    let entries = fig.series.iter().filter(|s| !s.label.is_empty()).count();
    let (mut legend_corner, crowded) =
        quietest_corner(&points, (x0, x1, fig.log_x), (y0, y1, fig.log_y));
    let (y0, y1) = if crowded > 0 && entries > 0 {
        legend_corner = SeriesLabelPosition::UpperRight;
        let f = (0.06 + 0.055 * entries as f64).min(0.6);
        if fig.log_y {
            let (l, h) = (y0.log10(), y1.log10());
            (y0, 10f64.powf(l + (h - l) / (1.0 - f)))
        } else {
            (y0, y0 + (y1 - y0) / (1.0 - f))
        }
    } else {
        (y0, y1)
    };
    macro_rules! draw_on {
        ($xr:expr, $yr:expr) => {{
            let mut chart = ChartBuilder::on(area)
                .caption(&fig.title, (FAMILY, 20 * K))
                .margin(14 * K)
                .x_label_area_size(50 * K)
                .y_label_area_size(78 * K)
                .build_cartesian_2d($xr, $yr)
                .map_err(render_error)?;
            chart
                .configure_mesh()
                .x_desc(&fig.x_label)
                .y_desc(&fig.y_label)
                .label_style((FAMILY, 14 * K))
                .axis_desc_style((FAMILY, 16 * K))
                .light_line_style(RGBColor(240, 240, 240))
                .bold_line_style(RGBColor(215, 215, 215))
                .x_label_formatter(&|v| format_number(*v))
                .y_label_formatter(&|v| format_number(*v))
                .draw()
                .map_err(render_error)?;
            let mut any_label = false;
            for (i, (s, pts)) in fig.series.iter().zip(&points).enumerate() {
                let c = color(i);
                let anno = match s.style {
                    Style::Line => chart
                        .draw_series(LineSeries::new(
                            pts.iter().map(|p| (p.0, p.1)),
                            c.stroke_width(2 * K),
                        ))
                        .map_err(render_error)?,
                    Style::Points => chart
                        .draw_series(
                            pts.iter()
                                .map(|p| Circle::new((p.0, p.1), 4 * K as i32, c.filled())),
                        )
                        .map_err(render_error)?,
                    Style::Steps => {
                        let mut stair = Vec::with_capacity(2 * pts.len());
                        for (j, p) in pts.iter().enumerate() {
                            if j > 0 {
                                stair.push((p.0, pts[j - 1].1));
                            }
                            stair.push((p.0, p.1));
                        }
                        chart
                            .draw_series(LineSeries::new(stair, c.stroke_width(2 * K)))
                            .map_err(render_error)?
                    }
                    Style::Bars => {
                        let base = if fig.log_y { y0 } else { 0f64.clamp(y0, y1) };
                        chart
                            .draw_series(pts.iter().map(|p| {
                                let [a, b] = bar_edges(p.0);
                                Rectangle::new([(a, base), (b, p.1)], c.mix(0.75).filled())
                            }))
                            .map_err(render_error)?
                    }
                };
                if !s.label.is_empty() {
                    any_label = true;
                    let style = s.style;
                    anno.label(s.label.as_str()).legend(move |(x, y)| {
                        let el: DynElement<'static, SVGBackend<'_>, (i32, i32)> = match style {
                            Style::Points => {
                                Circle::new((x + 10 * K as i32, y), 4 * K as i32, c.filled())
                                    .into_dyn()
                            }
                            Style::Bars => Rectangle::new(
                                [
                                    (x + 3 * K as i32, y - 5 * K as i32),
                                    (x + 17 * K as i32, y + 5 * K as i32),
                                ],
                                c.filled(),
                            )
                            .into_dyn(),
                            Style::Line | Style::Steps => PathElement::new(
                                vec![(x, y), (x + 20 * K as i32, y)],
                                c.stroke_width(2 * K),
                            )
                            .into_dyn(),
                        };
                        el
                    });
                }
                if s.err.is_some() {
                    chart
                        .draw_series(pts.iter().filter(|p| p.2 > 0.0).map(|p| {
                            let low = if fig.log_y {
                                (p.1 - p.2).max(y0)
                            } else {
                                p.1 - p.2
                            };
                            ErrorBar::new_vertical(
                                p.0,
                                low,
                                p.1,
                                p.1 + p.2,
                                c.stroke_width(K),
                                8 * K,
                            )
                        }))
                        .map_err(render_error)?;
                }
            }
            if any_label {
                chart
                    .configure_series_labels()
                    .label_font((FAMILY, 14 * K))
                    .legend_area_size(30 * K)
                    .margin(10 * K)
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(180, 180, 180))
                    .position(legend_corner)
                    .draw()
                    .map_err(render_error)?;
            }
        }};
    }
    match (fig.log_x, fig.log_y) {
        (false, false) => draw_on!(x0..x1, y0..y1),
        (true, false) => draw_on!(
            (x0..x1).log_scale().with_key_points(log_ticks(x0, x1)),
            y0..y1
        ),
        (false, true) => draw_on!(
            x0..x1,
            (y0..y1).log_scale().with_key_points(log_ticks(y0, y1))
        ),
        (true, true) => draw_on!(
            (x0..x1).log_scale().with_key_points(log_ticks(x0, x1)),
            (y0..y1).log_scale().with_key_points(log_ticks(y0, y1))
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(log: bool) -> Figure {
        let x: Vec<f64> = (1..=12).map(|i| 0.25 * 1.5f64.powi(i)).collect();
        let theory: Vec<f64> = x.iter().map(|a| 2.0 + 3.0 / a).collect();
        let sim: Vec<f64> = theory.iter().map(|t| t * 1.02).collect();
        Figure {
            title: "E‖L(Z)‖² against α = m/n".into(),
            x_label: "α = m/n".into(),
            y_label: "n(R − σ²)".into(),
            log_x: log,
            log_y: log,
            series: vec![
                Series {
                    label: "theory".into(),
                    x: x.clone(),
                    y: theory,
                    err: None,
                    style: Style::Line,
                },
                Series {
                    label: "simulated ±2 s.e. (R² = 0.998)".into(),
                    x: x.clone(),
                    y: sim,
                    err: Some(vec![0.1; 12]),
                    style: Style::Points,
                },
                Series {
                    label: "steps".into(),
                    x: x.clone(),
                    y: x.iter().map(|a| 1.0 + 1.0 / a).collect(),
                    err: None,
                    style: Style::Steps,
                },
                Series {
                    label: String::new(),
                    x: vec![f64::NAN, 1.0],
                    y: vec![1.0, f64::INFINITY],
                    err: None,
                    style: Style::Points,
                },
            ],
        }
    }

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pretrainlab-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn assert_png(path: &Path) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(
            &bytes[..8],
            b"\x89PNG\r\n\x1a\n",
            "{} is a PNG",
            path.display()
        );
        assert!(bytes.len() > 5_000, "{} has content", path.display());
    }

    #[test]
    fn figures_render_to_svg_and_png() {
        for log in [false, true] {
            let stem = tmp(&format!("figure-log{log}"));
            write_figure(&demo(log), &stem).unwrap();
            let svg = std::fs::read_to_string(with_suffix(&stem, ".svg")).unwrap();
            assert!(svg.starts_with("<svg"));
            assert!(svg.contains("α = m/n"));
            assert!(svg.contains("R² = 0.998"));
            assert_png(&with_suffix(&stem, ".png"));
        }
    }

    #[test]
    fn bars_heatmap_and_panels_render() {
        let bars = Figure {
            title: "bars".into(),
            x_label: "x".into(),
            y_label: "count".into(),
            log_x: false,
            log_y: false,
            series: vec![Series {
                label: "histogram".into(),
                x: vec![1.0, 2.0, 3.0, 4.0],
                y: vec![3.0, 5.0, 2.0, 1.0],
                err: None,
                style: Style::Bars,
            }],
        };
        let stem = tmp("panels");
        write_panels(&[demo(false), bars, demo(true)], &stem).unwrap();
        assert_png(&with_suffix(&stem, ".png"));

        let map = Heatmap {
            title: "KS distance".into(),
            x_label: "column".into(),
            y_label: "row".into(),
            values: (0..6)
                .map(|r| (0..8).map(|c| (r * c) as f64).collect())
                .collect(),
        };
        let stem = tmp("heatmap");
        write_heatmap(&map, &stem).unwrap();
        assert_png(&with_suffix(&stem, ".png"));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut fig = demo(false);
        fig.series[0].y.pop();
        assert!(matches!(figure_svg(&fig), Err(PlotError::Invalid(_))));
        let ragged = Heatmap {
            title: "t".into(),
            x_label: String::new(),
            y_label: String::new(),
            values: vec![vec![1.0, 2.0], vec![1.0]],
        };
        assert!(matches!(heatmap_svg(&ragged), Err(PlotError::Invalid(_))));
        assert!(panels_svg(&[]).is_err());
        let empty = Figure {
            series: vec![],
            ..demo(true)
        };
        assert!(figure_svg(&empty).is_ok());
    }

    #[test]
    fn log_ticks_are_readable() {
        assert_eq!(log_ticks(0.2, 19.0), vec![0.2, 0.5, 1.0, 2.0, 5.0, 10.0]);
        assert_eq!(log_ticks(3.5, 9.5).len(), 6);
        assert!(log_ticks(1e-10, 1e10).len() <= 10);
    }

    #[test]
    fn tick_labels_are_compact() {
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(2.5), "2.5");
        assert_eq!(format_number(1000.0), "1000");
        assert_eq!(format_number(1e6), "1e6");
        assert_eq!(format_number(0.0125), "0.0125");
    }
}
