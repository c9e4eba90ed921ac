package com.connectedbbq.keycloak.webhook;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.keycloak.events.Event;
import org.keycloak.events.EventType;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakTransaction;
import org.keycloak.models.RealmProvider;

/**
 * Events reach the webhook only if Keycloak's transaction commits. Keycloak's session and transaction manager
 * are stand-ins here (a Java proxy that records the after-completion transaction the listener enlists and
 * answers "no such realm"); the sender and the HTTP server it posts to are real.
 */
class AfterCommitTest {
    private static final String SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    private HttpServer server;
    private final List<String> received = new CopyOnWriteArrayList<>();
    private final List<KeycloakTransaction> afterCompletion = new CopyOnWriteArrayList<>();
    private WebhookSender sender;
    private BbqWebhookEventListenerProvider listener;

    @BeforeEach
    void start() throws Exception {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", ex -> {
            received.add(ex.getRequestHeaders().getFirst("webhook-id"));
            ex.sendResponseHeaders(202, -1);
            ex.close();
        });
        server.start();
        Map<String, String> o = Map.of("url", "http://127.0.0.1:" + server.getAddress().getPort(), "secrets", SECRET,
                "base-delay-ms", "10", "max-delay-ms", "50");
        WebhookConfig config = WebhookConfig.load(o::get, k -> null);
        sender = new WebhookSender(config, Clock.systemUTC());
        listener = new BbqWebhookEventListenerProvider(standInSession(), config, sender);
    }

    @AfterEach
    void stop() {
        sender.close();
        server.stop(0);
    }

    /** A KeycloakSession whose transaction manager records after-completion transactions; no realms. */
    private KeycloakSession standInSession() {
        RealmProvider realms = StandIns.proxy(RealmProvider.class, Map.of());
        return StandIns.session(afterCompletion, Map.of("realms", realms));
    }

    private static Event register(String id) {
        Event e = new Event();
        e.setId(id);
        e.setTime(System.currentTimeMillis());
        e.setType(EventType.REGISTER);
        e.setRealmId("bbq");
        e.setUserId("u-" + id);
        e.setDetails(Map.of("email", "ada@example.com", "username", "ada@example.com"));
        return e;
    }

    @Test
    void sendsOnlyAfterCommit() throws Exception {
        listener.onEvent(register("ev-commit"));
        Thread.sleep(300);
        assertEquals(List.of(), received, "nothing may be sent while Keycloak's transaction is open");
        StandIns.complete(afterCompletion, true);
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (received.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(List.of("ev-commit"), received);
    }

    @Test
    void sendsNothingWhenTheTransactionRollsBack() throws Exception {
        listener.onEvent(register("ev-rollback"));
        StandIns.complete(afterCompletion, false);
        Thread.sleep(500);
        assertEquals(List.of(), received, "a rolled-back registration must not be reported");
        assertEquals(0, sender.pending());
        assertEquals(0, sender.delivered());
    }
}
