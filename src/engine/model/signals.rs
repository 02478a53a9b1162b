//! Compiled signal definitions: which events feed each aggregate, and where it lives in state.

use std::collections::BTreeMap;

use hashbrown::HashMap;
use smallvec::SmallVec;

use crate::config::model::{AggregateKind, SignalConfig};
use crate::config::ConfigError;
use crate::engine::event::Event;

/// Index of a signal in [`super::Model::signals`].
pub type SignalId = u16;

/// A decay rate: the half-life and its slot in the model's list of distinct half-lives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decay {
    /// Half-life in milliseconds.
    pub half_life_millis: f64,
    /// Index into [`super::Model::half_lives_millis`], so each half-life's factor is computed once.
    pub slot: usize,
}

/// How a signal aggregates, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SignalKind {
    /// Decayed event count (1 word).
    Count(Decay),
    /// Decayed sum of the field (1 word).
    Sum(Decay),
    /// Decayed mean of the field: decayed sum and decayed count (2 words).
    Mean(Decay),
    /// Latest value of the field by event time: time and value (2 words).
    Last,
    /// Latest event time (1 word).
    LastSeen,
    /// Distinct values of the field seen within `window_millis` (2 words per remembered value).
    Distinct {
        /// How many values are remembered.
        max_values: usize,
        /// How far back a value counts.
        window_millis: i64,
    },
}

impl SignalKind {
    /// How many 32-bit words of customer state the signal takes.
    pub fn words(self) -> usize {
        match self {
            SignalKind::Count(_) | SignalKind::Sum(_) | SignalKind::LastSeen => 1,
            SignalKind::Mean(_) | SignalKind::Last => 2,
            SignalKind::Distinct { max_values, .. } => 2 * max_values,
        }
    }

    /// The decay, for decayed kinds.
    pub fn decay(self) -> Option<Decay> {
        match self {
            SignalKind::Count(decay) | SignalKind::Sum(decay) | SignalKind::Mean(decay) => {
                Some(decay)
            }
            _ => None,
        }
    }
}

/// One compiled signal.
#[derive(Debug, Clone)]
pub struct Signal {
    /// The signal's name in config, explanations and `--state-out`.
    pub name: Box<str>,
    /// What it aggregates.
    pub kind: SignalKind,
    /// The aggregated field, for kinds that read one.
    pub field: Option<Box<str>>,
    /// Text fields that must take one of the listed values.
    pub filter: Vec<(Box<str>, Vec<Box<str>>)>,
    /// The first word of the signal in a customer's state.
    pub offset: usize,
}

impl Signal {
    /// Whether the event passes the signal's `where` filter.
    pub fn accepts(&self, event: &Event<'_>) -> bool {
        self.filter.iter().all(|(field, allowed)| {
            event
                .text(field)
                .is_some_and(|value| allowed.iter().any(|candidate| candidate.as_ref() == value))
        })
    }
}

/// The most values a `distinct` signal may remember.
pub const MAX_DISTINCT_VALUES: usize = 64;

/// Which signals each event type feeds, from the signals' `types`; a type listed twice by one
/// signal is refused.
pub fn compile_routes(
    signals: &BTreeMap<String, SignalConfig>,
) -> Result<HashMap<Box<str>, SmallVec<[SignalId; 4]>>, ConfigError> {
    let mut routes: HashMap<Box<str>, SmallVec<[SignalId; 4]>> = HashMap::new();
    for (id, (name, signal_config)) in signals.iter().enumerate() {
        for event_type in &signal_config.types {
            let targets = routes.entry(event_type.as_str().into()).or_default();
            if targets.contains(&(id as SignalId)) {
                return Err(ConfigError::invalid(
                    format!("signals.{name}.types"),
                    format!("lists `{event_type}` twice"),
                ));
            }
            targets.push(id as SignalId);
        }
    }
    Ok(routes)
}

/// Compiles the `[signals]` table into signals laid out one after another from word 0, and the
/// list of distinct half-lives they use. Returns the signals, the half-lives and the words used.
pub fn compile_signals(
    configs: &BTreeMap<String, SignalConfig>,
) -> Result<(Vec<Signal>, Vec<f64>, usize), ConfigError> {
    let mut signals = Vec::with_capacity(configs.len());
    let mut half_lives: Vec<f64> = Vec::new();
    let mut offset = 0;
    for (name, config) in configs {
        let key = |field: &str| format!("signals.{name}.{field}");
        if config.types.is_empty() {
            return Err(ConfigError::invalid(
                key("types"),
                "needs at least one event type",
            ));
        }
        let mut decay = || -> Result<Decay, ConfigError> {
            let half_life = config.half_life.ok_or_else(|| {
                ConfigError::invalid(key("half_life"), "is required for count, sum and mean")
            })?;
            if half_life.millis() <= 0 {
                return Err(ConfigError::invalid(
                    key("half_life"),
                    "must be longer than zero",
                ));
            }
            let millis = half_life.millis() as f64;
            let slot = match half_lives.iter().position(|known| *known == millis) {
                Some(slot) => slot,
                None => {
                    half_lives.push(millis);
                    half_lives.len() - 1
                }
            };
            Ok(Decay {
                half_life_millis: millis,
                slot,
            })
        };
        let kind = match config.aggregate {
            AggregateKind::Count => SignalKind::Count(decay()?),
            AggregateKind::Sum => SignalKind::Sum(decay()?),
            AggregateKind::Mean => SignalKind::Mean(decay()?),
            AggregateKind::Last => SignalKind::Last,
            AggregateKind::LastSeen => SignalKind::LastSeen,
            AggregateKind::Distinct => {
                let max_values = config.max_values.unwrap_or(8);
                if !(1..=MAX_DISTINCT_VALUES).contains(&max_values) {
                    return Err(ConfigError::invalid(
                        key("max_values"),
                        format!("must be from 1 to {MAX_DISTINCT_VALUES}"),
                    ));
                }
                let window = config.window.ok_or_else(|| {
                    ConfigError::invalid(key("window"), "is required for distinct")
                })?;
                SignalKind::Distinct {
                    max_values,
                    window_millis: window.millis(),
                }
            }
        };
        let needs_field = !matches!(
            config.aggregate,
            AggregateKind::Count | AggregateKind::LastSeen
        );
        if needs_field && config.field.is_none() {
            return Err(ConfigError::invalid(
                key("field"),
                "is required for sum, mean, last and distinct",
            ));
        }
        if !needs_field && config.field.is_some() {
            return Err(ConfigError::invalid(
                key("field"),
                "is only used by sum, mean, last and distinct",
            ));
        }
        let filter = config
            .filter
            .iter()
            .map(|(field, values)| {
                (
                    field.as_str().into(),
                    values.iter().map(|value| value.as_str().into()).collect(),
                )
            })
            .collect();
        signals.push(Signal {
            name: name.as_str().into(),
            kind,
            field: config.field.as_deref().map(Into::into),
            filter,
            offset,
        });
        offset += kind.words();
    }
    if signals.len() > usize::from(SignalId::MAX) {
        return Err(ConfigError::invalid("signals", "too many signals"));
    }
    Ok((signals, half_lives, offset))
}
