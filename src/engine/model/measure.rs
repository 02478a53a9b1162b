//! Measures and churn factors: one input (a signal, a ratio, a trend or days since), normalized to 0..1.

use std::f64::consts::LN_2;
use std::sync::Arc;

use crate::config::model::{MeasureConfig, Normalize};
use crate::config::ConfigError;

use super::signals::{Signal, SignalId, SignalKind};

/// Where a measure's raw number comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MeasureInput {
    /// A signal's value.
    Signal(SignalId),
    /// One signal divided by another.
    Ratio(SignalId, SignalId),
    /// The short signal against the long one, relative to what a customer with a steady rate and
    /// the same tenure would show: 1.0 steady, below 1 falling, 0 stopped (see [`steady_ratio`]).
    Trend {
        /// The fast-decaying signal.
        short: SignalId,
        /// The slow-decaying baseline.
        long: SignalId,
        /// The short signal's half-life, in milliseconds.
        short_half_life_millis: f64,
        /// The long signal's half-life, in milliseconds.
        long_half_life_millis: f64,
    },
    /// Days since a `last_seen` signal.
    DaysSince(SignalId),
}

/// The ratio short / long of two decayed counts for a customer with a steady event rate and
/// `tenure_millis` of history: `h_s (1 - 2^(-tenure / h_s)) / (h_l (1 - 2^(-tenure / h_l)))`.
/// It is 1 for a brand-new customer and `h_s / h_l` for a long-standing one, so a trend measured
/// against it does not mistake a young account for a growing one.
pub fn steady_ratio(
    short_half_life_millis: f64,
    long_half_life_millis: f64,
    tenure_millis: f64,
) -> f64 {
    if tenure_millis <= 0.0 {
        return 1.0;
    }
    filled(short_half_life_millis, tenure_millis) / filled(long_half_life_millis, tenure_millis)
}

/// `h (1 - 2^(-tenure / h))`: how much of its steady value a decayed count with half-life `h`
/// has built up after `tenure` (times `1 / ln 2`), computed without cancellation for short
/// tenures.
fn filled(half_life_millis: f64, tenure_millis: f64) -> f64 {
    -half_life_millis * (-tenure_millis / half_life_millis * LN_2).exp_m1()
}

/// The steady event rate, per millisecond, behind a decayed count `value` with `half_life_millis`
/// after `tenure_millis` of history: `value · ln 2 / (h (1 - 2^(-tenure / h)))`.
pub fn steady_rate(value: f64, half_life_millis: f64, tenure_millis: f64) -> f64 {
    let filled = filled(half_life_millis, tenure_millis);
    if filled > 0.0 {
        value * LN_2 / filled
    } else {
        0.0
    }
}

/// One piece of a reason's text.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(Box<str>),
    Value,
    Percent,
    DropPercent,
    Days,
}

/// A reason text with placeholders for the input.
#[derive(Debug, Clone, PartialEq)]
pub struct DetailTemplate(Vec<Piece>);

impl DetailTemplate {
    /// Parses `{value}`, `{percent}`, `{drop_percent}` and `{days}` placeholders.
    pub fn parse(text: &str) -> Result<DetailTemplate, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].into()));
            }
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| format!("unclosed `{{` in `{text}`"))?;
            let piece = match &rest[start + 1..start + end] {
                "value" => Piece::Value,
                "percent" => Piece::Percent,
                "drop_percent" => Piece::DropPercent,
                "days" => Piece::Days,
                other => {
                    return Err(format!(
                        "unknown placeholder `{{{other}}}`; use {{value}}, {{percent}}, {{drop_percent}} or {{days}}"
                    ))
                }
            };
            pieces.push(piece);
            rest = &rest[start + end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.into()));
        }
        Ok(DetailTemplate(pieces))
    }

    /// The text for a raw input value (`None` when the input is undefined).
    pub fn render(&self, raw: Option<f64>) -> String {
        let mut text = String::new();
        for piece in &self.0 {
            match (piece, raw) {
                (Piece::Text(part), _) => text.push_str(part),
                (_, None) => text.push_str("n/a"),
                (Piece::Value, Some(raw)) => text.push_str(&format_decimal(raw)),
                (Piece::Percent, Some(raw)) => text.push_str(&format!("{:.0}", raw * 100.0)),
                (Piece::DropPercent, Some(raw)) => {
                    text.push_str(&format!("{:.0}", ((1.0 - raw) * 100.0).max(0.0)))
                }
                (Piece::Days, Some(raw)) => text.push_str(&format!("{:.0}", raw.floor())),
            }
        }
        text
    }
}

/// One decimal, without a trailing `.0`.
fn format_decimal(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// A compiled measure or churn factor.
#[derive(Debug, Clone)]
pub struct Measure {
    /// The name in `top_factors` and `reasons`.
    pub name: Arc<str>,
    /// Where the raw number comes from.
    pub input: MeasureInput,
    /// How the raw number maps to 0..1.
    pub normalize: Normalize,
    /// Weight within the component, or the factor's maximum risk.
    pub weight: f64,
    /// Whether the measure subtracts.
    pub negative: bool,
    /// The normalized value while the input is undefined.
    pub missing: f64,
    /// The reason's text.
    pub detail: DetailTemplate,
    /// Milliseconds of tenure over which the measure ramps up from 0 (0 = no ramp).
    pub ramp_up_millis: i64,
    /// Trend measures: the silence after which a drop counts fully, if set.
    pub evidence: Option<Evidence>,
}

/// A compiled [`TrendEvidence`](crate::config::model::TrendEvidence).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// The `last_seen` signal of the trend's events.
    pub last_seen: SignalId,
    /// The events the baseline rate must predict in the silence.
    pub events: f64,
}

impl Measure {
    /// Weighs a normalized value by its evidence, 0..1: 1 keeps it, 0 gives the `missing` value.
    pub fn with_confidence(&self, value: f64, confidence: f64) -> f64 {
        self.missing + (value - self.missing) * confidence.clamp(0.0, 1.0)
    }

    /// Maps a raw input to 0..1 (the `missing` value when undefined).
    pub fn normalized(&self, raw: Option<f64>) -> f64 {
        let Some(raw) = raw else {
            return self.missing;
        };
        let value = match self.normalize {
            Normalize::Linear([low, high]) => (raw - low) / (high - low),
            Normalize::Saturating(half) => raw.max(0.0) / (raw.max(0.0) + half),
            Normalize::InverseSaturating(half) => half / (raw.max(0.0) + half),
        };
        if value.is_nan() {
            self.missing
        } else {
            value.clamp(0.0, 1.0)
        }
    }
}

/// Compiles one `[[...measures]]` or `churn.factors` entry; `key` is its config path.
pub fn compile_measure(
    config: &MeasureConfig,
    key: &str,
    signals: &[Signal],
) -> Result<Measure, ConfigError> {
    let find = |name: &str, field: &str| -> Result<(SignalId, &Signal), ConfigError> {
        signals
            .iter()
            .position(|signal| signal.name.as_ref() == name)
            .map(|index| (index as SignalId, &signals[index]))
            .ok_or_else(|| {
                ConfigError::invalid(
                    format!("{key}.{field}"),
                    format!("no signal named `{name}` in [signals]"),
                )
            })
    };
    let chosen = [
        config.signal.is_some(),
        config.ratio.is_some(),
        config.trend.is_some(),
        config.days_since.is_some(),
    ]
    .iter()
    .filter(|set| **set)
    .count();
    if chosen != 1 {
        return Err(ConfigError::invalid(
            key,
            "needs exactly one of `signal`, `ratio`, `trend` and `days_since`",
        ));
    }
    let input = if let Some(name) = &config.signal {
        let (id, signal) = find(name, "signal")?;
        if signal.kind == SignalKind::LastSeen {
            return Err(ConfigError::invalid(
                format!("{key}.signal"),
                format!("`{name}` is a last_seen signal; use `days_since` for it"),
            ));
        }
        MeasureInput::Signal(id)
    } else if let Some([numerator, denominator]) = &config.ratio {
        MeasureInput::Ratio(find(numerator, "ratio")?.0, find(denominator, "ratio")?.0)
    } else if let Some([short, long]) = &config.trend {
        let (short_id, short_signal) = find(short, "trend")?;
        let (long_id, long_signal) = find(long, "trend")?;
        let decayed = |signal: &Signal| match signal.kind {
            SignalKind::Count(decay) | SignalKind::Sum(decay) => Some(decay.half_life_millis),
            _ => None,
        };
        match (decayed(short_signal), decayed(long_signal)) {
            (Some(short_half_life), Some(long_half_life)) if short_half_life < long_half_life => {
                MeasureInput::Trend {
                    short: short_id,
                    long: long_id,
                    short_half_life_millis: short_half_life,
                    long_half_life_millis: long_half_life,
                }
            }
            _ => {
                return Err(ConfigError::invalid(
                    format!("{key}.trend"),
                    "needs two count or sum signals, the first with the shorter half-life",
                ))
            }
        }
    } else {
        let name = config.days_since.as_deref().unwrap_or_default();
        let (id, signal) = find(name, "days_since")?;
        if signal.kind != SignalKind::LastSeen {
            return Err(ConfigError::invalid(
                format!("{key}.days_since"),
                format!("`{name}` must be a last_seen signal"),
            ));
        }
        MeasureInput::DaysSince(id)
    };
    match config.normalize {
        Normalize::Linear([low, high]) if low == high || !low.is_finite() || !high.is_finite() => {
            return Err(ConfigError::invalid(
                format!("{key}.normalize"),
                "linear needs two different finite bounds",
            ))
        }
        Normalize::Saturating(half) | Normalize::InverseSaturating(half)
            if half.is_nan() || half <= 0.0 =>
        {
            return Err(ConfigError::invalid(
                format!("{key}.normalize"),
                "saturating needs a half-point above zero",
            ))
        }
        _ => {}
    }
    if !config.weight.is_finite() || config.weight < 0.0 {
        return Err(ConfigError::invalid(
            format!("{key}.weight"),
            "must be a number, zero or above",
        ));
    }
    let evidence = match (&config.evidence, input) {
        (None, _) => None,
        (Some(evidence), MeasureInput::Trend { .. }) => {
            let (last_seen, signal) = find(&evidence.last_seen, "evidence.last_seen")?;
            if signal.kind != SignalKind::LastSeen {
                return Err(ConfigError::invalid(
                    format!("{key}.evidence.last_seen"),
                    format!("`{}` must be a last_seen signal", evidence.last_seen),
                ));
            }
            if !(evidence.events.is_finite() && evidence.events > 0.0) {
                return Err(ConfigError::invalid(
                    format!("{key}.evidence.events"),
                    "must be a number above zero",
                ));
            }
            Some(Evidence {
                last_seen,
                events: evidence.events,
            })
        }
        (Some(_), _) => {
            return Err(ConfigError::invalid(
                format!("{key}.evidence"),
                "applies to `trend` measures only",
            ))
        }
    };
    let missing = config.missing.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&missing) {
        return Err(ConfigError::invalid(
            format!("{key}.missing"),
            "must be from 0 to 1",
        ));
    }
    let detail_text = config
        .detail
        .clone()
        .unwrap_or_else(|| format!("{}: {{value}}", config.name));
    let detail = DetailTemplate::parse(&detail_text)
        .map_err(|message| ConfigError::invalid(format!("{key}.detail"), message))?;
    Ok(Measure {
        name: config.name.as_str().into(),
        input,
        normalize: config.normalize,
        weight: config.weight,
        negative: config.negative,
        missing,
        detail,
        ramp_up_millis: config.ramp_up.map_or(0, |ramp_up| ramp_up.millis()),
        evidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_ratio_runs_from_one_to_the_half_life_ratio() {
        let day = 86_400_000.0;
        assert!((steady_ratio(7.0 * day, 90.0 * day, 1.0) - 1.0).abs() < 1e-9);
        assert!((steady_ratio(7.0 * day, 90.0 * day, 60_000.0) - 1.0).abs() < 1e-3);
        assert!((steady_ratio(7.0 * day, 90.0 * day, 1e6 * day) - 7.0 / 90.0).abs() < 1e-9);
        // After 30 days: 7 (1 - 2^-30/7) / (90 (1 - 2^-30/90)).
        let expected =
            7.0 * (1.0 - 2f64.powf(-30.0 / 7.0)) / (90.0 * (1.0 - 2f64.powf(-30.0 / 90.0)));
        assert!((steady_ratio(7.0 * day, 90.0 * day, 30.0 * day) - expected).abs() < 1e-9);
    }

    #[test]
    fn templates_render_each_placeholder() {
        let template =
            DetailTemplate::parse("down {drop_percent}% ({percent}%), {value} over {days} days")
                .unwrap();
        assert_eq!(
            template.render(Some(0.28)),
            "down 72% (28%), 0.3 over 0 days"
        );
        assert_eq!(template.render(None), "down n/a% (n/a%), n/a over n/a days");
        assert!(DetailTemplate::parse("{nope}")
            .unwrap_err()
            .contains("unknown placeholder"));
    }
}
