package dev.healthscore.peer;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The job, per input partition (one instance per stream task): decode each event, fold it into
 * its customer's state in the store, score the customer, and forward what the change is worth.
 * Customers are scored at the later of their latest event and the partition's latest event time,
 * as healthscore scores them.
 */
final class HealthProcessor implements Processor<String, byte[], String, byte[]> {
    private final EventParser parser = new EventParser();
    private ProcessorContext<String, byte[]> context;
    private KeyValueStore<String, CustomerState> store;
    /** The latest event time seen on this task's partition. */
    private long clockMillis = Long.MIN_VALUE;

    @Override
    public void init(ProcessorContext<String, byte[]> context) {
        this.context = context;
        this.store = context.getStateStore(HealthPeer.STORE);
    }

    @Override
    public void process(Record<String, byte[]> record) {
        Event event = record.value() == null ? null : parser.parse(record.value());
        HealthPeer.PROCESSED.increment();
        if (event == null) {
            HealthPeer.MALFORMED.increment();
            return;
        }
        clockMillis = Math.max(clockMillis, event.timeMillis);
        if (!BenchModel.applies(event.type)) {
            return;
        }
        CustomerState state = store.get(event.customerId);
        if (state == null) {
            state = BenchModel.newCustomer(event.timeMillis);
        }
        BenchModel.apply(state, event);
        long at = Math.max(clockMillis, state.lastEventMillis);
        BenchModel.Evaluation evaluation = BenchModel.evaluate(state, at);
        String customerId = event.customerId;
        BenchModel.decide(state, evaluation, new BenchModel.Outputs() {
            @Override
            public void scoreChanged(BenchModel.Evaluation evaluation, float previousScore) {
                forward(record, customerId, scoreChangedJson(customerId, evaluation, previousScore));
            }

            @Override
            public void churnAlert(BenchModel.Evaluation evaluation, int previousLevel) {
                forward(record, customerId, churnAlertJson(customerId, evaluation, previousLevel));
            }
        });
        store.put(customerId, state);
    }

    private void forward(Record<String, byte[]> cause, String customerId, String json) {
        context.forward(cause.withKey(customerId).withValue(json.getBytes(StandardCharsets.UTF_8)));
    }

    private static String scoreChangedJson(String customerId, BenchModel.Evaluation evaluation, float previous) {
        StringBuilder json = head("score_changed", customerId, evaluation);
        json.append(",\"score\":").append(round(evaluation.score(), 10));
        json.append(",\"previous_score\":").append(Float.isNaN(previous) ? "null" : String.valueOf(round(previous, 10)));
        json.append(",\"grade\":\"").append(BenchModel.GRADES[evaluation.grade()]);
        json.append("\",\"health\":\"").append(BenchModel.HEALTH[evaluation.health()]);
        json.append("\",\"churn_risk\":").append(round(evaluation.risk(), 100));
        json.append(",\"risk_level\":\"").append(BenchModel.RISK_LEVELS[evaluation.riskLevel()]).append("\"}");
        return json.toString();
    }

    private static String churnAlertJson(String customerId, BenchModel.Evaluation evaluation, int previousLevel) {
        StringBuilder json = head("churn_risk_alert", customerId, evaluation);
        json.append(",\"risk\":").append(round(evaluation.risk(), 100));
        json.append(",\"level\":\"").append(BenchModel.RISK_LEVELS[evaluation.riskLevel()]);
        json.append("\",\"previous_level\":\"").append(BenchModel.RISK_LEVELS[previousLevel]);
        json.append("\",\"score\":").append(round(evaluation.score(), 10)).append('}');
        return json.toString();
    }

    private static StringBuilder head(String type, String customerId, BenchModel.Evaluation evaluation) {
        StringBuilder json = new StringBuilder(256);
        json.append("{\"type\":\"").append(type).append("\",\"customer_id\":");
        quote(customerId, json);
        json.append(",\"at\":\"").append(Instant.ofEpochMilli(evaluation.atMillis()));
        json.append("\",\"model_version\":\"bench-1\",\"cause\":\"event\"");
        return json;
    }

    private static double round(double value, double scale) {
        return Math.round(value * scale) / scale;
    }

    private static void quote(String text, StringBuilder json) {
        json.append('"');
        for (int index = 0; index < text.length(); index++) {
            char c = text.charAt(index);
            switch (c) {
                case '"' -> json.append("\\\"");
                case '\\' -> json.append("\\\\");
                default -> {
                    if (c < 0x20) {
                        json.append(String.format("\\u%04x", (int) c));
                    } else {
                        json.append(c);
                    }
                }
            }
        }
        json.append('"');
    }
}
