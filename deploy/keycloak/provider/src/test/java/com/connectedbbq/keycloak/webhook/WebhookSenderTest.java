package com.connectedbbq.keycloak.webhook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Against a real HTTP server on loopback. */
class WebhookSenderTest {
    private static final String SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    private static final String TRACEPARENT = Traces.generate();

    record Received(String path, String id, String ts, String signature, String body, String traceparent) {
    }

    private HttpServer server;
    private final List<Received> received = new CopyOnWriteArrayList<>();

    private String serve(IntSupplier status) throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", ex -> {
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            var h = ex.getRequestHeaders();
            received.add(new Received(ex.getRequestURI().getPath(), h.getFirst("webhook-id"),
                    h.getFirst("webhook-timestamp"), h.getFirst("webhook-signature"), body, h.getFirst("traceparent")));
            int s = status.getAsInt();
            if (s == 503) {
                ex.getResponseHeaders().add("Retry-After", "0");
            }
            ex.sendResponseHeaders(s, -1);
            ex.close();
        });
        server.start();
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.stop(0);
        }
    }

    private static WebhookSender sender(int queue, int attempts) {
        Map<String, String> o = Map.of("queue-size", String.valueOf(queue), "max-attempts", String.valueOf(attempts),
                "base-delay-ms", "10", "max-delay-ms", "50", "timeout-ms", "2000");
        return new WebhookSender(WebhookConfig.load(o::get, k -> null), Clock.systemUTC());
    }

    private static void await(IntSupplier n, int want) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (n.getAsInt() < want && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
    }

    @Test
    void retries503ThenDeliversSignedWithAStableId() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        String url = serve(() -> calls.incrementAndGet() <= 2 ? 503 : 202);
        try (WebhookSender s = sender(10, 5)) {
            s.submit(new Delivery("ev-1", Delivery.EVENTS_PATH, "REGISTER", "r", "{\"a\":1}",
                    new WebhookConfig.Target(url, List.of(SECRET)), TRACEPARENT));
            await(() -> (int) s.delivered(), 1);
            assertEquals(1, s.delivered());
            assertEquals(0, s.pending());
        }
        assertEquals(3, received.size());
        WebhookSigner signer = new WebhookSigner(List.of(SECRET));
        for (Received r : received) {
            assertEquals("/webhooks/keycloak/events", r.path());
            assertEquals("ev-1", r.id());
            assertEquals(TRACEPARENT, r.traceparent(), "the same trace context on every attempt");
            assertEquals(signer.sign(r.id(), Long.parseLong(r.ts()), r.body()), r.signature());
        }
    }

    @Test
    void givesUpOnClientErrorsAndAfterMaxAttempts() throws Exception {
        String url = serve(() -> 400);
        try (WebhookSender s = sender(10, 5)) {
            s.submit(new Delivery("ev-2", Delivery.ADMIN_EVENTS_PATH, "USER/CREATE", "r", "{}",
                    new WebhookConfig.Target(url, List.of(SECRET))));
            await(() -> (int) s.dropped(), 1);
            assertEquals(1, received.size());
        }
    }

    @Test
    void dropsWhenTheQueueIsFullOrTheTargetUnusable() throws Exception {
        String url = serve(() -> 503);
        try (WebhookSender s = sender(1, 100)) {
            WebhookConfig.Target t = new WebhookConfig.Target(url, List.of(SECRET));
            s.submit(new Delivery("a", Delivery.EVENTS_PATH, "REGISTER", "r", "{}", t));
            s.submit(new Delivery("b", Delivery.EVENTS_PATH, "REGISTER", "r", "{}", t));
            s.submit(new Delivery("c", Delivery.EVENTS_PATH, "REGISTER", "r", "{}",
                    new WebhookConfig.Target(null, List.of())));
            assertEquals(2, s.dropped());
            assertTrue(s.pending() <= 1);
        }
    }
}
