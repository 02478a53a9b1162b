package dev.healthscore.peer;

import java.io.PrintStream;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueBytesStoreSupplier;
import org.apache.kafka.streams.state.Stores;

/**
 * The Kafka Streams peer of healthscore's benchmark: reads JSON events from one topic, keeps each
 * customer's state in a key-value store (RocksDB, Kafka Streams' default persistent store, or the
 * in-memory store), scores with the benchmark model and writes the changes to an output topic.
 *
 * <p>Arguments: {@code --bootstrap HOST:PORT --input TOPIC --output TOPIC --application-id ID
 * --state-dir DIR [--store rocksdb|memory] [--threads N] [--linger-ms MS]}. Every 50 ms it prints
 * {@code processed N} to standard output when the count of input records processed has moved, so
 * the bench can time it from outside.
 */
public final class HealthPeer {
    /** The name of the per-customer store. */
    static final String STORE = "customers";
    /** Input records processed, malformed ones included. */
    static final LongAdder PROCESSED = new LongAdder();
    /** Input records that were not a well-formed event. */
    static final LongAdder MALFORMED = new LongAdder();

    private HealthPeer() {}

    public static void main(String[] args) throws InterruptedException {
        Map<String, String> options = options(args);
        String input = required(options, "input");
        String output = required(options, "output");
        KeyValueBytesStoreSupplier supplier = switch (options.getOrDefault("store", "rocksdb")) {
            case "rocksdb" -> Stores.persistentKeyValueStore(STORE);
            case "memory" -> Stores.inMemoryKeyValueStore(STORE);
            default -> throw new IllegalArgumentException("--store must be rocksdb or memory");
        };
        StreamsBuilder builder = new StreamsBuilder();
        builder.addStateStore(Stores.keyValueStoreBuilder(supplier, Serdes.String(), CustomerState.serde()));
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()))
                .process(HealthProcessor::new, STORE)
                .to(output, Produced.with(Serdes.String(), Serdes.ByteArray()));

        Properties properties = new Properties();
        properties.put(StreamsConfig.APPLICATION_ID_CONFIG, required(options, "application-id"));
        properties.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, required(options, "bootstrap"));
        properties.put(StreamsConfig.STATE_DIR_CONFIG, required(options, "state-dir"));
        properties.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        properties.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, options.getOrDefault("threads", "2"));
        properties.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // healthscore's producer (librdkafka) lingers 5 ms by default; Kafka Streams sets 100 ms.
        properties.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), options.getOrDefault("linger-ms", "5"));

        KafkaStreams streams = new KafkaStreams(builder.build(), properties);
        CountDownLatch stopped = new CountDownLatch(1);
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
                stopped.countDown();
            }
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close();
            stopped.countDown();
        }));
        streams.start();
        PrintStream out = System.out;
        long reported = -1;
        while (!stopped.await(50, java.util.concurrent.TimeUnit.MILLISECONDS)) {
            long processed = PROCESSED.sum();
            if (processed != reported) {
                out.println("processed " + processed + " malformed " + MALFORMED.sum());
                out.flush();
                reported = processed;
            }
        }
        out.println("stopped " + streams.state());
    }

    private static Map<String, String> options(String[] args) {
        Map<String, String> options = new HashMap<>();
        for (int index = 0; index + 1 < args.length; index += 2) {
            if (!args[index].startsWith("--")) {
                throw new IllegalArgumentException("expected --name value, got " + args[index]);
            }
            options.put(args[index].substring(2), args[index + 1]);
        }
        return options;
    }

    private static String required(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null) {
            throw new IllegalArgumentException("--" + name + " is required");
        }
        return value;
    }
}
