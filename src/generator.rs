//! A deterministic generator of realistic B2B customer activity, for the benches, the load tool
//! and the embedded demo: healthy, expanding, fading and churning customers with product usage,
//! emails, support tickets and payments. Pure: the same seed gives the same events.

use std::fmt::Write;

use crate::engine::time::{EventTime, MILLIS_PER_DAY};

/// How a simulated customer behaves over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persona {
    /// Steady use, pays on time, satisfied.
    Healthy,
    /// Growing use and breadth, a good-fit profile: expansion candidates.
    Expanding,
    /// Usage fades over weeks; support friction rises.
    Fading,
    /// Fades fast, visits cancellation pages, fails payments, escalates, asks to cancel.
    Churning,
}

/// A small, fast, well-distributed random number generator (SplitMix64).
#[derive(Debug, Clone)]
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut value = self.0;
        value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        value ^ (value >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }
}

/// One simulated customer.
#[derive(Debug, Clone)]
struct SimulatedCustomer {
    id: String,
    persona: Persona,
    /// When the customer's story starts, in epoch milliseconds.
    start_millis: i64,
    plan: &'static str,
    seats: u32,
    mrr: u32,
}

/// Settings of a generator.
#[derive(Debug, Clone)]
pub struct GeneratorSettings {
    /// How many customers to simulate.
    pub customers: usize,
    /// The random seed.
    pub seed: u64,
    /// Event time of the first event, in epoch milliseconds.
    pub start_millis: i64,
    /// Average events per customer per simulated day.
    pub events_per_customer_day: f64,
}

impl Default for GeneratorSettings {
    fn default() -> Self {
        GeneratorSettings {
            customers: 1000,
            seed: 7,
            start_millis: 1_767_225_600_000,
            events_per_customer_day: 6.0,
        }
    }
}

/// One generated event: its key, event time and JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedEvent {
    /// The customer id (the Kafka message key).
    pub customer_id: String,
    /// The input topic's source: `usage`, `email`, `support`, `payment` or `profile`.
    pub source: &'static str,
    /// Event time in epoch milliseconds.
    pub time_millis: i64,
    /// The event as one JSON object.
    pub json: String,
}

/// Generates an endless, time-ordered stream of customer events.
#[derive(Debug, Clone)]
pub struct Generator {
    random: Random,
    customers: Vec<SimulatedCustomer>,
    clock_millis: i64,
    /// Mean milliseconds between two events across all customers.
    mean_gap_millis: f64,
    sequence: u64,
    profiles_sent: usize,
}

const FEATURES: [&str; 8] = [
    "reports",
    "dashboards",
    "alerts",
    "exports",
    "integrations",
    "api",
    "workflows",
    "sso",
];
const ORIGINS: [&str; 4] = [
    "web-app/5.12.3",
    "ios/3.8.0",
    "android/3.7.2",
    "billing-service/2.1",
];
const PLANS: [(&str, u32, u32); 4] = [
    ("starter", 3, 99),
    ("team", 12, 490),
    ("business", 60, 2400),
    ("enterprise", 300, 9800),
];

impl Generator {
    /// A generator with the given settings.
    pub fn new(settings: &GeneratorSettings) -> Generator {
        let mut random = Random(settings.seed);
        let customers = (0..settings.customers)
            .map(|index| {
                let persona = match random.below(20) {
                    0..=10 => Persona::Healthy,
                    11..=13 => Persona::Expanding,
                    14..=17 => Persona::Fading,
                    _ => Persona::Churning,
                };
                let plan = match persona {
                    Persona::Expanding => PLANS[2 + random.below(2)],
                    _ => PLANS[random.below(PLANS.len())],
                };
                SimulatedCustomer {
                    id: format!("cust-{index:06}"),
                    persona,
                    start_millis: settings.start_millis,
                    plan: plan.0,
                    seats: plan.1 + random.below(plan.1 as usize) as u32,
                    mrr: plan.2,
                }
            })
            .collect();
        let events_per_day = settings.events_per_customer_day * settings.customers.max(1) as f64;
        Generator {
            random,
            customers,
            clock_millis: settings.start_millis,
            mean_gap_millis: MILLIS_PER_DAY as f64 / events_per_day,
            sequence: 0,
            profiles_sent: 0,
        }
    }

    /// The persona of a generated customer id, for checking what the service concluded.
    pub fn persona_of(&self, customer_id: &str) -> Option<Persona> {
        self.customers
            .iter()
            .find(|customer| customer.id == customer_id)
            .map(|customer| customer.persona)
    }

    /// The next event. Every customer first gets a profile; then events follow in time order.
    pub fn next_event(&mut self) -> GeneratedEvent {
        if self.profiles_sent < self.customers.len() {
            let customer = &self.customers[self.profiles_sent];
            self.profiles_sent += 1;
            let fields = format!(
                r#""plan":"{}","seats":{},"mrr":{}"#,
                customer.plan, customer.seats, customer.mrr
            );
            let customer = customer.clone();
            return self.render(&customer, "profile", "profile", &fields);
        }
        let gap = -self.mean_gap_millis * (1.0 - self.random.unit()).ln();
        self.clock_millis += gap.max(1.0) as i64;
        loop {
            let customer = self.customers[self.random.below(self.customers.len())].clone();
            if let Some((source, event_type, fields)) = self.activity(&customer) {
                return self.render(&customer, source, event_type, &fields);
            }
        }
    }

    /// How active a customer is now (1.0 = its usual self), by persona and age in days.
    fn activity_level(&self, customer: &SimulatedCustomer) -> f64 {
        let days = (self.clock_millis - customer.start_millis) as f64 / MILLIS_PER_DAY as f64;
        match customer.persona {
            Persona::Healthy => 1.0,
            Persona::Expanding => (1.0 + days / 30.0).min(2.0),
            Persona::Fading => (1.0 - (days - 14.0).max(0.0) / 40.0).max(0.05),
            Persona::Churning => (1.0 - (days - 5.0).max(0.0) / 12.0).max(0.02),
        }
    }

    /// Picks what the customer does, or `None` to pick another customer (so quiet customers
    /// produce fewer events).
    fn activity(
        &mut self,
        customer: &SimulatedCustomer,
    ) -> Option<(&'static str, &'static str, String)> {
        let level = self.activity_level(customer);
        let troubled =
            matches!(customer.persona, Persona::Fading | Persona::Churning) && level < 0.7;
        if !self.random.chance(level.clamp(0.1, 1.0)) {
            return None;
        }
        let roll = self.random.unit();
        let breadth = match customer.persona {
            Persona::Expanding => FEATURES.len(),
            Persona::Healthy => 5,
            _ => 3,
        };
        Some(if roll < 0.30 {
            ("usage", "login", String::new())
        } else if roll < 0.50 {
            let seconds = 300 + self.random.below(3600);
            ("usage", "session", format!(r#""duration_s":{seconds}"#))
        } else if roll < 0.70 {
            let feature = FEATURES[self.random.below(breadth)];
            ("usage", "feature_used", format!(r#""feature":"{feature}""#))
        } else if roll < 0.74 {
            let page = if troubled && self.random.chance(0.5) {
                ["cancel", "refund", "billing/downgrade"][self.random.below(3)]
            } else {
                ["pricing", "docs", "settings"][self.random.below(3)]
            };
            ("usage", "page_view", format!(r#""page":"{page}""#))
        } else if roll < 0.84 {
            let kind = if troubled {
                [
                    "email_sent",
                    "email_sent",
                    "email_bounced",
                    "email_unsubscribed",
                ][self.random.below(4)]
            } else {
                [
                    "email_sent",
                    "email_opened",
                    "email_clicked",
                    "email_replied",
                ][self.random.below(4)]
            };
            let campaign = ["onboarding", "release-notes", "renewal"][self.random.below(3)];
            ("email", kind, format!(r#""campaign":"{campaign}""#))
        } else if roll < 0.92 {
            self.support(troubled)
        } else {
            self.payment(customer, troubled)
        })
    }

    fn support(&mut self, troubled: bool) -> (&'static str, &'static str, String) {
        let ticket = format!("T-{}", self.random.below(1_000_000));
        match self.random.below(4) {
            0 => {
                let priority = if troubled {
                    ["high", "urgent"][self.random.below(2)]
                } else {
                    ["low", "normal"][self.random.below(2)]
                };
                (
                    "support",
                    "ticket_opened",
                    format!(r#""ticket_id":"{ticket}","priority":"{priority}""#),
                )
            }
            1 if troubled => (
                "support",
                "ticket_escalated",
                format!(r#""ticket_id":"{ticket}""#),
            ),
            1 => (
                "support",
                "ticket_resolved",
                format!(r#""ticket_id":"{ticket}""#),
            ),
            2 => {
                let score = if troubled {
                    1 + self.random.below(2)
                } else {
                    4 + self.random.below(2)
                };
                ("support", "csat", format!(r#""score":{score}"#))
            }
            _ => {
                let score = if troubled {
                    self.random.below(5)
                } else {
                    8 + self.random.below(3)
                };
                ("support", "nps", format!(r#""score":{score}"#))
            }
        }
    }

    fn payment(
        &mut self,
        customer: &SimulatedCustomer,
        troubled: bool,
    ) -> (&'static str, &'static str, String) {
        let amount = customer.mrr;
        if troubled {
            match self.random.below(4) {
                0 => ("payment", "payment_failed", format!(r#""amount":{amount}"#)),
                1 => {
                    let days = 5 + self.random.below(40);
                    (
                        "payment",
                        "invoice_overdue",
                        format!(r#""amount":{amount},"days_overdue":{days}"#),
                    )
                }
                2 if customer.persona == Persona::Churning => {
                    ("payment", "cancellation_requested", String::new())
                }
                _ => {
                    let days = self.random.below(30);
                    (
                        "payment",
                        "invoice_paid",
                        format!(r#""amount":{amount},"days_late":{days}"#),
                    )
                }
            }
        } else {
            (
                "payment",
                "invoice_paid",
                format!(r#""amount":{amount},"days_late":0"#),
            )
        }
    }

    fn render(
        &mut self,
        customer: &SimulatedCustomer,
        source: &'static str,
        event_type: &str,
        fields: &str,
    ) -> GeneratedEvent {
        self.sequence += 1;
        // Real feeds carry RFC 3339 times and envelope fields (who, from where): kept here so
        // that benchmarks see realistic messages of about 200 bytes.
        let user = self.random.below(customer.seats.max(1) as usize);
        let mut json = format!(
            r#"{{"event_id":"gen-{:010}","customer_id":"{}","type":"{event_type}","timestamp":"{}","user_id":"{}-u{user:04}","origin":"{}""#,
            self.sequence,
            customer.id,
            EventTime::from_millis(self.clock_millis).unwrap_or_default(),
            customer.id,
            ORIGINS[self.random.below(ORIGINS.len())],
        );
        if !fields.is_empty() {
            let _ = write!(json, ",{fields}");
        }
        json.push('}');
        GeneratedEvent {
            customer_id: customer.id.clone(),
            source,
            time_millis: self.clock_millis,
            json,
        }
    }
}

#[cfg(test)]
mod tests;
