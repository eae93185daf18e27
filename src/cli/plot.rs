//! Charts as PNG (or JPEG, BMP) images: plotters with a bundled font, so nothing depends on
//! system font libraries.

use minitorch::checkpoint;
use minitorch::datasets::{Dataset, Graph};
use minitorch::error::{Error, Result};
use minitorch::train::{EpochReport, Model};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Registers the bundled DejaVu Sans as plotters' "sans-serif" (once per process).
pub(crate) fn register_font() {
    REGISTER.call_once(|| {
        // The font is compiled in and known to parse; a failure would only lose text labels.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// The image formats a plot can be written in, chosen by the file name's extension (any case).
pub const FORMATS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// ".png, .jpg, .jpeg or .bmp".
fn extensions() -> String {
    let dotted: Vec<String> = FORMATS.iter().map(|f| format!(".{f}")).collect();
    let (last, rest) = dotted.split_last().expect("formats");
    format!("{} or {last}", rest.join(", "))
}

/// Checks that a plot can be written at `path`: its extension names a supported format
/// ([`FORMATS`]), and the checks of [`checkpoint::check_target`] pass (the directory exists and
/// is writable, the target is absent or a regular file, and writable since plots are written in
/// place). Every plotting function runs it first; callers with long work before a plot run it
/// before that work. The error names `path`.
pub fn check_path(path: &Path) -> Result<()> {
    let file_error = |message: String| Error::File {
        path: path.display().to_string(),
        message,
    };
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if FORMATS.iter().any(|f| f.eq_ignore_ascii_case(ext)) => {}
        Some(ext) => {
            return Err(file_error(format!(
                "unsupported image format {ext:?}; the file name must end in {}",
                extensions()
            )));
        }
        None => {
            return Err(file_error(format!(
                "no file extension to choose the image format; the file name must end in {}",
                extensions()
            )));
        }
    }
    checkpoint::check_target(path)?;
    #[cfg(unix)]
    if path.exists() {
        use std::os::unix::ffi::OsStrExt;
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| file_error("the path contains a NUL byte".into()))?;
        // SAFETY: access only reads the NUL-terminated path.
        if unsafe { libc::access(c_path.as_ptr(), libc::W_OK) } != 0 {
            return Err(file_error(format!(
                "cannot write: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

/// Maps a drawing error to the library's error, naming the output file.
///
/// plotters' bitmap backend prints its errors as Debug dumps
/// (`ImageError(IoError(Os { code: 28, … }))`), and its error types cannot be matched without
/// depending on plotters' backend crates; so the OS error code is read back out of the dump,
/// which turns the common failures (no space, no permission) into the system's message.
pub(crate) fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    let text = e.to_string();
    let os_code = text.find("code: ").and_then(|at| {
        let digits: String = text[at + 6..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse::<i32>().ok()
    });
    let message = if let Some(code) = os_code {
        format!("cannot write: {}", std::io::Error::from_raw_os_error(code))
    } else if text.contains("Unsupported") {
        format!(
            "unsupported image format; the file name must end in {}",
            extensions()
        )
    } else {
        format!("cannot draw the image: {text}")
    };
    Error::File {
        path: path.display().to_string(),
        message,
    }
}

/// One line of a chart: a name and (x, y) points.
pub struct Series {
    /// Legend name.
    pub name: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// A line chart with logarithmic axes (the timing graph of the course), written as PNG.
pub fn log_line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    check_path(path)?;
    register_font();
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .collect();
    if all.is_empty() {
        return Err(Error::Invalid {
            what: "plot",
            message: "no data to plot".into(),
        });
    }
    let (x_min, x_max) = all.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    let (y_min, y_max) = all.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let root = BitMapBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 26))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (x_min * 0.9..x_max * 1.1).log_scale(),
            (y_min * 0.5..y_max * 2.0).log_scale(),
        )
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:e}"))
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(|e| plot_error(path, e))?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(s.points.clone(), color.stroke_width(3)))
            .map_err(|e| plot_error(path, e))?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        chart
            .draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(|e| plot_error(path, e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 18))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| plot_error(path, e))?;
    root.present().map_err(|e| plot_error(path, e))?;
    Ok(())
}

/// Class 0 and class 1 colours (the original course app's).
const CLASS: [RGBColor; 2] = [RGBColor(0x69, 0xba, 0xc9), RGBColor(0xea, 0x84, 0x84)];

fn blend(p: f64) -> RGBColor {
    let p = p.clamp(0.0, 1.0);
    let mix = |a: u8, b: u8| (f64::from(a) * (1.0 - p) + f64::from(b) * p).round() as u8;
    RGBColor(
        mix(CLASS[0].0, CLASS[1].0),
        mix(CLASS[0].1, CLASS[1].1),
        mix(CLASS[0].2, CLASS[1].2),
    )
}

fn scatter_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    data: &Graph,
    heat: Option<(&[f64], usize)>,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .label_style(("sans-serif", 14))
        .draw()?;
    if let Some((probs, g)) = heat {
        let step = 1.0 / g as f64;
        chart.draw_series((0..g * g).map(|c| {
            let (ix, iy) = (c % g, c / g);
            let (x, y) = (ix as f64 * step, iy as f64 * step);
            Rectangle::new(
                [(x, y), (x + step, y + step)],
                blend(probs[c]).mix(0.55).filled(),
            )
        }))?;
    }
    chart.draw_series(data.x.iter().zip(&data.y).map(|(&[x1, x2], &y)| {
        let color = CLASS[usize::from(y == 1.0)];
        EmptyElement::at((x1, x2))
            + Circle::new((0, 0), 5, color.filled())
            + Circle::new((0, 0), 5, BLACK.stroke_width(1))
    }))?;
    Ok(())
}

/// The decision boundary (class-1 probability as a heat map, points coloured by label) beside
/// the loss and accuracy curves per epoch, as one PNG of 1400×600.
pub fn training_plot(
    path: &Path,
    title: &str,
    data: &Graph,
    model: &Model,
    history: &[EpochReport],
) -> Result<()> {
    check_path(path)?;
    register_font();
    const G: usize = 80;
    let cells: Vec<[f64; 2]> = (0..G * G)
        .map(|c| {
            [
                ((c % G) as f64 + 0.5) / G as f64,
                ((c / G) as f64 + 0.5) / G as f64,
            ]
        })
        .collect();
    let probs = model.predict(&cells)?;
    let root = BitMapBackend::new(path, (1400, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let (left, right) = root.split_horizontally(600);
    scatter_panel(&left, title, data, Some((&probs, G))).map_err(|e| plot_error(path, e))?;
    let (top, bottom) = right.split_vertically(300);
    let epochs = history.len().max(1) as f64;
    let losses: Vec<(f64, f64)> = history.iter().map(|r| (r.epoch as f64, r.loss)).collect();
    let accuracy: Vec<(f64, f64)> = history
        .iter()
        .map(|r| (r.epoch as f64, r.correct as f64 / data.n as f64))
        .collect();
    let max_loss = losses.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9) * 1.05;
    let curve = |area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
                 caption: &str,
                 points: Vec<(f64, f64)>,
                 y_max: f64,
                 color: RGBColor|
     -> Result<()> {
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(55)
            .build_cartesian_2d(1.0..epochs.max(2.0), 0.0..y_max)
            .map_err(|e| plot_error(path, e))?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 14))
            .x_desc("epoch")
            .draw()
            .map_err(|e| plot_error(path, e))?;
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| plot_error(path, e))?;
        Ok(())
    };
    curve(&top, "loss (total per epoch)", losses, max_loss, COLORS[0])?;
    curve(&bottom, "accuracy", accuracy, 1.05, COLORS[2])?;
    root.present().map_err(|e| plot_error(path, e))?;
    Ok(())
}

/// All six datasets side by side (1200×800 PNG).
pub fn datasets_plot(path: &Path, pts: usize, seed: u64) -> Result<()> {
    check_path(path)?;
    register_font();
    let root = BitMapBackend::new(path, (1200, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    for (area, ds) in root.split_evenly((2, 3)).iter().zip(Dataset::ALL) {
        scatter_panel(area, ds.name(), &ds.generate(pts, seed), None)
            .map_err(|e| plot_error(path, e))?;
    }
    root.present().map_err(|e| plot_error(path, e))?;
    Ok(())
}

/// MNIST training curves (loss, validation accuracy per epoch) beside the validation
/// confusion matrix (rows: true digit, columns: predicted), written as an image.
pub fn mnist_plot(
    path: &Path,
    history: &[(usize, f64, f64, f64)],
    confusion: &[[usize; 10]; 10],
) -> Result<()> {
    check_path(path)?;
    register_font();
    let root = BitMapBackend::new(path, (1300, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let (left, right) = root.split_horizontally(700);
    let (top, bottom) = left.split_vertically(300);
    let epochs = history.len().max(2) as f64;
    let panels = [
        (
            &top,
            "training loss per batch",
            history
                .iter()
                .map(|h| (h.0 as f64, h.1))
                .collect::<Vec<_>>(),
            COLORS[0],
        ),
        (
            &bottom,
            "validation accuracy (%)",
            history.iter().map(|h| (h.0 as f64, h.2)).collect(),
            COLORS[1],
        ),
    ];
    for (area, caption, points, color) in panels {
        let y_max = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9) * 1.05;
        let mut chart = epoch_chart(path, area, caption, epochs, y_max)?;
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| plot_error(path, e))?;
    }
    let mut chart = ChartBuilder::on(&right)
        .caption(
            "validation confusion (true ↓, predicted →)",
            ("sans-serif", 20),
        )
        .margin(20)
        .x_label_area_size(30)
        .y_label_area_size(30)
        .build_cartesian_2d(-0.5f64..9.5, -0.5f64..9.5)
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .label_style(("sans-serif", 14))
        .x_labels(10)
        .y_labels(10)
        .x_label_formatter(&|x| format!("{x:.0}"))
        // Row t (true digit t) is drawn at height 9 − t, so digit 0 is at the top.
        .y_label_formatter(&|y| format!("{:.0}", 9.0 - y))
        .draw()
        .map_err(|e| plot_error(path, e))?;
    let most = confusion
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    for (t, row) in confusion.iter().enumerate() {
        for (p, &n) in row.iter().enumerate() {
            let shade = 255 - (200.0 * (n as f64 / most).sqrt()) as u8;
            let (x, y) = (p as f64, 9.0 - t as f64);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                    RGBColor(shade, shade, 255).filled(),
                )))
                .map_err(|e| plot_error(path, e))?;
            if n > 0 {
                chart
                    .draw_series(std::iter::once(Text::new(
                        n.to_string(),
                        (x - 0.3, y + 0.2),
                        ("sans-serif", 16).into_font(),
                    )))
                    .map_err(|e| plot_error(path, e))?;
            }
        }
    }
    root.present().map_err(|e| plot_error(path, e))?;
    Ok(())
}

/// One epoch of `minitorch sentiment`'s log.
pub struct SentimentRecord {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Mean training loss per batch.
    pub loss: f64,
    /// Training accuracy in percent (dropout on).
    pub train: f64,
    /// Validation accuracy in percent.
    pub valid: f64,
    /// Seconds of training steps.
    pub seconds: f64,
}

/// The mean loss per batch, and the training and validation accuracy, per epoch (1000×700).
pub fn sentiment_plot(path: &Path, history: &[SentimentRecord]) -> Result<()> {
    check_path(path)?;
    register_font();
    let root = BitMapBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let (top, bottom) = root.split_vertically(330);
    let epochs = history.len().max(2) as f64;
    let loss_max = history.iter().map(|h| h.loss).fold(0.0, f64::max).max(1e-9) * 1.05;
    let mut chart = epoch_chart(
        path,
        &top,
        "training loss (mean per batch)",
        epochs,
        loss_max,
    )?;
    chart
        .draw_series(LineSeries::new(
            history.iter().map(|h| (h.epoch as f64, h.loss)),
            RGBColor(0x1f, 0x77, 0xb4).stroke_width(2),
        ))
        .map_err(|e| plot_error(path, e))?;
    let mut chart = epoch_chart(path, &bottom, "accuracy (%)", epochs, 100.0)?;
    let curves = [
        ("train (dropout on)", RGBColor(0xff, 0x7f, 0x0e), 0),
        ("validation", RGBColor(0x2c, 0xa0, 0x2c), 1),
    ];
    for (name, color, which) in curves {
        let points = history
            .iter()
            .map(move |h| (h.epoch as f64, if which == 0 { h.train } else { h.valid }));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| plot_error(path, e))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| plot_error(path, e))?;
    root.present().map_err(|e| plot_error(path, e))?;
    Ok(())
}

/// A panel of values per epoch on `area`: `caption` above, epochs 1 to `epochs` across (whole
/// numbers), 0 to `y_max` up, mesh drawn (the MNIST and sentiment charts' panels).
fn epoch_chart<'a, 'b>(
    path: &Path,
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    caption: &str,
    epochs: f64,
    y_max: f64,
) -> Result<ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(55)
        .build_cartesian_2d(1.0..epochs, 0.0..y_max)
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", 14))
        .x_desc("epoch")
        // Whole epochs only: a short run's ticks fall between them.
        .x_label_formatter(&|x| {
            if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(|e| plot_error(path, e))?;
    Ok(chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawing_errors_read_as_the_system_message_not_a_debug_dump() {
        let path = Path::new("/data/out.png");
        let disk_full = "backend error: Drawing backend error: ImageError(IoError(Os { code: 28, \
                         kind: StorageFull, message: \"No space left on device\" }))";
        assert_eq!(
            plot_error(path, disk_full).to_string(),
            "/data/out.png: cannot write: No space left on device (os error 28)"
        );
        let unsupported = "backend error: Drawing backend error: ImageError(Unsupported(\
                           UnsupportedError { format: PathExtension(\"gif\") }))";
        assert_eq!(
            plot_error(path, unsupported).to_string(),
            "/data/out.png: unsupported image format; the file name must end in .png, .jpg, \
             .jpeg or .bmp"
        );
    }

    #[test]
    fn plot_paths_need_a_supported_extension_and_a_writable_directory() {
        let dir = std::env::temp_dir();
        for ok in ["a.png", "a.PNG", "a.jpg", "a.jpeg", "a.bmp"] {
            assert!(check_path(&dir.join(ok)).is_ok(), "{ok}");
        }
        let err = check_path(&dir.join("a.svg")).unwrap_err().to_string();
        assert!(err.ends_with("a.svg: unsupported image format \"svg\"; the file name must end in .png, .jpg, .jpeg or .bmp"), "{err}");
        let err = check_path(Path::new("/nonexistent-dir/a.png"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "/nonexistent-dir/a.png: directory /nonexistent-dir does not exist"
        );
        let err = datasets_plot(Path::new("/nonexistent-dir/a.png"), 10, 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
