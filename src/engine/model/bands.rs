//! Named bands over a number (grades, health colours, tiers, risk levels), with hysteresis.

use std::sync::Arc;

/// Ordered bands: level 0 is the lowest; level `i` starts at `bounds[i - 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bands {
    /// Lower bounds of levels 1.., ascending.
    bounds: Vec<f64>,
    /// Names of levels 0.., lowest first (shared with the output events that carry them).
    names: Vec<Arc<str>>,
}

impl Bands {
    /// Bands from `(name, lower bound)` pairs listed best first, as config files write them.
    /// The last pair's bound is ignored: the lowest band takes every lower value.
    pub fn from_best_first(pairs: &[(String, f64)]) -> Result<Bands, String> {
        if pairs.is_empty() {
            return Err("needs at least one band".into());
        }
        for window in pairs.windows(2) {
            if window[0].1 <= window[1].1 {
                return Err(format!(
                    "bands must be listed best first with falling `min`: `{}` ({}) is not above `{}` ({})",
                    window[0].0, window[0].1, window[1].0, window[1].1
                ));
            }
        }
        let mut names: Vec<Arc<str>> = pairs.iter().map(|(name, _)| name.as_str().into()).collect();
        names.reverse();
        let mut bounds: Vec<f64> = pairs.iter().map(|(_, min)| *min).collect();
        bounds.pop();
        bounds.reverse();
        Ok(Bands { bounds, names })
    }

    /// How many levels there are.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Always false: bands have at least one level.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name of a level.
    pub fn name(&self, level: u8) -> &str {
        self.names
            .get(usize::from(level))
            .map(AsRef::as_ref)
            .unwrap_or("")
    }

    /// The name of a level, shared rather than copied (empty for a level that does not exist).
    pub fn shared_name(&self, level: u8) -> Arc<str> {
        self.names
            .get(usize::from(level))
            .cloned()
            .unwrap_or_else(|| Arc::from(""))
    }

    /// The level of a name, if any.
    pub fn level_of(&self, name: &str) -> Option<u8> {
        self.names
            .iter()
            .position(|candidate| candidate.as_ref() == name)
            .and_then(|index| u8::try_from(index).ok())
    }

    /// The level a value falls in, ignoring history.
    pub fn level(&self, value: f64) -> u8 {
        let level = self
            .bounds
            .iter()
            .take_while(|bound| value >= **bound)
            .count();
        u8::try_from(level).unwrap_or(u8::MAX)
    }

    /// The level with hysteresis: stays at `previous` while the value is within `margin` of its
    /// band, so a value wobbling around a boundary does not flap between two levels.
    pub fn level_with_hysteresis(&self, value: f64, previous: Option<u8>, margin: f64) -> u8 {
        let raw = self.level(value);
        let Some(previous) = previous else {
            return raw;
        };
        let index = usize::from(previous);
        let lower = if index == 0 {
            f64::NEG_INFINITY
        } else {
            self.bounds.get(index - 1).copied().unwrap_or(f64::INFINITY)
        };
        let upper = self.bounds.get(index).copied().unwrap_or(f64::INFINITY);
        if value >= lower - margin && value < upper + margin && index < self.len() {
            previous
        } else {
            raw
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grades() -> Bands {
        Bands::from_best_first(&[
            ("A".into(), 85.0),
            ("B".into(), 70.0),
            ("C".into(), 55.0),
            ("F".into(), 0.0),
        ])
        .unwrap()
    }

    #[test]
    fn levels_follow_lower_bounds() {
        let grades = grades();
        assert_eq!(grades.name(grades.level(90.0)), "A");
        assert_eq!(grades.name(grades.level(85.0)), "A");
        assert_eq!(grades.name(grades.level(84.9)), "B");
        assert_eq!(grades.name(grades.level(-3.0)), "F");
        assert_eq!(grades.level_of("C"), Some(1));
    }

    #[test]
    fn hysteresis_holds_a_level_near_its_boundary() {
        let grades = grades();
        let b = grades.level_of("B");
        assert_eq!(grades.name(grades.level_with_hysteresis(68.5, b, 2.0)), "B");
        assert_eq!(grades.name(grades.level_with_hysteresis(67.9, b, 2.0)), "C");
        assert_eq!(grades.name(grades.level_with_hysteresis(86.0, b, 2.0)), "B");
        assert_eq!(grades.name(grades.level_with_hysteresis(87.0, b, 2.0)), "A");
        assert_eq!(
            grades.name(grades.level_with_hysteresis(68.5, None, 2.0)),
            "C"
        );
    }

    #[test]
    fn bands_must_fall() {
        let error = Bands::from_best_first(&[("A".into(), 50.0), ("B".into(), 60.0)]).unwrap_err();
        assert!(error.contains("best first"));
    }
}
