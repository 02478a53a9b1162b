//! The backtest drawn for people (`evaluate --plot`, `tune --report`): the ROC curves of the
//! model and the baselines beside the calibration diagram (predicted risk against observed
//! churn, by risk decile), as one SVG image. Drawn in memory; the caller writes the file.

use plotters::prelude::*;

use super::metrics::{roc_curve, CalibrationBin};
use super::{Report, Scored, BASELINES};

/// A curve to draw: its name in the legend and its points.
pub struct NamedCurve {
    /// The legend's label, such as "churn_risk (AUC 0.726)".
    pub name: String,
    /// (false positive rate, true positive rate) points, in order.
    pub points: Vec<(f64, f64)>,
}

/// The ROC curves of `report`'s model and of the baselines, from `scored` against `labels`,
/// each named with its AUC.
pub fn model_and_baseline_curves(
    report: &Report,
    scored: &Scored,
    labels: &[bool],
) -> Vec<NamedCurve> {
    let mut curves = vec![model_curve(report, scored, labels)];
    for (name, predictions) in BASELINES.iter().zip(&scored.baselines) {
        let value = report.baselines.get(*name).copied().flatten();
        curves.push(NamedCurve {
            name: format!("{name} (AUC {})", auc_text(value)),
            points: roc_curve(predictions, labels),
        });
    }
    curves
}

/// The ROC curve of `report`'s model, named with its version and AUC.
pub fn model_curve(report: &Report, scored: &Scored, labels: &[bool]) -> NamedCurve {
    NamedCurve {
        name: format!(
            "{} churn_risk (AUC {})",
            report.model_version,
            auc_text(report.auc_churn_risk)
        ),
        points: roc_curve(&scored.risks, labels),
    }
}

/// A title naming the backtest of `report`.
pub fn title(report: &Report) -> String {
    format!(
        "scored at {}, churn until {} ({} customers, {} churned)",
        report.at, report.horizon_end, report.customers, report.positives
    )
}

fn auc_text(value: Option<f64>) -> String {
    value.map_or("n/a".to_string(), |value| format!("{value:.3}"))
}

/// Why the image could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing the backtest plot: {0}")]
pub struct PlotError(String);

/// Width and height of the image, in pixels.
const SIZE: (u32, u32) = (1100, 500);

/// Line colours, the model's first.
const COLOURS: [RGBColor; 5] = [
    RGBColor(200, 30, 45),
    RGBColor(30, 90, 200),
    RGBColor(20, 150, 90),
    RGBColor(150, 100, 20),
    RGBColor(120, 60, 170),
];

/// The SVG text of the ROC curves (`curves`, the model first) and the calibration diagram
/// (`calibration`), under `title`.
pub fn backtest_svg(
    title: &str,
    curves: &[NamedCurve],
    calibration: &[CalibrationBin],
) -> Result<String, PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let root = root.titled(title, ("sans-serif", 20)).map_err(failed)?;
        let (left, right) = root.split_horizontally(SIZE.0 / 2);
        draw_roc(&left, curves)?;
        draw_calibration(&right, calibration)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

fn draw_roc<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    curves: &[NamedCurve],
) -> Result<(), PlotError> {
    let mut chart = unit_chart(
        area,
        "ROC: churned customers found against others flagged",
        ("false positive rate", "true positive rate"),
    )?;
    chart
        .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)))
        .map_err(failed)?;
    for (index, curve) in curves.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let width = if index == 0 { 3 } else { 1 };
        chart
            .draw_series(LineSeries::new(
                curve.points.iter().copied(),
                colour.stroke_width(width),
            ))
            .map_err(failed)?
            .label(curve.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(width))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(failed)
}

fn draw_calibration<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    calibration: &[CalibrationBin],
) -> Result<(), PlotError> {
    let mut chart = unit_chart(
        area,
        "Calibration: churn observed by risk decile",
        ("mean predicted churn risk", "share that churned"),
    )?;
    chart
        .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)))
        .map_err(failed)?
        .label("perfectly calibrated")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.3)));
    let points: Vec<(f64, f64)> = calibration
        .iter()
        .map(|bin| (bin.predicted, bin.observed))
        .collect();
    let colour = COLOURS[0];
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            colour.stroke_width(2),
        ))
        .map_err(failed)?
        .label("churn_risk")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    chart
        .draw_series(
            points
                .iter()
                .map(|point| Circle::new(*point, 4, colour.filled())),
        )
        .map_err(failed)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(failed)
}

/// A chart on `area` with both axes from 0 to 1, its caption and axis names drawn.
fn unit_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    (x_name, y_name): (&str, &str),
) -> Result<UnitChart<'a, DB>, PlotError> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 15))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)
        .map_err(failed)?;
    chart
        .configure_mesh()
        .x_desc(x_name)
        .y_desc(y_name)
        .light_line_style(WHITE)
        .draw()
        .map_err(failed)?;
    Ok(chart)
}

/// A chart with both axes from 0 to 1.
type UnitChart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn failed(error: impl std::fmt::Display) -> PlotError {
    PlotError(error.to_string())
}
