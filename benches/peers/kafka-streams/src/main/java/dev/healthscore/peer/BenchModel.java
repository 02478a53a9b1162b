package dev.healthscore.peer;

/**
 * The benchmark model of benches/bench-model.toml, written out by hand: its signals, its score,
 * its churn risk and the rules that decide when a change is sent. Kept exactly in step with that
 * file; the bench compares this peer's outputs with healthscore's.
 */
final class BenchModel {
    private BenchModel() {}

    private static final double DAY = 86_400_000.0;

    // The decayed signals, by index into CustomerState.decayed.
    static final int USAGE_7D = 0;
    static final int USAGE_30D = 1;
    static final int USAGE_90D = 2;
    static final int SESSION_SECONDS_30D = 3;
    static final int INVOICES_PAID_90D = 4;
    static final int PAYMENT_TROUBLE_30D = 5;
    static final int TICKETS_30D = 6;
    /** Each decayed signal's half-life, in milliseconds. */
    static final double[] HALF_LIVES = {7 * DAY, 30 * DAY, 90 * DAY, 30 * DAY, 90 * DAY, 30 * DAY, 30 * DAY};

    // Levels: how many of a band's lower bounds (ascending; the lowest band has none) a value reaches.
    private static final double[] GRADE_BOUNDS = {40, 55, 70, 85};
    private static final double[] HEALTH_BOUNDS = {45, 70};
    private static final double[] TIER_BOUNDS = {45, 65, 80};
    private static final double[] RISK_BOUNDS = {0.25, 0.4, 0.55};
    static final String[] GRADES = {"F", "D", "C", "B", "A"};
    static final String[] HEALTH = {"red", "yellow", "green"};
    static final String[] RISK_LEVELS = {"low", "medium", "high", "critical"};
    /** churn_risk_alert when the level reaches medium, and when it falls back below. */
    private static final int CHURN_ALERT_LEVEL = 1;
    private static final double MIN_SCORE_CHANGE = 5.0;

    /** Whether any signal (or the profile) uses events of {@code type}; other events are ignored. */
    static boolean applies(String type) {
        return switch (type) {
            case "login", "session", "feature_used", "page_view", "invoice_paid", "payment_failed",
                    "invoice_overdue", "ticket_opened", "profile" -> true;
            default -> false;
        };
    }

    /** A new customer's state, first seen at {@code timeMillis}. */
    static CustomerState newCustomer(long timeMillis) {
        CustomerState state = new CustomerState();
        state.referenceMillis = timeMillis;
        state.firstEventMillis = timeMillis;
        state.lastEventMillis = timeMillis;
        return state;
    }

    /** Folds an event into the customer's signals, in any order of event times. */
    static void apply(CustomerState state, Event event) {
        switch (event.type) {
            case "login", "feature_used" -> {
                addUsage(state, event.timeMillis);
            }
            case "session" -> {
                addUsage(state, event.timeMillis);
                if (!Double.isNaN(event.durationSeconds)) {
                    add(state, SESSION_SECONDS_30D, event.timeMillis, event.durationSeconds);
                }
            }
            case "page_view" -> state.lastUsageMillis = Math.max(state.lastUsageMillis, event.timeMillis);
            case "invoice_paid" -> add(state, INVOICES_PAID_90D, event.timeMillis, 1);
            case "payment_failed", "invoice_overdue" -> add(state, PAYMENT_TROUBLE_30D, event.timeMillis, 1);
            case "ticket_opened" -> add(state, TICKETS_30D, event.timeMillis, 1);
            default -> {}
        }
        state.lastEventMillis = Math.max(state.lastEventMillis, event.timeMillis);
        state.firstEventMillis = Math.min(state.firstEventMillis, event.timeMillis);
    }

    private static void addUsage(CustomerState state, long timeMillis) {
        add(state, USAGE_7D, timeMillis, 1);
        add(state, USAGE_30D, timeMillis, 1);
        add(state, USAGE_90D, timeMillis, 1);
        state.lastUsageMillis = Math.max(state.lastUsageMillis, timeMillis);
    }

    /** Adds {@code amount} at {@code timeMillis}: a newer event moves every value to its time first. */
    private static void add(CustomerState state, int signal, long timeMillis, double amount) {
        if (timeMillis > state.referenceMillis) {
            for (int index = 0; index < HALF_LIVES.length; index++) {
                state.decayed[index] *= decay(timeMillis - state.referenceMillis, HALF_LIVES[index]);
            }
            state.referenceMillis = timeMillis;
        }
        state.decayed[signal] += amount * decay(state.referenceMillis - timeMillis, HALF_LIVES[signal]);
    }

    private static double decay(double elapsedMillis, double halfLifeMillis) {
        return Math.pow(2, -elapsedMillis / halfLifeMillis);
    }

    /** A signal's value at {@code atMillis} (not before the state's reference time). */
    private static double value(CustomerState state, int signal, long atMillis) {
        return state.decayed[signal] * decay(atMillis - state.referenceMillis, HALF_LIVES[signal]);
    }

    /** The numbers of one evaluation. */
    record Evaluation(long atMillis, double score, double risk, int grade, int health, int tier, int riskLevel) {}

    /** Scores the customer at {@code atMillis}. */
    static Evaluation evaluate(CustomerState state, long atMillis) {
        double usage30 = value(state, USAGE_30D, atMillis);
        double usage90 = value(state, USAGE_90D, atMillis);
        double tenure = atMillis - state.firstEventMillis;
        // The 7-day rate against the 90-day one, relative to a steady customer of the same tenure.
        Double trend = usage90 > 1e-6
                ? value(state, USAGE_7D, atMillis) / usage90 / steadyRatio(HALF_LIVES[USAGE_7D], HALF_LIVES[USAGE_90D], tenure)
                : null;
        double engagement = component(
                4 * saturating(usage30, 15)
                        + 3 * (trend == null ? 0.5 : linear(trend, 0.3, 1.0))
                        + saturating(value(state, SESSION_SECONDS_30D, atMillis), 7200),
                8);
        double paymentTrouble = value(state, PAYMENT_TROUBLE_30D, atMillis);
        double tickets = value(state, TICKETS_30D, atMillis);
        double financial = component(
                3 * saturating(value(state, INVOICES_PAID_90D, atMillis), 2)
                        - 4 * saturating(paymentTrouble, 1)
                        - saturating(tickets, 3),
                3);
        double score = (60 * engagement + 40 * financial) / 100;
        double noChurn = survival(0.5, trend == null ? 0 : linear(trend, 0.9, 0.1))
                * survival(0.2, state.lastUsageMillis == CustomerState.NEVER
                        ? 0
                        : linear(Math.max(0, (atMillis - state.lastUsageMillis) / DAY), 7, 90))
                * survival(0.6, linear(usage90, 10, 0))
                * survival(0.5, saturating(paymentTrouble, 0.5))
                * survival(0.3, saturating(tickets, 2));
        double risk = Math.min(1, Math.max(0, 1 - noChurn));
        return new Evaluation(atMillis, score, risk, level(GRADE_BOUNDS, score), level(HEALTH_BOUNDS, score),
                level(TIER_BOUNDS, score), level(RISK_BOUNDS, risk));
    }

    /** h_s (1 - 2^(-t/h_s)) / (h_l (1 - 2^(-t/h_l))): 1 for a new customer, h_s / h_l for an old one. */
    private static double steadyRatio(double shortHalfLife, double longHalfLife, double tenure) {
        if (tenure <= 0) {
            return 1;
        }
        return filled(shortHalfLife, tenure) / filled(longHalfLife, tenure);
    }

    private static double filled(double halfLife, double tenure) {
        return -halfLife * Math.expm1(-tenure / halfLife * Math.log(2));
    }

    private static double component(double net, double positiveWeight) {
        return 100 * Math.min(1, Math.max(0, net / positiveWeight));
    }

    private static double saturating(double value, double half) {
        double positive = Math.max(0, value);
        return positive / (positive + half);
    }

    private static double linear(double value, double low, double high) {
        return Math.min(1, Math.max(0, (value - low) / (high - low)));
    }

    private static double survival(double weight, double value) {
        return Math.max(1e-9, 1 - weight * value);
    }

    private static int level(double[] bounds, double value) {
        int level = 0;
        while (level < bounds.length && value >= bounds[level]) {
            level++;
        }
        return level;
    }

    /** Where the outputs an evaluation is worth go. */
    interface Outputs {
        void scoreChanged(Evaluation evaluation, float previousScore);

        void churnAlert(Evaluation evaluation, int previousLevel);
    }

    /**
     * Decides what the evaluation is worth and remembers it: a score_changed when the score moves
     * the minimum from the last one sent or its grade, health or tier changes; a churn alert when
     * the risk level rises to medium or above (or above the level last alerted), and when it falls
     * back below medium.
     */
    static void decide(CustomerState state, Evaluation evaluation, Outputs outputs) {
        boolean changed = Float.isNaN(state.sentScore)
                || Math.abs(evaluation.score() - state.sentScore) >= MIN_SCORE_CHANGE
                || evaluation.grade() != state.grade
                || evaluation.health() != state.health
                || evaluation.tier() != state.tier;
        if (changed) {
            outputs.scoreChanged(evaluation, state.sentScore);
            state.sentScore = (float) evaluation.score();
            state.grade = (byte) evaluation.grade();
            state.health = (byte) evaluation.health();
            state.tier = (byte) evaluation.tier();
        }
        long atSeconds = Math.floorDiv(evaluation.atMillis(), 1000L);
        boolean cooled = state.lastChurnAlertSeconds == CustomerState.NEVER
                || evaluation.atMillis() >= state.lastChurnAlertSeconds * 1000;
        int level = evaluation.riskLevel();
        if (level >= CHURN_ALERT_LEVEL) {
            if (level > state.alertedLevel || (!state.churnAlertActive && cooled)) {
                outputs.churnAlert(evaluation, state.riskLevel);
                state.churnAlertActive = true;
                state.alertedLevel = (byte) level;
                state.lastChurnAlertSeconds = atSeconds;
            }
        } else if (state.churnAlertActive) {
            outputs.churnAlert(evaluation, state.riskLevel);
            state.churnAlertActive = false;
            state.lastChurnAlertSeconds = atSeconds;
        } else if (cooled) {
            state.alertedLevel = 0;
        }
        state.riskLevel = (byte) level;
    }
}
