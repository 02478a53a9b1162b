package dev.healthscore.peer;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.time.Instant;
import java.time.format.DateTimeParseException;

/** Reads an event from JSON with Jackson's streaming parser, skipping the fields it does not need. */
final class EventParser {
    private final JsonFactory factory = new JsonFactory();

    /** The event in {@code json}, or null when it is malformed or lacks a required field. */
    Event parse(byte[] json) {
        Event event = new Event();
        String timestamp = null;
        try (JsonParser parser = factory.createParser(json)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String name = parser.currentName();
                JsonToken value = parser.nextToken();
                switch (name) {
                    case "customer_id" -> event.customerId = value == JsonToken.VALUE_STRING ? parser.getText() : null;
                    case "type" -> event.type = value == JsonToken.VALUE_STRING ? parser.getText() : null;
                    case "timestamp" -> timestamp = value == JsonToken.VALUE_STRING ? parser.getText() : null;
                    case "duration_s" -> {
                        if (value.isNumeric()) {
                            event.durationSeconds = parser.getDoubleValue();
                        }
                    }
                    default -> parser.skipChildren();
                }
            }
        } catch (IOException malformed) {
            return null;
        }
        if (event.customerId == null || event.customerId.isEmpty() || event.type == null || timestamp == null) {
            return null;
        }
        try {
            event.timeMillis = Instant.parse(timestamp).toEpochMilli();
        } catch (DateTimeParseException malformed) {
            return null;
        }
        return event;
    }
}
