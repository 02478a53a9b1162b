package dev.healthscore.peer;

/** One input event: the fields the benchmark model reads. */
final class Event {
    /** The customer the event belongs to. */
    String customerId;
    /** The event type, such as "login" or "invoice_paid". */
    String type;
    /** Event time, epoch milliseconds. */
    long timeMillis;
    /** The session length in seconds ("duration_s"), NaN when absent. */
    double durationSeconds = Double.NaN;
}
