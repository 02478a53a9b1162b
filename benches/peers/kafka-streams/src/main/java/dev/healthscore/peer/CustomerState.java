package dev.healthscore.peer;

import java.nio.ByteBuffer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * One customer's state in the store: each decayed signal's value as of {@code referenceMillis}
 * (exact event-time decay: an older event is added at its decayed weight), the last usage time,
 * the customer's first and last event times, and what was last sent.
 */
final class CustomerState {
    /** Decayed signal values at {@code referenceMillis}, in {@link BenchModel#HALF_LIVES} order. */
    final double[] decayed = new double[BenchModel.HALF_LIVES.length];
    long referenceMillis;
    /** The latest usage event (login, session, feature_used, page_view), or NEVER. */
    long lastUsageMillis = NEVER;
    long firstEventMillis;
    long lastEventMillis;
    /** The score in the last score_changed, NaN before the first. */
    float sentScore = Float.NaN;
    byte grade;
    byte health;
    byte tier;
    byte riskLevel;
    byte alertedLevel;
    boolean churnAlertActive;
    /** When the last churn alert was sent, in whole seconds (NEVER: none). */
    long lastChurnAlertSeconds = NEVER;

    /** Marks a time that has not happened. */
    static final long NEVER = Long.MIN_VALUE;

    private static final int BYTES = BenchModel.HALF_LIVES.length * 8 + 5 * 8 + 4 + 6;

    /** A fixed binary layout, so the store keeps about 100 bytes per customer. */
    static Serde<CustomerState> serde() {
        Serializer<CustomerState> serializer = (topic, state) -> state == null ? null : state.toBytes();
        Deserializer<CustomerState> deserializer = (topic, bytes) -> bytes == null ? null : fromBytes(bytes);
        return Serdes.serdeFrom(serializer, deserializer);
    }

    byte[] toBytes() {
        ByteBuffer buffer = ByteBuffer.allocate(BYTES);
        for (double value : decayed) {
            buffer.putDouble(value);
        }
        buffer.putLong(referenceMillis).putLong(lastUsageMillis).putLong(firstEventMillis)
                .putLong(lastEventMillis).putLong(lastChurnAlertSeconds).putFloat(sentScore);
        buffer.put(grade).put(health).put(tier).put(riskLevel).put(alertedLevel)
                .put((byte) (churnAlertActive ? 1 : 0));
        return buffer.array();
    }

    static CustomerState fromBytes(byte[] bytes) {
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        CustomerState state = new CustomerState();
        for (int index = 0; index < state.decayed.length; index++) {
            state.decayed[index] = buffer.getDouble();
        }
        state.referenceMillis = buffer.getLong();
        state.lastUsageMillis = buffer.getLong();
        state.firstEventMillis = buffer.getLong();
        state.lastEventMillis = buffer.getLong();
        state.lastChurnAlertSeconds = buffer.getLong();
        state.sentScore = buffer.getFloat();
        state.grade = buffer.get();
        state.health = buffer.get();
        state.tier = buffer.get();
        state.riskLevel = buffer.get();
        state.alertedLevel = buffer.get();
        state.churnAlertActive = buffer.get() != 0;
        return state;
    }
}
